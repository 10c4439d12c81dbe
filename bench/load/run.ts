// `npm run bench:load`: N concurrent streaming clients against `qwen3-vl serve` on loopback (tiny checkpoint by
// default), some hanging up mid-stream, in several rounds. Reports throughput, p50/p99 latency, errors, 429s,
// /health latency throughout, and server memory after each round (a leak grows round over round). Exit 1 on failure.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { healthProber, percentile, streamOnce, type RequestResult } from './client.js';
import { vendoredFixtures } from '../../test/fixtures/store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Args {
  clients: number;
  requests: number;
  rounds: number;
  maxTokens: number;
  disconnect: number;
  model: string;
  maxConcurrent: number;
  maxQueue: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { clients: 8, requests: 3, rounds: 3, maxTokens: 16, disconnect: 0.25, model: path.join(process.env.QWEN3VL_FIXTURES ?? path.join(vendoredFixtures(), 'qwen3-vl'), 'tiny-dense'), maxConcurrent: 16, maxQueue: 8, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Args;
    if (k === 'json') a.json = true;
    else if (k === 'model') a.model = path.resolve(argv[++i]);
    else if (k in a) (a as unknown as Record<string, number>)[k] = Number(argv[++i]);
    else if (argv[i] !== '--') throw new Error(`unknown option ${argv[i]} (--clients --requests --rounds --max-tokens --disconnect --model --max-concurrent --max-queue --json)`);
  }
  return a;
}

interface Server {
  readonly child: ChildProcess;
  readonly base: string;
}

function startServer(a: Args): Promise<Server> {
  const cli = path.join(root, 'dist/cli/main.js');
  if (!existsSync(cli)) throw new Error('dist/ is missing: run npm run build (npm run bench:load does)');
  const args = ['--expose-gc', cli, 'serve', '-m', a.model, '--port', '0', '-q', '--max-concurrent', String(a.maxConcurrent), '--max-queue', String(a.maxQueue), '--max-tokens', String(Math.max(a.maxTokens, 16))];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/\S+)\/v1/.exec(out);
      if (m) resolve({ child, base: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening`)));
  });
}

interface MemorySample {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly arrayBuffersMb: number;
}

/** Server memory after a full GC (main thread and worker) and a moment idle: VmRSS from /proc (the whole process) and /metrics. */
async function memory(s: Server): Promise<MemorySample> {
  await (await fetch(`${s.base}/metrics?gc=1&format=json`)).text();
  await new Promise((r) => setTimeout(r, 1500));
  const m = (await (await fetch(`${s.base}/metrics?format=json`)).json()) as { memoryMb: { rss: number; heapUsed: number; arrayBuffers: number } };
  let rss = m.memoryMb.rss;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.child.pid}/status`, 'utf8'));
    if (kb) rss = Number(kb[1]) / 1024;
  } catch {
    // not Linux: the server's own figure
  }
  return { rssMb: Math.round(rss * 10) / 10, heapUsedMb: m.memoryMb.heapUsed, arrayBuffersMb: m.memoryMb.arrayBuffers };
}

async function client(s: Server, a: Args, c: number, image: string): Promise<RequestResult[]> {
  const out: RequestResult[] = [];
  const every = a.disconnect > 0 ? Math.max(1, Math.round(1 / a.disconnect)) : 0;
  for (let j = 0; j < a.requests; j++) {
    const n = c * a.requests + j;
    const plan = { base: s.base, maxTokens: a.maxTokens, disconnectAfter: every && n % every === 0 ? 2 : null, prompt: `Describe this, client ${c} request ${j}.`, image: n % 2 ? image : undefined };
    for (let attempt = 0; ; attempt++) {
      const r = await streamOnce(plan);
      out.push(r);
      if (r.kind !== 'throttled' || attempt >= 50) break;
      // Honour Retry-After, capped so the bench keeps moving.
      await new Promise((res) => setTimeout(res, Math.min(2000, 1000 * Number(r.detail || 1))));
    }
  }
  return out;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const image = `data:image/png;base64,${readFileSync(path.resolve(a.model, '../processor/tiny.png')).toString('base64')}`;
  const s = await startServer(a);
  const health = healthProber(s.base);
  try {
    // Warm-up (code paths compiled, pools allocated) before the baseline.
    for (const d of [null, 1]) await streamOnce({ base: s.base, maxTokens: 4, disconnectAfter: d, prompt: 'warm up', image });
    const baseline = await memory(s);
    const rounds: { results: RequestResult[]; seconds: number; memory: MemorySample }[] = [];
    for (let k = 0; k < a.rounds; k++) {
      const t0 = performance.now();
      const results = (await Promise.all(Array.from({ length: a.clients }, (_, c) => client(s, a, c, image)))).flat();
      rounds.push({ results, seconds: (performance.now() - t0) / 1000, memory: await memory(s) });
    }
    await health.stop();
    const metrics = (await (await fetch(`${s.base}/metrics?format=json`)).json()) as { generations: Record<string, number>; queue: { running: number; waiting: number; inFlight: number } };
    report(a, baseline, rounds, health, metrics);
  } finally {
    await health.stop();
    s.child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => s.child.once('exit', r));
    if (code !== 0) {
      console.error(`server exit code after SIGTERM: ${code}`);
      process.exitCode = 1;
    }
  }
}

function report(
  a: Args,
  baseline: MemorySample,
  rounds: { results: RequestResult[]; seconds: number; memory: MemorySample }[],
  health: ReturnType<typeof healthProber>,
  metrics: { generations: Record<string, number>; queue: { running: number; waiting: number; inFlight: number } },
): void {
  const all = rounds.flatMap((r) => r.results);
  const ok = all.filter((r) => r.kind === 'ok');
  const count = (k: RequestResult['kind']) => all.filter((r) => r.kind === k).length;
  const seconds = rounds.reduce((n, r) => n + r.seconds, 0);
  const tokens = all.reduce((n, r) => n + r.completionTokens, 0);
  const g = metrics.generations;
  const last = rounds[rounds.length - 1].memory;
  const first = rounds[0].memory;
  // Steady state after round 1: later rounds may not add memory beyond allocator noise.
  const growth = last.rssMb - first.rssMb;
  const leakFree = growth <= Math.max(16, 0.1 * first.rssMb);
  const settled = !metrics.queue.running && metrics.queue.waiting === 0 && metrics.queue.inFlight === 0 && g.started === g.completed + g.cancelled + g.failed;
  const summary = {
    config: a,
    requests: { total: all.length, ok: ok.length, disconnected: count('disconnected'), throttled429: count('throttled'), errors: count('error') },
    errorSamples: all.filter((r) => r.kind === 'error').slice(0, 5).map((r) => r.detail),
    throughput: { requestsPerSec: +(ok.length / seconds).toFixed(2), completionTokensPerSec: +(tokens / seconds).toFixed(1) },
    latencyMs: { p50: +percentile(ok.map((r) => r.ms), 50).toFixed(0), p99: +percentile(ok.map((r) => r.ms), 99).toFixed(0) },
    firstTokenMs: { p50: +percentile(ok.map((r) => r.firstTokenMs ?? NaN), 50).toFixed(0), p99: +percentile(ok.map((r) => r.firstTokenMs ?? NaN), 99).toFixed(0) },
    health: { probes: health.samples.length, failures: health.failures.length, p50Ms: +percentile(health.samples, 50).toFixed(1), maxMs: +Math.max(...health.samples).toFixed(1) },
    memoryMb: { baseline, afterEachRound: rounds.map((r) => r.memory), growthAfterRound1: +growth.toFixed(1) },
    server: { generations: g, queue: metrics.queue },
    verdict: { noErrors: count('error') === 0, healthAlwaysOk: health.failures.length === 0, noMemoryGrowth: leakFree, queueSettled: settled },
  };
  if (a.json) console.log(JSON.stringify(summary, null, 2));
  else {
    const s = summary;
    console.log(`load: ${a.clients} clients × ${a.requests} requests × ${a.rounds} rounds, max_tokens ${a.maxTokens}, ${Math.round(a.disconnect * 100)}% hang up mid-stream, half with an image`);
    console.log(`requests   ${s.requests.total}: ${s.requests.ok} ok, ${s.requests.disconnected} disconnected on purpose, ${s.requests.throttled429} × 429 (retried), ${s.requests.errors} errors`);
    console.log(`throughput ${s.throughput.requestsPerSec} req/s, ${s.throughput.completionTokensPerSec} completion tok/s over ${seconds.toFixed(1)} s`);
    console.log(`latency    p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms (first token p50 ${s.firstTokenMs.p50} ms, p99 ${s.firstTokenMs.p99} ms)`);
    console.log(`/health    ${s.health.probes} probes, ${s.health.failures} failures, p50 ${s.health.p50Ms} ms, max ${s.health.maxMs} ms`);
    console.log(`memory     RSS baseline ${baseline.rssMb} MB; after rounds ${rounds.map((r) => r.memory.rssMb).join(' / ')} MB; heap ${rounds.map((r) => r.memory.heapUsedMb).join(' / ')} MB`);
    console.log(`server     generations ${JSON.stringify(g)}, queue ${JSON.stringify(metrics.queue)}`);
    console.log(`verdict    ${Object.entries(s.verdict).map(([k, v]) => `${k}: ${v ? 'yes' : 'NO'}`).join(', ')}`);
    if (s.errorSamples.length) console.log(`errors     ${s.errorSamples.join(' | ')}`);
  }
  if (!Object.values(summary.verdict).every(Boolean)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`bench:load: ${(e as Error).message}`);
  process.exitCode = 1;
});

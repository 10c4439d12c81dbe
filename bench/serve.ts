// The serving benchmark: `npm run bench:serve [-- --dtype q4_0,q8_0 --clients 1,4,8,16 --layers N --json]`. N
// concurrent streaming clients, each 128 tokens (greedy) after a 256-token prompt, through our scheduler (paged f16 KV,
// continuous batching) and through llama.cpp (node-llama-cpp, one context with `sequences: N`) on the same random
// weights of the 2B shape. Reports aggregate decode tok/s (all N decoding), TTFT and inter-token latency p50/p95, peak
// RSS. One child process per (engine, dtype), so peak RSS is that engine's. Also one client with the f32 KV cache.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/index.js';
import type { KvDType } from '../src/backend/backend.js';
import { loadModel } from '../src/generate/engine.js';
import { genCheckpoint, SHAPES, VOCAB, type ShapeName } from '../src/tools/genCheckpoint.js';
import { promptIds } from '../src/tools/speed.js';
import { ensureGguf, type WeightType } from './gguf.js';
import { benchArgs } from './common.js';

interface Row {
  engine: 'ours' | 'llama.cpp';
  dtype: string;
  kv: string;
  clients: number;
  decodeTokS: number;
  ttftP50: number;
  ttftP95: number;
  itlP50: number;
  itlP95: number;
  peakRssGiB: number;
}

const { opt, num, nums, list, choice, flag } = benchArgs('npm run bench:serve -- [options]: N streaming clients through our scheduler and through llama.cpp', {
  shape: { value: 'SHAPE', default: '2B', help: `model shape: ${Object.keys(SHAPES).join(', ')}` },
  layers: { value: 'N', help: "decoder layers (default: the shape's)" },
  prompt: { value: 'N', default: '256', help: 'prompt tokens per client' },
  gen: { value: 'N', default: '128', help: 'tokens generated per client' },
  clients: { value: 'LIST', default: '1,4,8,16', help: 'concurrent clients per row' },
  dtype: { value: 'LIST', default: 'q4_0,q8_0', help: 'weight formats (q4_0, q8_0, bf16)' },
  threads: { value: 'N', default: '0', help: 'CPU threads (0: all)' },
  cache: { value: 'DIR', default: '.cache/bench', help: 'where the random-weight checkpoints are kept' },
  json: { help: 'print the rows as JSON' },
  'no-llama': { help: 'leave out llama.cpp' },
  child: { internal: true, help: 'one engine and format, in a child process' },
  engine: { internal: true, value: 'ENGINE', default: 'ours', help: 'ours or llama.cpp' },
  kv: { internal: true, value: 'DTYPE', default: 'f16', help: 'our KV cache format' },
});
const SHAPE = choice('shape', Object.keys(SHAPES) as ShapeName[]);
const LAYERS = num('layers', SHAPES[SHAPE].layers);
const PROMPT = num('prompt');
const GEN = num('gen');
const CLIENTS = nums('clients');
const DTYPES = list('dtype', ['q4_0', 'q8_0', 'bf16']);
const THREADS = num('threads') || os.availableParallelism();
const CACHE = path.resolve(opt('cache')!);

/** Per-client token timestamps (ms) and the submit time. */
interface Trace {
  t0: number;
  times: number[];
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Aggregate decode tok/s while every client decodes (from the last first token to the first finish), TTFT and ITL. */
function summarise(traces: Trace[]): Omit<Row, 'engine' | 'dtype' | 'kv' | 'clients' | 'peakRssGiB'> {
  const from = Math.max(...traces.map((t) => t.times[0]));
  const to = Math.min(...traces.map((t) => t.times[t.times.length - 1]));
  let n = 0;
  for (const t of traces) n += t.times.filter((x) => x > from && x <= to).length;
  const itl = traces.flatMap((t) => t.times.slice(1).map((x, i) => x - t.times[i]));
  const ttft = traces.map((t) => t.times[0] - t.t0);
  // A single client (or clients finishing together): the decode window is its whole decode.
  const decodeTokS = to > from ? (n / (to - from)) * 1000 : (traces.length * (GEN - 1) * 1000) / (Math.max(...traces.map((t) => t.times.at(-1)!)) - from);
  return { decodeTokS, ttftP50: pct(ttft, 50), ttftP95: pct(ttft, 95), itlP50: pct(itl, 50), itlP95: pct(itl, 95) };
}

/** Distinct prompts per client (a shared prompt would be a prefix-cache benchmark). */
const promptOf = (c: number) => promptIds(PROMPT + c, VOCAB).slice(c);

async function ours(dir: string, dtype: string, kv: KvDType): Promise<Row[]> {
  const most = Math.max(...CLIENTS);
  const model = await loadModel(dir, {
    backend: new CpuBackend({ threads: THREADS }),
    dtype: dtype as 'q8_0',
    kvCache: { tokens: most * (PROMPT + GEN + 32), dtype: kv },
    maxConcurrent: most,
  });
  const rows: Row[] = [];
  for (const n of kv === 'f32' ? [1] : CLIENTS) {
    const traces: Trace[] = [];
    for (let c = 0; c < n; c++) {
      const ids = Int32Array.from(promptOf(c));
      const p = Int32Array.from(ids, (_, i) => i);
      const tr: Trace = { t0: performance.now(), times: [] };
      traces.push(tr);
      model.scheduler.submit({
        ids,
        positions: [p, p, p],
        ropeDelta: 0,
        maxTokens: GEN,
        next: (l) => {
          tr.times.push(performance.now());
          let best = 0;
          for (let i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
          return best;
        },
        // Greedy as a chat client at temperature 0 without logprobs: argmax on the backend, ids read back.
        nextArgmax: (id) => {
          tr.times.push(performance.now());
          return id;
        },
      });
    }
    await model.scheduler.idle();
    rows.push({ engine: 'ours', dtype, kv, clients: n, ...summarise(traces), peakRssGiB: process.resourceUsage().maxRSS / 2 ** 20 });
  }
  model.dispose();
  return rows;
}

async function llama(dir: string, dtype: string): Promise<Row[]> {
  const gguf = await ensureGguf(dir, path.join(CACHE, `${SHAPE}-L${LAYERS}-${dtype}.gguf`), dtype as WeightType, THREADS);
  const mod = await import('node-llama-cpp');
  const llamaRt = await mod.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, progressLogs: false, logLevel: mod.LlamaLogLevel.error, maxThreads: THREADS });
  const model = await llamaRt.loadModel({ modelPath: gguf, gpuLayers: 0, useMmap: true });
  const rows: Row[] = [];
  for (const n of CLIENTS) {
    const ctx = await model.createContext({ contextSize: n * (PROMPT + GEN + 32), batchSize: 512, threads: THREADS, sequences: n, flashAttention: false });
    const traces = await Promise.all(
      Array.from({ length: n }, async (_, c) => {
        const seq = ctx.getSequence();
        const tr: Trace = { t0: performance.now(), times: [] };
        for await (const _t of seq.evaluate(promptOf(c) as unknown as import('node-llama-cpp').Token[], { temperature: 0 })) {
          tr.times.push(performance.now());
          if (tr.times.length >= GEN) break;
        }
        seq.dispose();
        return tr;
      }),
    );
    await ctx.dispose();
    rows.push({ engine: 'llama.cpp', dtype, kv: 'f16', clients: n, ...summarise(traces), peakRssGiB: process.resourceUsage().maxRSS / 2 ** 20 });
  }
  await model.dispose();
  await llamaRt.dispose();
  return rows;
}

async function checkpoint(): Promise<string> {
  const d = path.join(CACHE, `${SHAPE}-L${LAYERS}`);
  if (!existsSync(path.join(d, 'config.json'))) {
    mkdirSync(d, { recursive: true });
    console.error(`generating ${SHAPE} (${LAYERS} layers) in ${d} …`);
    await genCheckpoint({ out: d, shape: SHAPE, layers: LAYERS });
  }
  return d;
}

if (flag('child')) {
  const [engine, kv] = [choice('engine', ['ours', 'llama.cpp']), choice<KvDType>('kv', ['f32', 'f16', 'q8_0'])];
  const dir = await checkpoint();
  const rows = engine === 'llama.cpp' ? await llama(dir, DTYPES[0]) : await ours(dir, DTYPES[0], kv);
  for (const r of rows) console.log(JSON.stringify(r));
  process.exit(0);
}

await checkpoint();
const base = ['--child', '--shape', SHAPE, '--layers', String(LAYERS), '--prompt', String(PROMPT), '--gen', String(GEN), '--clients', CLIENTS.join(','), '--threads', String(THREADS), '--cache', CACHE];
const rows: Row[] = [];
const child = (args: string[]) => {
  const r = spawnSync(process.execPath, [process.argv[1], 'bench/serve.ts', '--', ...base, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const got = r.stdout.split('\n').filter((l) => l.startsWith('{"engine"')).map((l) => JSON.parse(l) as Row);
  if (r.status !== 0 || !got.length) throw new Error(`bench:serve child ${args.join(' ')} failed (${r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}): ${r.stdout.slice(-2000)}`);
  for (const g of got) if (flag('json')) console.log(JSON.stringify(g));
  rows.push(...got);
};
for (const dtype of DTYPES) {
  child(['--engine', 'ours', '--dtype', dtype, '--kv', 'f16']);
  child(['--engine', 'ours', '--dtype', dtype, '--kv', 'f32']);
  if (!flag('no-llama')) child(['--engine', 'llama.cpp', '--dtype', dtype]);
}

const bw = new CpuBackend({ threads: THREADS });
const info = bw.capabilities().info;
const readBw = bw.measureReadBandwidth(1 << 30, 3);
bw.destroy();
console.log(`\n${SHAPE} shape${LAYERS !== SHAPES[SHAPE].layers ? ` (${LAYERS} layers)` : ''}, random weights; prompt ${PROMPT}, ${GEN} tokens per client (greedy); cpu ${info.isa}, ${THREADS} threads, read bandwidth ${readBw.toFixed(1)} GB/s`);
console.log('| dtype | engine | KV | clients | aggregate decode tok/s | vs 1 client | vs llama.cpp | TTFT p50 / p95 ms | inter-token p50 / p95 ms | peak RSS GiB |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
for (const r of rows) {
  const one = rows.find((x) => x.engine === r.engine && x.dtype === r.dtype && x.kv === r.kv && x.clients === 1);
  const l = rows.find((x) => x.engine === 'llama.cpp' && x.dtype === r.dtype && x.clients === r.clients);
  const vsL = r.engine === 'ours' && l ? `${(r.decodeTokS / l.decodeTokS).toFixed(2)}×` : '';
  console.log(`| ${r.dtype} | ${r.engine} | ${r.kv} | ${r.clients} | ${f(r.decodeTokS)} | ${one ? (r.decodeTokS / one.decodeTokS).toFixed(2) + '×' : ''} | ${vsL} | ${f(r.ttftP50, 0)} / ${f(r.ttftP95, 0)} | ${f(r.itlP50)} / ${f(r.itlP95)} | ${f(r.peakRssGiB, 2)} |`);
}
// Issue 14's goals, per dtype, from the rows above (only those the run measured).
for (const dtype of new Set(rows.map((r) => r.dtype))) {
  const ours = (kv: string, n: number) => rows.find((r) => r.engine === 'ours' && r.dtype === dtype && r.kv === kv && r.clients === n);
  const one = ours('f16', 1);
  const most = Math.max(...rows.filter((r) => r.engine === 'ours' && r.dtype === dtype && r.kv === 'f16').map((r) => r.clients));
  const many = ours('f16', most);
  const peer = rows.find((r) => r.engine === 'llama.cpp' && r.dtype === dtype && r.clients === most);
  const f32 = ours('f32', 1);
  const goals: string[] = [];
  if (one && many && most > 1) {
    goals.push(`${most} clients ${(many.decodeTokS / one.decodeTokS).toFixed(2)}× one client (goal ≥ 3× at 8)`);
    goals.push(`p95 inter-token ${(many.itlP95 / one.itlP95).toFixed(2)}× one client's (goal ≤ 3× at 8)`);
  }
  if (many && peer) goals.push(`${(many.decodeTokS / peer.decodeTokS).toFixed(2)}× llama.cpp at ${most} (goal ≥ 1.2× at 8)`);
  if (one && f32) goals.push(`one stream f16 KV ${f(one.decodeTokS)} vs f32 ${f(f32.decodeTokS)} tok/s (goal: f16 faster)`);
  if (goals.length) console.log(`\n${dtype}: ${goals.join('; ')}`);
}

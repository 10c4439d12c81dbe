// The long-context benchmark: `npm run bench:long [-- --depths 32768,131072 --mode synthetic|real --chunk 512 --gen 32
// --kv q8_0 --layers N --json]`. The 2B shape (random weights, q4_0 weights, q8_0 KV, cpu) at a prompt depth: prefill
// tok/s, decode tok/s at that depth (32 greedy tokens) and peak RSS, one child process per depth (so RSS is its own).
// `synthetic` (default) writes random keys/values for the first `depth` tokens straight into the paged pool (no
// prefill compute: a real 128K prefill takes hours on 2 cores, attention being quadratic), then measures one real
// prefill chunk of `--chunk` tokens on top and the decode: the cost of the next chunk and of decoding at that depth.
// `real` prefills the whole prompt through the scheduler (chunked, as served). It ends by showing the refusals: a
// 262,144-token request on a 4 GiB KV cache, and a KV cache larger than this machine's memory.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KvDType } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { kvWrite } from '../src/backend/paged.js';
import { loadModel } from '../src/generate/engine.js';
import { forwardPaged } from '../src/models/qwen3vl/batch.js';
import { KV_BLOCK } from '../src/nn/kvPool.js';
import { tidy } from '../src/tensor/tensor.js';
import { genCheckpoint, SHAPES } from '../src/tools/genCheckpoint.js';
import { promptIds } from '../src/tools/speed.js';
import { benchArgs } from './common.js';

const { opt, num, nums, choice, flag } = benchArgs('npm run bench:long -- [options]: prefill and decode at long prompt depths (2B shape, q4_0 weights)', {
  depths: { value: 'LIST', default: '32768,131072', help: 'prompt depths in tokens' },
  mode: { value: 'MODE', default: 'synthetic', help: 'synthetic (random K/V written to the pool, one real chunk on top) or real (the whole prefill)' },
  chunk: { value: 'N', default: '512', help: 'prefill chunk in tokens' },
  gen: { value: 'N', default: '32', help: 'greedy tokens decoded at the depth' },
  kv: { value: 'DTYPE', default: 'q8_0', help: 'KV cache format: f32, f16 or q8_0' },
  layers: { value: 'N', default: String(SHAPES['2B'].layers), help: 'decoder layers' },
  threads: { value: 'N', default: '0', help: 'CPU threads (0: all)' },
  ckpt: { value: 'DIR', help: 'the checkpoint (default .cache/bench/2B-L<layers>-q4_0, made if missing)' },
  json: { help: 'print the rows as JSON' },
  child: { internal: true, help: 'one depth, in a child process' },
});
const DEPTHS = nums('depths');
const MODE = choice('mode', ['synthetic', 'real']);
const CHUNK = num('chunk');
const GEN = num('gen');
const KV = choice<KvDType>('kv', ['f32', 'f16', 'q8_0']);
const LAYERS = num('layers');
const THREADS = num('threads') || os.availableParallelism();
const CKPT = path.resolve(opt('ckpt') ?? `.cache/bench/2B-L${LAYERS}-q4_0`);
const CHILD = flag('child');

interface Row {
  depth: number;
  mode: string;
  layers: number;
  kv: string;
  /** Tokens prefilled for the prefill figure (the whole prompt, or one chunk at depth). */
  prefillTokens: number;
  prefillS: number;
  prefillTokS: number;
  decodeTokS: number;
  peakRssGiB: number;
  kvPoolGiB: number;
  isa: string;
  readBwGBs: number;
}

const argmax = (l: Float32Array) => l.reduce((b, v, i) => (v > l[b] ? i : b), 0);

async function runDepth(depth: number): Promise<Row> {
  const backend = new CpuBackend({ threads: THREADS });
  const readBwGBs = backend.measureReadBandwidth(1 << 28, 3);
  const need = depth + (MODE === 'synthetic' ? CHUNK : 0) + GEN + KV_BLOCK;
  const model = await loadModel(CKPT, { backend, kvCache: { tokens: need, dtype: KV }, maxBatchTokens: CHUNK });
  const vocab = model.config.text.vocabSize;
  const kv = model.kvCache;
  let prefillTokens: number;
  let prefillS: number;
  let decodeTokS: number;
  // Warm-up (first-use costs: thread pool, kernels' packing): a 16-token prompt and one decode step, untimed.
  const warm = Int32Array.from(promptIds(KV_BLOCK, vocab));
  const wp = Int32Array.from(warm, (_, i) => i);
  model.scheduler.submit({ ids: warm, positions: [wp, wp, wp], ropeDelta: 0, maxTokens: 2, next: argmax });
  await model.scheduler.idle();
  if (MODE === 'synthetic') {
    const blocks = kv.pool.allocate(kv.pool.blocksFor(depth + CHUNK + GEN))!;
    // Random keys and values for tokens [0, depth) of every layer, written through the pool's own kvWrite.
    const rows = 4096;
    const slotsOf = (a: number, n: number) => Int32Array.from({ length: n }, (_, i) => blocks[Math.floor((a + i) / KV_BLOCK)] * KV_BLOCK + ((a + i) % KV_BLOCK));
    let s = 1;
    const noise = new Float32Array(rows * kv.width).map(() => ((s = (s * 48271) % 2147483647) / 2147483647) * 2 - 1);
    for (let l = 0; l < kv.layers; l++) {
      const p = kv.layer(l);
      for (let a = 0; a < depth; a += rows) {
        const n = Math.min(rows, depth - a);
        tidy(() => {
          const src = backend.upload(noise.subarray(0, n * kv.width), [n, kv.width], 'f32');
          kvWrite(backend, p.k, slotsOf(a, n), src);
          kvWrite(backend, p.v, slotsOf(a, n), src);
        });
      }
    }
    const pos = (a: number, n: number) => {
      const p = Int32Array.from({ length: n }, (_, i) => a + i);
      return [p, p, p] as const;
    };
    const step = async (ids: number[], start: number) => {
      const t = forwardPaged(model, kv, [{ ids: Int32Array.from(ids), start, positions: pos(start, ids.length), blocks, logits: true }]);
      try {
        return (await t.read()) as Float32Array;
      } finally {
        t.dispose();
      }
    };
    let t0 = performance.now();
    let logits = await step(promptIds(CHUNK, vocab), depth);
    prefillS = (performance.now() - t0) / 1000;
    prefillTokens = CHUNK;
    t0 = performance.now();
    for (let i = 0; i < GEN; i++) logits = await step([argmax(logits)], depth + CHUNK + i);
    decodeTokS = GEN / ((performance.now() - t0) / 1000);
    kv.pool.free(blocks);
  } else {
    const ids = Int32Array.from(promptIds(depth, vocab));
    const p = Int32Array.from(ids, (_, i) => i);
    const times: number[] = [];
    const t0 = performance.now();
    model.scheduler.submit({ ids, positions: [p, p, p], ropeDelta: 0, maxTokens: GEN, next: (l) => (times.push(performance.now()), argmax(l)) });
    await model.scheduler.idle();
    prefillTokens = depth;
    prefillS = (times[0] - t0) / 1000;
    decodeTokS = (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);
  }
  const row: Row = {
    depth, mode: MODE, layers: LAYERS, kv: KV, prefillTokens, prefillS, prefillTokS: prefillTokens / prefillS, decodeTokS,
    peakRssGiB: process.resourceUsage().maxRSS / 2 ** 20, kvPoolGiB: kv.bytes / 2 ** 30, isa: String(backend.capabilities().info.isa), readBwGBs,
  };
  model.dispose();
  return row;
}

/** The refusals, before any work: a 262,144-token prompt on a 4 GiB KV cache, and a pool larger than this machine. */
async function refusals(): Promise<string[]> {
  const out: string[] = [];
  // 4 GiB on the whole 2B (about 70K q8_0 tokens); scaled down with --layers so a cut model is refused alike.
  const gb = (4 * LAYERS) / SHAPES['2B'].layers;
  const model = await loadModel(CKPT, { backend: new CpuBackend({ threads: THREADS }), kvCache: { bytes: gb * 2 ** 30, dtype: KV } });
  try {
    // 262,143 prompt tokens and 1 generated: a 262,144-token request, the model's whole context.
    const ids = new Int32Array(262_143).fill(1000);
    const p = Int32Array.from(ids, (_, i) => i);
    model.scheduler.submit({ ids, positions: [p, p, p], ropeDelta: 0, maxTokens: 1, next: () => null });
    out.push(`262,144-token request, --kv-cache-gb ${gb.toFixed(2)}: NOT refused (unexpected)`);
  } catch (e) {
    out.push(`262,144-token request, --kv-cache-gb ${gb.toFixed(2)}: ${(e as Error).name}: ${(e as Error).message}`);
  } finally {
    model.dispose();
  }
  const huge = Math.ceil((os.totalmem() * 2) / 2 ** 30);
  try {
    (await loadModel(CKPT, { backend: new CpuBackend({ threads: THREADS }), kvCache: { bytes: huge * 2 ** 30, dtype: KV } })).dispose();
    out.push(`--kv-cache-gb ${huge}: NOT refused (unexpected)`);
  } catch (e) {
    out.push(`--kv-cache-gb ${huge} (twice this machine's memory): ${(e as Error).name}: ${(e as Error).message}`);
  }
  return out;
}

if (!existsSync(path.join(CKPT, 'config.json'))) {
  console.error(`generating the 2B shape (${LAYERS} layers, q4_0, random weights) in ${CKPT} …`);
  await genCheckpoint({ out: CKPT, shape: '2B', dtype: 'q4_0', layers: LAYERS });
}
if (CHILD) {
  console.log(JSON.stringify(await runDepth(DEPTHS[0])));
} else {
  const rows: Row[] = [];
  for (const depth of DEPTHS) {
    const args = ['--depths', String(depth), '--mode', MODE, '--chunk', String(CHUNK), '--gen', String(GEN), '--kv', KV, '--layers', String(LAYERS), '--threads', String(THREADS), '--ckpt', CKPT, '--child'];
    const r = spawnSync(process.execPath, [process.argv[1], 'bench/long.ts', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{"depth"'));
    if (r.status !== 0 || !line) throw new Error(`bench:long child at depth ${depth} failed (${r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}): ${r.stdout.slice(-2000)}`);
    rows.push(JSON.parse(line) as Row);
    console.error(line);
  }
  const notes = await refusals();
  if (flag('json')) {
    for (const r of rows) console.log(JSON.stringify(r));
  } else {
    const r0 = rows[0];
    console.log(`long context: 2B shape${LAYERS === SHAPES['2B'].layers ? '' : ` cut to ${LAYERS} layers`}, random weights, q4_0 weights, ${KV} KV, cpu (${r0.isa}, ${THREADS} threads, read bandwidth ${r0.readBwGBs.toFixed(1)} GB/s)`);
    console.log(
      MODE === 'synthetic'
        ? `mode synthetic: the first <depth> tokens' keys/values are random, written straight into the pool (NOT a prefill); then one real prefill chunk of ${CHUNK} tokens at that depth and ${GEN} greedy decode steps after it\n`
        : `mode real: the whole prompt prefilled through the scheduler in chunks of ${CHUNK}, then ${GEN} greedy tokens\n`,
    );
    console.log('| depth | prefill tokens timed | prefill s | prefill tok/s | decode tok/s at depth | KV pool GiB | peak RSS GiB |\n|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.depth} | ${r.prefillTokens} | ${r.prefillS.toFixed(2)} | ${r.prefillTokS.toFixed(1)} | ${r.decodeTokS.toFixed(2)} | ${r.kvPoolGiB.toFixed(2)} | ${r.peakRssGiB.toFixed(2)} |`);
    console.log('');
    for (const n of notes) console.log(n);
  }
}

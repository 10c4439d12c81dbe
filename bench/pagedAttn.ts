// Paged attention alone, the serving path's op (`pagedAttention`): one query row (a decode step) or a prefill chunk of
// --rows rows, the 2B's heads (16, 8 kv heads × 128), against 28 layers of paged pools filled to a depth. Prints µs a
// layer, the GB/s of K+V that is, and for a chunk its GFLOP/s.
// npx vite-node bench/pagedAttn.ts -- [--depth 4096] [--rows 1] [--kv f16] [--reps 25]   (A/B addons: QWEN3VL_CPU_ADDON)
import { CpuBackend } from '../src/backend/cpu/index.js';
import { KV_DTYPES } from '../src/generate/contextPlan.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { byteSize } from '../src/tensor/dtype.js';
import { benchArgs, benchFail } from './common.js';

const { num, choice } = benchArgs('npx vite-node bench/pagedAttn.ts -- [options]: decode paged attention over 28 layers of pools', {
  depth: { value: 'N', default: '4096', help: 'keys in each pool' },
  rows: { value: 'N', default: '1', help: 'query rows: 1 is a decode step, more a prefill chunk (the last N of the depth\'s keys, causal)' },
  kv: { value: 'FORMAT', default: 'f16', help: 'the pools\' format: f16 (the CPU default), q8_0 or f32' },
  reps: { value: 'N', default: '25', help: 'timed passes over the 28 layers (median and best printed)' },
});
const [depth, reps, rows] = [num('depth'), num('reps'), num('rows')];
if (!(Number.isInteger(rows) && rows >= 1 && rows <= depth)) benchFail(`--rows must be a whole number from 1 to --depth (${depth}); got ${rows}`);
const kv = choice('kv', KV_DTYPES);
const LAYERS = 28, NH = 16, NKV = 8, HD = 128, W = NKV * HD, BLOCK = 16;
const b = new CpuBackend({});
const vals = Float32Array.from({ length: depth * W }, () => Math.random() * 2 - 1);
const slots = Int32Array.from({ length: depth }, (_, i) => i);
const pools = Array.from({ length: LAYERS }, () => {
  const src = b.upload(vals, [depth, W], 'f32');
  const pair = [b.kvAlloc(depth + BLOCK, W, kv), b.kvAlloc(depth + BLOCK, W, kv)];
  for (const t of pair) b.kvWrite(t, slots, src);
  src.dispose();
  return pair;
});
const q = b.upload(Float32Array.from({ length: rows * NH * HD }, () => Math.random() * 2 - 1), [rows, NH * HD], 'f32');
const nb = Math.ceil(depth / BLOCK);
const batch = { blockSize: BLOCK, cuQ: Int32Array.of(0, rows), kvLen: Int32Array.of(depth), tblPtr: Int32Array.of(0, nb), tbl: Int32Array.from({ length: nb }, (_, i) => i) };
const us: number[] = [];
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  let y: Tensor | null = null;
  for (const [k, v] of pools) {
    y?.dispose();
    y = b.pagedAttention(q, k, v, batch, { nHeads: NH, nKvHeads: NKV, headDim: HD, scale: HD ** -0.5 });
  }
  await y!.read();
  y!.dispose();
  us.push(((performance.now() - t0) * 1000) / LAYERS);
}
us.sort((a, c) => a - c);
const gbs = (t: number) => ((2 * byteSize(kv, depth * W)) / t / 1e3).toFixed(1);
const flop = 4 * NH * HD * rows * (depth - (rows - 1) / 2);  // q·k and p·v over each row's visible keys
console.log(`${kv} pools, depth ${depth}, ${rows} row${rows > 1 ? 's' : ''}, ${LAYERS} layers: median ${us[reps >> 1].toFixed(0)} µs a layer (${gbs(us[reps >> 1])} GB/s of K+V), best ${us[0].toFixed(0)} (${gbs(us[0])})${rows > 1 ? `; ${(flop / us[0] / 1e3).toFixed(1)} GFLOP/s at best` : ''}`);
b.destroy();

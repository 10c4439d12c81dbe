// Decoder-layer-shaped microbench of the CPU kernels (no model needed): the linears of one layer at decode (M=1) and
// prefill (M=512) sizes per weight format, attention, and the machine's read bandwidth for reference.
// Run: npx vite-node bench/micro.ts -- [--shape 2B] [--dtype q4_0] [--layers 4] [--threads N] [--cpu-time]
// --cpu-time times by process CPU time instead of the wall clock (with --threads 1: kernel A/B runs on a shared box).

import { CpuBackend } from '../src/backend/cpu/index.js';
import type { DType } from '../src/tensor/dtype.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { SHAPES, type ShapeName } from '../src/tools/genCheckpoint.js';
import { benchArgs, cpuMs } from './common.js';

const { num, nums, list, choice, flag } = benchArgs('npx vite-node bench/micro.ts -- [options]: one decoder layer\'s linears and attention, per weight format', {
  shape: { value: 'SHAPE', default: '2B', help: `model shape: ${Object.keys(SHAPES).join(', ')}` },
  dtype: { value: 'LIST', default: 'bf16,q8_0,q4_0', help: 'weight formats' },
  layers: { value: 'N', default: '4', help: 'layers of weights cycled through (more than the caches hold)' },
  m: { value: 'LIST', default: '1,512', help: 'rows (tokens) per call; 1 alone skips the slow prefill-sized rows' },
  threads: { value: 'N', default: '0', help: 'CPU threads (0: all)' },
  'cpu-time': { help: 'time by process CPU time (with --threads 1: kernel A/B on a shared box)' },
});

const shape = SHAPES[choice('shape', Object.keys(SHAPES) as ShapeName[])];
const dtypes = list<DType>('dtype', ['f32', 'f16', 'bf16', 'q8_0', 'q4_0']);
const layers = num('layers');
const ms_ = nums('m');
const threads = num('threads') || undefined;
const cpuTime = flag('cpu-time');
const now = () => (cpuTime ? cpuMs() : performance.now());
const b = new CpuBackend({ threads });
console.log(JSON.stringify(b.capabilities().info));
const bw = b.measureReadBandwidth(1 << 30, 5);
console.log(`read bandwidth: ${bw.toFixed(1)} GB/s`);

const { H, nh, nkv, hd, I } = shape;
const mats: [string, number, number][] = [
  ['q', nh * hd, H],
  ['k', nkv * hd, H],
  ['v', nkv * hd, H],
  ['o', H, nh * hd],
  ['gateUp', 2 * I, H],
  ['down', H, I],
];

function randBits(n: number): Uint16Array {
  const out = new Uint16Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // bf16 of a value in ±[0.0078, 0.0312): sign, exponent 120..121, random mantissa.
    out[i] = ((s >>> 31) << 15) | ((120 + ((s >>> 20) & 1)) << 7) | ((s >>> 8) & 0x7f);
  }
  return out;
}

async function time(fn: () => Tensor, reps: number): Promise<number> {
  await fn().read();
  const t0 = now();
  let last: Tensor | null = null;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = fn();
  }
  await last!.read();
  return (now() - t0) / reps;
}

for (const dt of dtypes) {
  const ws = Array.from({ length: layers }, () => mats.map(([, n, k]) => b.uploadConvert(randBits(n * k), 'bf16', [n, k], dt)));
  await b.sync();
  const bytes = ws[0].reduce((a, w) => a + (w.storage as { bytes: number }).bytes, 0);
  for (const m of ms_) {
    const xs = new Map<number, Tensor>();
    const x = (k: number) => xs.get(k) ?? (xs.set(k, b.upload(Float32Array.from({ length: m * k }, () => Math.random() - 0.5), [m, k], 'f32')), xs.get(k)!);
    const reps = m <= 8 ? 20 : 1;
    const ms = await time(() => {
      let y: Tensor | null = null;
      for (const lw of ws) for (const w of lw) {
        y?.dispose();
        y = b.linear(x(w.cols), w);
      }
      return y!;
    }, reps);
    const perLayer = ms / layers;
    const flops = 2 * m * ws[0].reduce((a, w) => a + w.rows * w.cols, 0);
    console.log(
      `${dt.padEnd(5)} M=${String(m).padEnd(4)} ${perLayer.toFixed(3)} ms/layer  ` +
        (m <= 8 ? `${(bytes / perLayer / 1e6).toFixed(1)} GB/s weights (${((bytes / perLayer / 1e6 / bw) * 100).toFixed(0)}% of read bw)` : `${(flops / perLayer / 1e6).toFixed(1)} GFLOP/s`),
    );
    for (const t of xs.values()) t.dispose();
  }
  for (const lw of ws) for (const w of lw) w.dispose();
}

for (const [t, kv] of [[1, 576], [512, 512]]) {
  const q = b.upload(Float32Array.from({ length: t * nh * hd }, () => Math.random() - 0.5), [t, nh * hd], 'f32');
  const k = b.upload(Float32Array.from({ length: kv * nkv * hd }, () => Math.random() - 0.5), [kv, nkv * hd], 'f32');
  const ms = await time(() => b.attention(q, k, k, { nHeads: nh, nKvHeads: nkv, headDim: hd, scale: hd ** -0.5, kvLen: kv, causal: true }), t === 1 ? 50 : 3);
  console.log(`attention T=${t} kv=${kv}: ${ms.toFixed(3)} ms`);
}

// Decode attention over the paged f16 pool (the serving path): one query row against `depth` keys, cycling through
// `layers` pools so the keys come from memory as in a real step (pools sized as the engine's, ≥ 2 MiB each).
for (const depth of [512, 4096]) {
  const w = nkv * hd;
  const slots = Math.max(depth + 16, 4096);
  const rows = Float32Array.from({ length: depth * w }, () => Math.random() * 2 - 1);
  const idx = Int32Array.from({ length: depth }, (_, i) => i);
  const pools = Array.from({ length: layers }, () => {
    const src = b.upload(rows, [depth, w], 'f32');
    const kv = [b.kvAlloc!(slots, w, 'f16'), b.kvAlloc!(slots, w, 'f16')];
    for (const t of kv) b.kvWrite!(t, idx, src);
    src.dispose();
    return kv;
  });
  const q = b.upload(rows.subarray(0, nh * hd), [1, nh * hd], 'f32');
  const nb = Math.ceil(depth / 16);
  const batch = { blockSize: 16, cuQ: Int32Array.of(0, 1), kvLen: Int32Array.of(depth), tblPtr: Int32Array.of(0, nb), tbl: Int32Array.from({ length: nb }, (_, i) => i) };
  const ms = await time(() => {
    let y: Tensor | null = null;
    for (const [k, v] of pools) {
      y?.dispose();
      y = b.pagedAttention!(q, k, v, batch, { nHeads: nh, nKvHeads: nkv, headDim: hd, scale: hd ** -0.5 });
    }
    return y!;
  }, 20);
  const perLayer = ms / layers;
  console.log(`paged decode attention f16 depth=${depth}: ${(perLayer * 1000).toFixed(0)} us/layer  ${((2 * depth * w * 2) / perLayer / 1e6).toFixed(1)} GB/s of K/V`);
  for (const t of [q, ...pools.flat()]) t.dispose();
}
b.destroy();

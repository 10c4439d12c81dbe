// The 2B vision tower op by op on random weights: each op's wall and process CPU time (median of reps) for the
// patch embedding, one block (scaled to the tower's 24) and one merger (scaled to its 4: the final one and 3
// DeepStack), as a share of the sum, to see what besides the GEMMs an encode spends.
// Run: npx vite-node bench/visionOps.ts -- [--threads 2] [--n 784] [--dtype q8_0] [--reps 7]
// (QWEN3VL_CPU_ISA=avx2 runs the AVX2 kernels; QWEN3VL_CPU_ADDON an older addon for A/B).

import { CpuBackend } from '../src/backend/cpu/index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { BENCH_FORMATS, benchArgs, cpuMs, lcgValues } from './common.js';

const { num, choice } = benchArgs('npx vite-node bench/visionOps.ts -- [options]: the 2B vision tower op by op on random weights', {
  threads: { value: 'N', default: '2', help: 'CPU threads' },
  n: { value: 'N', default: '784', help: 'patches (784: a 448² image)' },
  dtype: { value: 'DTYPE', default: 'q8_0', help: `weight format: ${BENCH_FORMATS.join(', ')}` },
  reps: { value: 'N', default: '7', help: 'timed runs per op (the median is shown)' },
});
const threads = num('threads');
const n = num('n');
const dtype = choice('dtype', BENCH_FORMATS);
const reps = num('reps');
const Hv = 1024, Iv = 4096, heads = 16, hd = 64, depth = 24, mergers = 4, Ov = 2048, patchDim = 1536;

const b = new CpuBackend({ threads });
const weight = (N: number, K: number, seed: number) => {
  const w0 = b.uploadConvert(lcgValues(N * K, 0.05, seed), 'f32', [N, K], dtype);
  const w = b.packWeight(w0);
  if (w !== w0) w0.dispose();
  return w;
};
const vec = (len: number, seed: number, scale = 0.05) => b.upload(lcgValues(len, scale, seed), [len], 'f32');
const ones = b.upload(new Float32Array(Hv).fill(1), [Hv], 'f32');
const w = { q: weight(Hv, Hv, 1), k: weight(Hv, Hv, 2), v: weight(Hv, Hv, 3), proj: weight(Hv, Hv, 4), fc1: weight(Iv, Hv, 5), fc2: weight(Hv, Iv, 6) };
const mw = { fc1: weight(4 * Hv, 4 * Hv, 14), fc2: weight(Ov, 4 * Hv, 15), patch: weight(Hv, patchDim, 16) };
const ones4 = b.upload(new Float32Array(4 * Hv).fill(1), [4 * Hv], 'f32');
const bias = { m1: vec(4 * Hv, 17), m2: vec(Ov, 18), ln4: vec(4 * Hv, 19), patch: vec(Hv, 20), q: vec(Hv, 7), k: vec(Hv, 8), v: vec(Hv, 9), proj: vec(Hv, 10), fc1: vec(Iv, 11), fc2: vec(Hv, 12), ln: vec(Hv, 13) };
const x = b.upload(lcgValues(n * Hv, 2), [n, Hv], 'f32');
const cos = b.upload(lcgValues(n * hd, 1, 21), [n, hd], 'f32');
const sin = b.upload(lcgValues(n * hd, 1, 22), [n, hd], 'f32');

const px = b.upload(lcgValues(n * patchDim, 2, 23), [n, patchDim], 'f32');
const times = new Map<string, { wall: number[]; cpu: number[]; times: number }>();
async function timed(name: string, fn: () => Tensor, per = depth): Promise<Tensor> {
  await b.sync();
  const c0 = cpuMs();
  const t0 = performance.now();
  const y = fn();
  await b.sync();
  const t = times.get(name) ?? { wall: [], cpu: [], times: per };
  t.wall.push(performance.now() - t0);
  t.cpu.push(cpuMs() - c0);
  times.set(name, t);
  return y;
}

async function block() {
  const made: Tensor[] = [];
  const keep = (t: Tensor) => (made.push(t), t);
  const a = keep(await timed('layerNorm 1', () => b.layerNorm(x, ones, bias.ln, 1e-6)));
  const q0 = keep(await timed('linear q (+bias)', () => b.linear(a, w.q, bias.q)));
  const k0 = keep(await timed('linear k (+bias)', () => b.linear(a, w.k, bias.k)));
  const v = keep(await timed('linear v (+bias)', () => b.linear(a, w.v, bias.v)));
  const q = keep(await timed('rope q', () => b.rope(q0, cos, sin)));
  const k = keep(await timed('rope k', () => b.rope(k0, cos, sin)));
  const o = keep(await timed('attention', () => b.attention(q, k, v, { nHeads: heads, nKvHeads: heads, headDim: hd, scale: 1 / 8, kvLen: n, causal: false, segments: [0, n] })));
  const h = keep(await timed('linear proj (+bias+residual)', () => b.linearEx!(o, w.proj, { bias: bias.proj, residual: x })));
  const m = keep(await timed('layerNorm 2', () => b.layerNorm(h, ones, bias.ln, 1e-6)));
  const f = keep(await timed('linear fc1 (+bias+GELU)', () => b.linearEx!(m, w.fc1, { bias: bias.fc1, gelu: 'tanh' })));
  keep(await timed('linear fc2 (+bias+residual)', () => b.linearEx!(f, w.fc2, { bias: bias.fc2, residual: h })));
  // The merger (DeepStack form: LayerNorm over the 2×2 window's 4·Hv values) and the patch embedding.
  const xs = x.reshape([n / 4, 4 * Hv]);
  const mn = keep(await timed('merger layerNorm', () => b.layerNorm(xs, ones4, bias.ln4, 1e-6), mergers));
  const mf = keep(await timed('merger fc1 (+bias+GELU)', () => b.linearEx!(mn, mw.fc1, { bias: bias.m1, gelu: 'none' }), mergers));
  keep(await timed('merger fc2 (+bias)', () => b.linear(mf, mw.fc2, bias.m2), mergers));
  keep(await timed('patch embedding', () => b.linear(px, mw.patch, bias.patch), 1));
  made.forEach((t) => t.dispose());
}

await block(); // warm-up
times.clear();
for (let r = 0; r < reps; r++) await block();
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const rows = [...times].map(([name, t]) => ({ name: `${name} × ${t.times}`, wall: med(t.wall) * t.times, cpu: med(t.cpu) * t.times }));
const sw = rows.reduce((s, r) => s + r.wall, 0), sc = rows.reduce((s, r) => s + r.cpu, 0);
console.log(`isa ${b.capabilities().info.isa}, ${dtype}, ${n} patches, threads ${threads}, ${reps} reps (median)`);
console.log('| op | wall ms | % | CPU ms | % | CPU / (wall × threads) |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.name} | ${r.wall.toFixed(1)} | ${((r.wall / sw) * 100).toFixed(1)}% | ${r.cpu.toFixed(1)} | ${((r.cpu / sc) * 100).toFixed(1)}% | ${(r.cpu / r.wall / threads).toFixed(2)} |`);
console.log(`| tower (no gather, add, position embedding) | ${sw.toFixed(0)} | | ${sc.toFixed(0)} | | ${(sc / sw / threads).toFixed(2)} |`);
b.destroy();

// Vision-tower-shaped kernel microbench: the block's GEMMs (f32/bf16/q8_0 weights) and its segmented attention at
// the patch counts of a 448² and a 1024² image, as GFLOP/s and a share of the measured FP32 FMA roof (same threads).
// Times are process CPU time (user+sys) with one thread by default: on a shared, oversubscribed box wall-clock
// is meaningless, while CPU time of the one compute thread still compares kernels (and the roof) fairly.
// Run: npx vite-node bench/visionMicro.ts -- [--threads 1] [--n 784,4096] [--dtype f32,bf16,q8_0] [--reps 3]
// [--precision fast] (bf16 weights on AMX-BF16 or AVX512-BF16, attention on AMX-BF16, with bf16-rounded operands) [--no-pack] (weights
// row-major, packed per call, instead of packed at load as the vision tower's are). QWEN3VL_CPU_ISA=avx2 runs the
// AVX2 kernels, QWEN3VL_CPU_ACTQ=0 the f32 GEMM for q8_0/q4_0; the int8 roof (the int8 GEMM's instruction sequence
// with operands in registers, 2 ops per 8-bit product) is measured the same way for the q8_0/q4_0 rows.

import { CpuBackend } from '../src/backend/cpu/index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { BENCH_FORMATS, benchArgs, cpuMs, lcgValues } from './common.js';

const { num, nums, list, choice, flag } = benchArgs('npx vite-node bench/visionMicro.ts -- [options]: the vision block\'s GEMMs and attention as GFLOP/s and a share of the FMA roof', {
  threads: { value: 'N', default: '1', help: 'CPU threads' },
  n: { value: 'LIST', default: '784,4096', help: 'patch counts (784: 448², 4096: 1024²)' },
  dtype: { value: 'LIST', default: 'f32,bf16,q8_0', help: `weight formats (${BENCH_FORMATS.join(', ')})` },
  reps: { value: 'N', default: '3', help: 'timed runs (the best is shown)' },
  ops: { value: 'LIST', default: 'gemm,attn', help: 'which: gemm, attn' },
  precision: { value: 'P', default: 'exact', help: 'exact, or fast (AMX-BF16 or AVX512-BF16 on bf16-rounded operands)' },
  'no-pack': { help: 'weights row-major, packed per call (instead of at load)' },
});
const threads = num('threads');
const ns = nums('n');
const dtypes = list('dtype', BENCH_FORMATS);
const reps = num('reps');
const ops = list('ops', ['gemm', 'attn']);
const pack = !flag('no-pack');
const Hv = 1024, Iv = 4096, heads = 16, hd = 64;

const b = new CpuBackend({ threads, precision: choice('precision', ['exact', 'fast']) });
const isa = String(b.capabilities().info.isa);
// The roof in CPU time: FLOPs of the FMA loop (threads × iters × 12 chains × lanes × 2) over the CPU time it took.
let peak = 0;
for (let r = 0; r < 5; r++) {
  const c0 = cpuMs();
  b.measureFmaPeak(5_000_000, 1);
  peak = Math.max(peak, (threads * 5e6 * 12 * (isa === 'avx512' ? 16 : isa === 'avx2' ? 8 : 4) * 2) / (cpuMs() - c0) / 1e6);
}
// The int8 roof in CPU time: ops per step as opFmaPeak counts them (VNNI 12 chains × 64 products, AVX2 8 × 32; × 2).
const int8Peak: Record<string, number> = {};
for (const dt of ['q8_0', 'q4_0'] as const) {
  if (!dtypes.includes(dt) || !b.capabilities().info.actQuant || (isa !== 'avx512' && isa !== 'avx2')) continue;
  for (let r = 0; r < 5; r++) {
    const c0 = cpuMs();
    b.measureInt8Peak(dt, 5_000_000, 1);
    int8Peak[dt] = Math.max(int8Peak[dt] ?? 0, (threads * 5e6 * (isa === 'avx512' ? 12 * 64 : 8 * 32) * 2) / (cpuMs() - c0) / 1e6);
  }
}
const int8Note = Object.entries(int8Peak).map(([dt, p]) => `, int8 roof (${dt} sequence) ${p.toFixed(1)} GOP/s`).join('');
console.log(`isa ${isa}, precision ${b.capabilities().info.precision}, activation quantization ${b.capabilities().info.actQuant ? 'on' : 'off'}, threads ${threads}, FP32 FMA roof ${peak.toFixed(1)} GFLOP/s${int8Note} (CPU time)`);


// Waits with sync, not read: copying a 784×4096 output to JS took 7 ms of CPU time, 15% of the GEMM it timed.
async function best(fn: () => Tensor): Promise<number> {
  const w = fn();
  await w.read();
  w.dispose();
  let ms = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = cpuMs();
    const y = fn();
    await b.sync();
    ms = Math.min(ms, cpuMs() - t0);
    y.dispose();
  }
  return ms;
}

const row = (what: string, flops: number, ms: number, i8 = 0) =>
  console.log(`| ${what} | ${ms.toFixed(2)} | ${(flops / ms / 1e6).toFixed(1)} | ${((flops / ms / 1e6 / peak) * 100).toFixed(0)}% | ${i8 ? `${((flops / ms / 1e6 / i8) * 100).toFixed(0)}%` : ''} |`);
console.log('| op | CPU ms | GFLOP/s | % of FP32 roof | % of int8 roof |\n|---|---|---|---|---|');
for (const n of ns) {
  const x = b.upload(lcgValues(n * Hv, 2), [n, Hv], 'f32');
  if (ops.includes('gemm')) {
    for (const dt of dtypes) {
      for (const [name, N, K] of [['q/k/v/proj', Hv, Hv], ['fc1', Iv, Hv], ['fc2', Hv, Iv]] as const) {
        const w0 = b.uploadConvert(lcgValues(N * K), 'f32', [N, K], dt);
        const w = pack ? b.packWeight(w0) : w0; // as the vision tower loads them
        if (w !== w0) w0.dispose();
        const xin = K === Hv ? x : b.upload(lcgValues(n * K, 2), [n, K], 'f32');
        row(`linear ${name} ${dt} [${n}×${K}]·[${N}×${K}]ᵀ`, 2 * n * N * K, await best(() => b.linear(xin, w)), int8Peak[dt]);
        w.dispose();
      }
    }
  }
  if (ops.includes('attn')) {
    const q = b.upload(lcgValues(n * Hv, 2), [n, Hv], 'f32');
    const ms = await best(() => b.attention(q, q, q, { nHeads: heads, nKvHeads: heads, headDim: hd, scale: 1 / 8, kvLen: n, causal: false, segments: [0, n] }));
    row(`attention ${heads}×${hd}, ${n} patches, one segment`, 4 * n * n * Hv, ms);
  }
}
b.destroy();

// Kernel microbenchmarks on random data: a decode step of the text decoder recorded op by op exactly as
// models/qwen3vl/text.ts does (so dispatch count and bytes match the model), its linear layers alone (bandwidth
// bound), lm_head alone, a large matmul and vision-sized attention.
import type { WebGpuBackend } from '../../src/backend/webgpu/backend.js';
import type { ModelConfig } from '../../src/config/config.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { decodeBytes } from './randomModel.js';

const now = () => performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface KernelReport {
  [k: string]: number | string;
}

/** Time `fn` (records work) + sync, median of `reps` after one warm-up. */
async function time(b: WebGpuBackend, reps: number, fn: () => void): Promise<number> {
  fn();
  await b.sync();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    fn();
    await b.sync();
    ts.push(now() - t0);
  }
  return median(ts);
}

export async function decodeStepBench(b: WebGpuBackend, cfg: ModelConfig, kvLen: number): Promise<KernelReport> {
  const t = cfg.text;
  const H = t.hiddenSize;
  const hd = t.headDim;
  const kw = t.numKeyValueHeads * hd;
  let seed = 100;
  const mat = (o: number, i: number) => b.random([o, i], 'bf16', seed++, 0.03);
  const one = (n: number) => b.random([n], 'f32', seed++, 0.05, 1);
  const layers = Array.from({ length: t.numHiddenLayers }, () => ({
    inN: one(H),
    post: one(H),
    q: mat(t.numAttentionHeads * hd, H),
    k: mat(kw, H),
    v: mat(kw, H),
    o: mat(H, t.numAttentionHeads * hd),
    qn: one(hd),
    kn: one(hd),
    gu: mat(2 * t.intermediateSize, H),
    down: mat(H, t.intermediateSize),
    kc: b.random([kvLen + 64, kw], 'f32', seed++, 1),
    vc: b.random([kvLen + 64, kw], 'f32', seed++, 1),
  }));
  const lmHead = mat(t.vocabSize, H);
  const norm = one(H);
  const cos = b.random([1, hd], 'f32', seed++, 1);
  const sin = b.random([1, hd], 'f32', seed++, 1);
  let x = b.random([1, H], 'f32', seed++, 1);
  const eps = t.rmsNormEps;
  const kept: Tensor[] = [];
  const step = () => {
    const tmp: Tensor[] = [];
    const k = <T extends Tensor>(y: T) => (tmp.push(y), y);
    let h: Tensor = x;
    for (const L of layers) {
      const a = k(b.rmsNorm(h, L.inN, eps));
      const q = k(b.rope(k(b.rmsNorm(k(b.linear(a, L.q)), L.qn, eps)), cos, sin));
      const kk = k(b.rope(k(b.rmsNorm(k(b.linear(a, L.k)), L.kn, eps)), cos, sin));
      const v = k(b.linear(a, L.v));
      b.writeRows(L.kc, kvLen, kk);
      b.writeRows(L.vc, kvLen, v);
      const o = k(b.attention(q, L.kc, L.vc, { nHeads: t.numAttentionHeads, nKvHeads: t.numKeyValueHeads, headDim: hd, scale: hd ** -0.5, kvLen: kvLen + 1, causal: true }));
      const h2 = k(b.add(h, k(b.linear(o, L.o))));
      const m = k(b.rmsNorm(h2, L.post, eps));
      h = k(b.add(h2, k(b.linear(k(b.swiglu(k(b.linear(m, L.gu)))), L.down))));
    }
    kept.push(b.linear(b.rmsNorm(h, norm, eps), lmHead));
    for (const y of tmp) y.dispose();
  };
  // Record cost alone (host side), then the whole step.
  step();
  await b.sync();
  const d0 = b.rt.dispatches;
  const r0 = now();
  step();
  const recordMs = now() - r0;
  const perStep = b.rt.dispatches - d0;
  await b.sync();
  const full = await time(b, 20, () => step());
  let readMs = 0;
  {
    const ts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = now();
      step();
      await kept.at(-1)!.read();
      ts.push(now() - t0);
    }
    readMs = median(ts);
  }
  for (const y of kept.splice(0)) y.dispose();
  const lm = await time(b, 20, () => b.linear(x, lmHead).dispose());
  const bytes = decodeBytes(cfg, kvLen);
  const lmBytes = t.vocabSize * H * 2;
  // All the step's linear layers alone, with the same weights (a bandwidth ceiling for this kernel set).
  const linW = layers.flatMap((L) => [L.q, L.k, L.v, L.o, L.gu, L.down]);
  const xs = new Map<number, Tensor>();
  const xin = (k: number) => xs.get(k) ?? (xs.set(k, b.random([1, k], 'f32', 7, 1)), xs.get(k)!);
  const lin = await time(b, 20, () => {
    for (const w of linW) b.linear(xin(w.cols), w).dispose();
    b.linear(x, lmHead).dispose();
  });
  x.dispose();
  x = null as unknown as Tensor;
  for (const L of layers) for (const w of Object.values(L)) w.dispose();
  lmHead.dispose();
  for (const y of xs.values()) y.dispose();
  return {
    layers: t.numHiddenLayers,
    kvLen,
    dispatchesPerStep: perStep,
    recordMs: +recordMs.toFixed(3),
    stepMs: +full.toFixed(3),
    stepWithReadMs: +readMs.toFixed(3),
    stepTokPerS: +(1000 / full).toFixed(1),
    stepGBs: +(bytes / full / 1e6).toFixed(0),
    linearsOnlyMs: +lin.toFixed(3),
    linearsOnlyGBs: +((bytes - 4 * t.numHiddenLayers * 2 * kvLen * kw) / lin / 1e6).toFixed(0),
    lmHeadMs: +lm.toFixed(3),
    lmHeadGBs: +(lmBytes / lm / 1e6).toFixed(0),
  };
}

export async function matmulBench(b: WebGpuBackend, m: number, n: number, k: number): Promise<KernelReport> {
  const x = b.random([m, k], 'f32', 3, 1);
  const w = b.random([n, k], 'bf16', 4, 0.05);
  const ms = await time(b, 10, () => b.linear(x, w).dispose());
  x.dispose();
  w.dispose();
  return { m, n, k, ms: +ms.toFixed(3), tflops: +((2 * m * n * k) / ms / 1e9).toFixed(2) };
}

export async function attentionBench(b: WebGpuBackend, t: number, heads: number, hd: number): Promise<KernelReport> {
  const q = b.random([t, heads * hd], 'f32', 5, 1);
  const k = b.random([t, heads * hd], 'f32', 6, 1);
  const v = b.random([t, heads * hd], 'f32', 7, 1);
  const ms = await time(b, 5, () => b.attention(q, k, v, { nHeads: heads, nKvHeads: heads, headDim: hd, scale: hd ** -0.5, kvLen: t, causal: false, segments: [0, t] }).dispose());
  for (const y of [q, k, v]) y.dispose();
  return { t, heads, hd, ms: +ms.toFixed(3), tflops: +((4 * t * t * hd * heads) / ms / 1e9).toFixed(2) };
}

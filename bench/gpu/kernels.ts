// Kernel microbenchmarks on random data: a decode step of the text decoder recorded op by op exactly as
// models/qwen3vl/text.ts does (so dispatch count and bytes match the model), its linear layers alone (bandwidth
// bound), lm_head alone, a large matmul and vision-sized attention.
import type { WebGpuBackend } from '../../src/backend/webgpu/backend.js';
import type { ModelConfig } from '../../src/models/qwen3vl/config.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { stagedFits } from '../../src/backend/webgpu/ops/linear.js';
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

/**
 * One decode step of the text decoder on random bf16 weights with a KV cache of kvLen rows, in two forms: 'plain'
 * records the contract ops exactly as models/qwen3vl/text.ts does; 'fused' uses linearEx/qkvPost (6 launches a
 * layer). Each also with auto-flush (the GPU starts while the host records). Reports host record and submit time,
 * GPU time of the step (timestamp queries), wall time with sync and with the logits read back.
 */
export async function decodeStepBench(b: WebGpuBackend, cfg: ModelConfig, kvLen: number): Promise<KernelReport[]> {
  const t = cfg.text;
  const H = t.hiddenSize;
  const hd = t.headDim;
  const [nh, nkv] = [t.numAttentionHeads, t.numKeyValueHeads];
  const kw = nkv * hd;
  let seed = 100;
  const mat = (o: number, i: number) => b.random([o, i], 'bf16', seed++, 0.03);
  const one = (n: number) => b.random([n], 'f32', seed++, 0.05, 1);
  const layers = Array.from({ length: t.numHiddenLayers }, () => ({
    inN: one(H),
    post: one(H),
    q: mat(nh * hd, H),
    k: mat(kw, H),
    v: mat(kw, H),
    qkv: mat((nh + 2 * nkv) * hd, H),
    o: mat(H, nh * hd),
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
  const x0 = b.random([1, H], 'f32', seed++, 1);
  const eps = t.rmsNormEps;
  const attnOpts = { nHeads: nh, nKvHeads: nkv, headDim: hd, scale: hd ** -0.5, kvLen: kvLen + 1, causal: true };
  const plain = (): Tensor => {
    const tmp: Tensor[] = [];
    const k = <T extends Tensor>(y: T) => (tmp.push(y), y);
    let h: Tensor = x0;
    for (const L of layers) {
      const a = k(b.rmsNorm(h, L.inN, eps));
      const q = k(b.rope(k(b.rmsNorm(k(b.linear(a, L.q)), L.qn, eps)), cos, sin));
      const kk = k(b.rope(k(b.rmsNorm(k(b.linear(a, L.k)), L.kn, eps)), cos, sin));
      const v = k(b.linear(a, L.v));
      b.writeRows(L.kc, kvLen, kk);
      b.writeRows(L.vc, kvLen, v);
      const o = k(b.attention(q, L.kc, L.vc, attnOpts));
      const h2 = k(b.add(h, k(b.linear(o, L.o))));
      const m = k(b.rmsNorm(h2, L.post, eps));
      h = k(b.add(h2, k(b.linear(k(b.swiglu(k(b.linear(m, L.gu)))), L.down))));
    }
    const y = b.linear(k(b.rmsNorm(h, norm, eps)), lmHead);
    for (const z of tmp) z.dispose();
    return y;
  };
  const fused = (): Tensor => {
    const tmp: Tensor[] = [];
    const k = <T extends Tensor>(y: T) => (tmp.push(y), y);
    let x: Tensor = x0;
    for (const L of layers) {
      const qkv = k(b.linearEx(x, L.qkv, { norm: { w: L.inN, eps } }));
      const q = k(b.qkvPost(qkv, L.qn, L.kn, cos, sin, eps, L.kc, L.vc, kvLen, attnOpts));
      const h = k(b.linearEx(k(b.attention(q, L.kc, L.vc, attnOpts)), L.o, { residual: x }));
      const gu = k(b.linearEx(h, L.gu, { norm: { w: L.post, eps } }));
      x = k(b.linearEx(gu, L.down, { swiglu: true, residual: h }));
    }
    const y = b.linearEx(x, lmHead, { norm: { w: norm, eps } });
    for (const z of tmp) z.dispose();
    return y;
  };
  const rows: KernelReport[] = [];
  const bytes = decodeBytes(cfg, kvLen);
  for (const [name, step, every] of [['plain', plain, 0], ['plain+flush64', plain, 64], ['fused', fused, 0], ['fused+flush32', fused, 32]] as const) {
    b.rt.flushEvery = every;
    for (let i = 0; i < 3; i++) step().dispose();
    await b.sync();
    const wall: number[] = [];
    const rec: number[] = [];
    const sub: number[] = [];
    const gpu: number[] = [];
    let dispatches = 0;
    for (let i = 0; i < 15; i++) {
      const s0 = { ...b.rt.stats };
      const d0 = b.rt.dispatches;
      const g = every ? null : b.rt.gpuTimeOfNextPass();
      const t0 = now();
      const y = step();
      await b.sync();
      wall.push(now() - t0);
      rec.push(b.rt.stats.recordMs - s0.recordMs);
      sub.push(b.rt.stats.submitMs - s0.submitMs);
      dispatches = b.rt.dispatches - d0;
      if (g) gpu.push(await g);
      y.dispose();
    }
    const withRead: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = now();
      const y = step();
      await y.read();
      withRead.push(now() - t0);
      y.dispose();
    }
    const ms = median(withRead);
    rows.push({
      variant: name,
      dispatches,
      recordMs: +median(rec).toFixed(2),
      submitMs: +median(sub).toFixed(2),
      gpuMs: gpu.length ? +median(gpu).toFixed(2) : '',
      wallMs: +median(wall).toFixed(2),
      wallReadMs: +ms.toFixed(2),
      tokPerS: +(1000 / ms).toFixed(1),
      gpuGBs: gpu.length ? +(bytes / median(gpu) / 1e6).toFixed(0) : '',
    });
  }
  for (const [name, step] of [['plain', plain], ['fused', fused]] as const) {
    b.rt.profile = new Map();
    step().dispose();
    const prof = await b.rt.profileReport();
    b.rt.profile = null;
    const total = prof.reduce((a, r) => a + r.ms, 0);
    rows.push({ variant: `${name} GPU profile (ms, launches)`, total: +total.toFixed(3), ...Object.fromEntries(prof.map((r) => [r.kernel, `${r.ms} (${r.n})`])) });
  }
  b.rt.flushEvery = 32;
  const lm = await time(b, 20, () => b.linear(x0, lmHead).dispose());
  rows.push({ variant: 'lm_head matvec alone', ms: +lm.toFixed(3), GBs: +((t.vocabSize * H * 2) / lm / 1e6).toFixed(0) });
  for (const L of layers) for (const w of Object.values(L)) w.dispose();
  for (const w of [lmHead, norm, cos, sin, x0]) w.dispose();
  return rows;
}

export async function matmulBench(b: WebGpuBackend, m: number, n: number, k: number): Promise<KernelReport> {
  const x = b.random([m, k], 'f32', 3, 1);
  const w = b.random([n, k], 'bf16', 4, 0.05);
  const sg = b.rt.subgroupMatrix;
  b.rt.subgroupMatrix = false;
  const fit = b.rt.matmulFit;
  b.rt.matmulFit = !fit;
  const msOther = await time(b, 10, () => b.linear(x, w).dispose());
  b.rt.matmulFit = fit;
  const ms = await time(b, 10, () => b.linear(x, w).dispose());
  const r: KernelReport = { m, n, k, ms: +ms.toFixed(3), tflops: +((2 * m * n * k) / ms / 1e9).toFixed(2), [fit ? 'tflopsNoFit' : 'tflopsFit']: +((2 * m * n * k) / msOther / 1e9).toFixed(2) };
  if (sg) {
    // The same product on f16 subgroup matrices: time, and max |difference| / max |f32 result|.
    const ref = b.linear(x, w);
    b.rt.subgroupMatrix = true;
    const got = b.linear(x, w);
    const [a, c] = [await ref.readF32(), await got.readF32()];
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num = Math.max(num, Math.abs(a[i] - c[i]));
      den = Math.max(den, Math.abs(a[i]));
    }
    ref.dispose();
    got.dispose();
    const ms2 = await time(b, 10, () => b.linear(x, w).dispose());
    Object.assign(r, { sgmatMs: +ms2.toFixed(3), sgmatTflops: +((2 * m * n * k) / ms2 / 1e9).toFixed(2), sgmatRelErr: +(num / den).toExponential(2) });
  }
  b.rt.subgroupMatrix = sg;
  x.dispose();
  w.dispose();
  return r;
}

export async function attentionBench(b: WebGpuBackend, t: number, heads: number, hd: number): Promise<KernelReport> {
  const q = b.random([t, heads * hd], 'f32', 5, 1);
  const k = b.random([t, heads * hd], 'f32', 6, 1);
  const v = b.random([t, heads * hd], 'f32', 7, 1);
  const run = () => b.attention(q, k, v, { nHeads: heads, nKvHeads: heads, headDim: hd, scale: hd ** -0.5, kvLen: t, causal: false, segments: [0, t] }).dispose();
  const ms = await time(b, 5, run);
  // The 64×64-tile kernel for comparison, and GPU time of one launch of each (timestamp queries).
  const keep = b.rt.attnRowsMaxHd;
  b.rt.attnRowsMaxHd = 0;
  const msFlash = await time(b, 5, run);
  b.rt.attnRowsMaxHd = keep;
  const gpu: Record<string, number> = {};
  for (const [name, max] of [['gpuMsRows', keep], ['gpuMsFlash', 0]] as const) {
    b.rt.attnRowsMaxHd = max;
    const g = b.rt.gpuTimeOfNextPass();
    run();
    await b.sync(); // submits the timed pass
    if (g) gpu[name] = +(await g).toFixed(3);
  }
  b.rt.attnRowsMaxHd = keep;
  for (const y of [q, k, v]) y.dispose();
  const fl = 4 * t * t * hd * heads;
  return { t, heads, hd, ms: +ms.toFixed(3), tflops: +(fl / ms / 1e9).toFixed(2), msFlash: +msFlash.toFixed(3), ...gpu };
}

/** Fast-matmul tilings swept by fastBench: subgroups (m × n) per workgroup, 16×16 results (m × n) per subgroup. */
export const FAST_TILES: readonly (readonly [number, number, number, number])[] = [
  [2, 2, 4, 4],
  [2, 4, 4, 2],
  [4, 2, 2, 4],
  [2, 2, 4, 2],
  [4, 4, 2, 2],
  [2, 4, 4, 4],
  [2, 2, 2, 4],
];

/**
 * Precision 'fast' kernels against the exact ones on the same GPU (same f16 weights): matmul TFLOP/s for every
 * tiling in FAST_TILES and its error, and attention (vision and text shapes). Leaves b.rt.fastTile at the tiling
 * with the best geometric mean over the shapes, and returns it.
 */
export interface FastChoice {
  readonly matmul: 'direct' | 'staged';
  readonly tile: readonly [number, number, number, number];
  readonly attn: 'direct' | 'staged';
}

export async function fastBench(b: WebGpuBackend, shapes: number[][]): Promise<{ rows: KernelReport[]; best: FastChoice }> {
  const rows: KernelReport[] = [];
  const score = new Map<string, number>();
  const rel = async (p: Tensor, q: Tensor) => {
    const [a, c] = [await p.readF32(), await q.readF32()];
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num = Math.max(num, Math.abs(a[i] - c[i]));
      den = Math.max(den, Math.abs(a[i]));
    }
    return num / (den || 1);
  };
  for (const [m, n, k] of shapes) {
    const x = b.random([m, k], 'f32', 3, 1);
    const w = b.random([n, k], 'bf16', 4, 0.05);
    const fl = 2 * m * n * k;
    b.rt.fast = false;
    const exactMs = await time(b, 5, () => b.linear(x, w).dispose());
    const ref = b.linear(x, w);
    b.rt.fast = true;
    const r: KernelReport = { m, n, k, exactTflops: +(fl / exactMs / 1e9).toFixed(1) };
    for (const kind of ['direct', 'staged'] as const) {
      b.rt.fastMatmul = kind;
      for (const t of FAST_TILES) {
        if (kind === 'staged' && !stagedFits(b, t)) continue;
        b.rt.fastTile = t;
        const ms = await time(b, 5, () => b.linear(x, w).dispose());
        const key = `${kind} ${t.join('x')}`;
        r[key] = +(fl / ms / 1e9).toFixed(1);
        score.set(key, (score.get(key) ?? 0) + Math.log(fl / ms));
      }
      b.rt.fastTile = FAST_TILES[0];
      const got = b.linear(x, w);
      r[`${kind} relErr`] = +(await rel(ref, got)).toExponential(2);
      got.dispose();
    }
    for (const y of [x, w, ref]) y.dispose();
    rows.push(r);
  }
  const bestKey = [...score.entries()].sort((p, q) => q[1] - p[1])[0][0];
  const [kind, tk] = bestKey.split(' ');
  const tile = FAST_TILES.find((t) => t.join('x') === tk)!;
  b.rt.fastTile = tile;
  b.rt.fastMatmul = kind as 'direct' | 'staged';
  const attnScore = { direct: 0, staged: 0 };
  // Attention: the 2B/4B vision tower at 1024² and 448² (16 heads of 64, one segment), 8B vision (72), text prefill.
  for (const [t, nh, nkv, hd, causal] of [[4096, 16, 16, 64, 0], [784, 16, 16, 64, 0], [4096, 16, 16, 72, 0], [1098, 16, 8, 128, 1], [1098, 32, 8, 128, 1]]) {
    const q = b.random([t, nh * hd], 'f32', 5, 1);
    const kk = b.random([t, nkv * hd], 'f32', 6, 1);
    const v = b.random([t, nkv * hd], 'f32', 7, 1);
    const o = { nHeads: nh, nKvHeads: nkv, headDim: hd, scale: hd ** -0.5, kvLen: t, causal: !!causal, segments: causal ? undefined : [0, t] };
    const run = () => b.attention(q, kk, v, o);
    b.rt.fast = false;
    const exactMs = await time(b, 5, () => run().dispose());
    const ref = run();
    b.rt.fast = true;
    const fl = (causal ? 2 : 4) * t * t * hd * nh;
    const row: KernelReport = { attention: `t${t} nh${nh}/${nkv} hd${hd}${causal ? ' causal' : ''}`, exactMs: +exactMs.toFixed(3) };
    for (const kind of ['direct', 'staged'] as const) {
      b.rt.fastAttn = kind;
      const ms = await time(b, 5, () => run().dispose());
      const got = run();
      Object.assign(row, { [`${kind}Ms`]: +ms.toFixed(3), [`${kind}Tflops`]: +(fl / ms / 1e9).toFixed(1), [`${kind}RelErr`]: +(await rel(ref, got)).toExponential(2) });
      if (hd <= 80) attnScore[kind] += Math.log(ms);
      got.dispose();
    }
    rows.push(row);
    for (const y of [q, kk, v, ref]) y.dispose();
  }
  const attn = attnScore.staged <= attnScore.direct ? 'staged' : 'direct';
  b.rt.fastAttn = attn;
  return { rows, best: { matmul: kind as 'direct' | 'staged', tile, attn } };
}

/**
 * Paged decode attention per KV format at the model's head shape: `seqs` sequences of `len` keys, one query row each,
 * over blocks of 16 in shuffled order (as a pool hands them out), and kvWrite of a 512-row prefill chunk into the pool.
 * GB/s counts the key and value bytes the attention reads.
 */
export async function pagedBench(b: WebGpuBackend, nh: number, nkv: number, hd: number, seqs: number, len: number): Promise<KernelReport[]> {
  const BS = 16;
  const w = nkv * hd;
  const per = Math.ceil(len / BS);
  const blocks = seqs * per + 1;
  // Block i of the table → a stride permutation of 1..blocks-1 (deterministic, far from sequential).
  const stride = [7919, 104729, 1299709].find((p) => (blocks - 1) % p !== 0) ?? 1;
  const tbl = Int32Array.from({ length: seqs * per }, (_, i) => 1 + ((i * stride) % (blocks - 1)));
  const batch = {
    blockSize: BS,
    cuQ: Int32Array.from({ length: seqs + 1 }, (_, i) => i),
    kvLen: new Int32Array(seqs).fill(len),
    tblPtr: Int32Array.from({ length: seqs + 1 }, (_, i) => i * per),
    tbl,
  };
  const opts = { nHeads: nh, nKvHeads: nkv, headDim: hd, scale: hd ** -0.5 };
  const q = b.random([seqs, nh * hd], 'f32', 8, 1);
  const chunk = 512;
  const src = b.random([chunk, w], 'f32', 9, 1);
  const rows: KernelReport[] = [];
  for (const dt of ['f32', 'f16', 'q8_0'] as const) {
    const pools = [b.kvAlloc(blocks * BS, w, dt), b.kvAlloc(blocks * BS, w, dt)];
    for (let s0 = BS; s0 < blocks * BS; s0 += chunk) {
      const slots = Int32Array.from({ length: Math.min(chunk, blocks * BS - s0) }, (_, i) => s0 + i);
      const part = slots.length === chunk ? src : b.sliceRows(src, 0, slots.length);
      for (const p of pools) b.kvWrite(p, slots, part);
      if (part !== src) part.dispose();
    }
    const ms = await time(b, 10, () => b.pagedAttention(q, pools[0], pools[1], batch, opts).dispose());
    const n = Math.min(chunk, (blocks - 1) * BS);
    const part = n === chunk ? src : b.sliceRows(src, 0, n);
    const writeMs = await time(b, 5, () => b.kvWrite(pools[0], Int32Array.from({ length: n }, (_, i) => BS + i), part));
    if (part !== src) part.dispose();
    const perValue = dt === 'f32' ? 4 : dt === 'f16' ? 2 : 34 / 32;
    const bytes = seqs * len * 2 * w * perValue;
    rows.push({ kv: dt, seqs, len, nh, nkv, hd, ms: +ms.toFixed(3), gbs: +(bytes / ms / 1e6).toFixed(1), writeRows: n, writeMs: +writeMs.toFixed(3) });
    for (const p of pools) p.dispose();
  }
  q.dispose();
  src.dispose();
  return rows;
}

// WebGPU precision 'fast' (f16 tensor cores) against ref on Dawn: the whole op harness with f16 tolerances for the
// ops the mode changes, and cases shaped for its kernels (tile edges, split K, bias, rows of very different range,
// vision and text attention). Skips with the reason without a GPU adapter or without f16 subgroup matrices.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { RefBackend } from '../../src/backend/ref/index.js';
import { createWebGpuBackend, NoWebGpuError, type WebGpuBackend } from '../../src/backend/webgpu/index.js';
import { toBf16 } from '../../src/tensor/dtype.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { relErr } from '../helpers/compare.js';
import { rng } from '../helpers/rng.js';
import { type OpCase, describeOpSuite } from './opCases.js';

/** f16 activations (11 significant bits) and f16 softmax weights, f32 accumulation: max|Δ| / max|ref|. */
export const FAST_TOL = 3e-3;
const fastOps = /^(linear|attention|linearEx)\b/;

async function fastBackend(): Promise<WebGpuBackend | null> {
  try {
    const b = await createWebGpuBackend({ precision: 'fast' });
    if (b.rt.fast) return b;
    console.warn('webgpu fast-precision tests skipped: this GPU has no f16 subgroup matrices');
    b.destroy();
  } catch (e) {
    if (!(e instanceof NoWebGpuError)) throw e;
    console.warn(`webgpu fast-precision tests skipped: ${e.message}`);
  }
  return null;
}

describeOpSuite('webgpu precision fast (Dawn, Node)', fastBackend, { tol: (c) => (fastOps.test(c.name) ? Math.max(c.tol, FAST_TOL) : undefined) });

function rand(r: () => number, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}
const act = (b: Backend, r: () => number, shape: number[], scale = 1): Tensor => b.upload(rand(r, shape[0] * shape[1], scale), shape, 'f32');
const w16 = (b: Backend, r: () => number, n: number, k: number): Tensor => b.upload(toBf16(rand(r, n * k, 0.5)), [n, k], 'bf16');

/** Rows scaled by 10^(i mod 7 − 3): each row's own power-of-two scale must keep its precision. */
function ranged(b: Backend, r: () => number, m: number, k: number): Tensor {
  const x = rand(r, m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) x[i * k + j] *= 10 ** ((i % 7) - 3);
  return b.upload(x, [m, k], 'f32');
}

const cases: OpCase[] = [
  // Tile edges: M not a multiple of the tile, N a multiple of 16 only (clamped column blocks), several tiles.
  ...[
    [5, 16, 16],
    [77, 64, 48],
    [300, 256, 208],
    [1100, 128, 400],
    [270, 2048, 256], // few tiles: split K
  ].map(([m, k, n]): OpCase => ({ name: `linear fast m${m} k${k} n${n}`, tol: 0, run: (b, r) => b.linear(act(b, r, [m, k]), w16(b, r, n, k)) })),
  { name: 'linear fast bias', tol: 0, run: (b, r) => b.linear(act(b, r, [200, 96]), w16(b, r, 160, 96), b.upload(rand(r, 160), [160], 'f32')) },
  { name: 'linear fast rows of 1e-3..1e3', tol: 0, run: (b, r) => b.linear(ranged(b, r, 140, 128), w16(b, r, 64, 128)) },
  { name: 'linear fast split K with bias', tol: 0, run: (b, r) => b.linear(act(b, r, [40, 4096]), w16(b, r, 64, 4096), b.upload(rand(r, 64), [64], 'f32')) },
  ...[
    { t: 300, s: 300, nh: 4, nkv: 2, hd: 128, causal: true },
    { t: 130, s: 1100, nh: 2, nkv: 1, hd: 128, causal: true }, // a prefill chunk after 970 cached keys
    { t: 1030, s: 1030, nh: 2, nkv: 2, hd: 80, causal: false, seg: [0, 100, 600, 1030] },
    { t: 500, s: 500, nh: 2, nkv: 2, hd: 64, causal: false, seg: [0, 250, 500] },
    { t: 200, s: 200, nh: 2, nkv: 2, hd: 72, causal: false, seg: [0, 70, 200] },
  ].map(
    (c): OpCase => ({
      name: `attention fast t${c.t} s${c.s} hd${c.hd}${c.causal ? ' causal' : ''}${c.seg ? ' segments' : ''}`,
      tol: 0,
      run: (b, r) =>
        b.attention(act(b, r, [c.t, c.nh * c.hd]), act(b, r, [c.s, c.nkv * c.hd]), act(b, r, [c.s, c.nkv * c.hd]), {
          nHeads: c.nh,
          nKvHeads: c.nkv,
          headDim: c.hd,
          scale: c.hd ** -0.5,
          kvLen: c.s,
          causal: c.causal,
          segments: c.seg,
        }),
    }),
  ),
];

describe('webgpu precision fast: tensor-core kernels vs ref', () => {
  let be: WebGpuBackend | null = null;
  beforeAll(async () => {
    be = await fastBackend();
  });
  afterAll(() => be?.destroy());
  // Both operand paths of the matmul and attention kernels: straight from storage, and staged in workgroup memory.
  for (const variant of ['direct', 'staged'] as const) for (const c of cases) {
    it(`${c.name} (${variant})`, async (ctx) => {
      if (!be) return ctx.skip('no f16 subgroup matrices here');
      be.rt.fastMatmul = variant;
      be.rt.fastAttn = variant;
      const ref = new RefBackend();
      const one = (t: Tensor | Tensor[]) => (Array.isArray(t) ? t[0] : t);
      const want = await one(c.run(ref, rng(7))).read();
      const got = await one(c.run(be, rng(7))).read();
      expect(got.length).toBe(want.length);
      const e = relErr(got, want);
      console.log(`${c.name} (${variant}): ${e.toExponential(2)}`);
      expect(e).toBeLessThanOrEqual(FAST_TOL);
    });
  }
});

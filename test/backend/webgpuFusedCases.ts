// Cases for the WebGPU backend's fused decoder ops (linearEx, qkvPost): each is compared with the same computation
// spelled out in contract ops on ref. Shared by the Node test (Dawn) and the browser tier (SwiftShader).
import type { Backend } from '../../src/backend/backend.js';
import type { WebGpuBackend } from '../../src/backend/webgpu/backend.js';
import { toBf16 } from '../../src/tensor/dtype.js';
import { quantize } from '../../src/tensor/quant.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export interface FusedCase {
  readonly name: string;
  readonly tol: number;
  /** The fused op on WebGPU. */
  fused(b: WebGpuBackend, r: () => number): Tensor[];
  /** The same with contract ops (run on ref). */
  plain(b: Backend, r: () => number): Tensor[];
}

const rand = (r: () => number, n: number, s = 1) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * s);
const act = (b: Backend, r: () => number, shape: number[], s = 1) => b.upload(rand(r, shape.reduce((a, c) => a * c, 1), s), shape, 'f32');
const bf = (b: Backend, r: () => number, n: number, k: number) => b.upload(toBf16(rand(r, n * k, 0.5)), [n, k], 'bf16');

/** Decode attention over more keys than one split holds (split-K + merge), GQA, causal with T = 2. */
const longAttention = (b: Backend, r: () => number) => {
  const [t, s, nh, nkv, hd] = [2, 300, 8, 2, 64];
  return [
    b.attention(act(b, r, [t, nh * hd]), act(b, r, [s + 5, nkv * hd]), act(b, r, [s + 5, nkv * hd]), {
      nHeads: nh,
      nKvHeads: nkv,
      headDim: hd,
      scale: hd ** -0.5,
      kvLen: s,
      causal: true,
    }),
  ];
};

/** A prefill-sized linear whose few tiles make the backend split K (k 1040 = 4 slices of 272, bias added after). */
const splitK = (dt: 'bf16' | 'q8_0') => (b: Backend, r: () => number) => {
  const [m, k, n] = [37, 1056, 70];
  const x = act(b, r, [m, k]);
  const wv = rand(r, n * k, 0.5);
  const w = dt === 'bf16' ? b.upload(toBf16(wv), [n, k], 'bf16') : b.upload(quantize(wv, k, 'q8_0'), [n, k], 'q8_0');
  return [b.linear(x, w, act(b, r, [n]))];
};

export const fusedCases: FusedCase[] = [
  { name: 'linear split-K bf16 m37 k1056 n70 + bias (contract op)', tol: 1e-5, fused: splitK('bf16'), plain: splitK('bf16') },
  { name: 'linear split-K q8_0 m37 k1056 n70 + bias (contract op)', tol: 1e-5, fused: splitK('q8_0'), plain: splitK('q8_0') },
  { name: 'attention decode split-K kv300 (contract op)', tol: 1e-5, fused: longAttention, plain: longAttention },
  ...[1, 3].flatMap((m) => [
    {
      name: `linearEx norm+residual m${m}`,
      tol: 1e-5,
      fused: (b: WebGpuBackend, r: () => number) => {
        const [x, w, g, res] = [act(b, r, [m, 256], 3), bf(b, r, 72, 256), act(b, r, [256]), act(b, r, [m, 72])];
        return [b.linearEx(x, w, { norm: { w: g, eps: 1e-6 }, residual: res })];
      },
      plain: (b: Backend, r: () => number) => {
        const [x, w, g, res] = [act(b, r, [m, 256], 3), bf(b, r, 72, 256), act(b, r, [256]), act(b, r, [m, 72])];
        return [b.add(res, b.linear(b.rmsNorm(x, g, 1e-6), w))];
      },
    },
    {
      name: `linearEx swiglu+residual m${m}`,
      tol: 1e-5,
      fused: (b: WebGpuBackend, r: () => number) => {
        const [x, w, res] = [act(b, r, [m, 2 * 160], 3), bf(b, r, 40, 160), act(b, r, [m, 40])];
        return [b.linearEx(x, w, { swiglu: true, residual: res })];
      },
      plain: (b: Backend, r: () => number) => {
        const [x, w, res] = [act(b, r, [m, 2 * 160], 3), bf(b, r, 40, 160), act(b, r, [m, 40])];
        return [b.add(res, b.linear(b.swiglu(x), w))];
      },
    },
  ]),
  {
    name: 'linearEx norm m9 (fallback path)',
    tol: 1e-5,
    fused: (b, r) => {
      const [x, w, g] = [act(b, r, [9, 64], 3), bf(b, r, 33, 64), act(b, r, [64])];
      return [b.linearEx(x, w, { norm: { w: g, eps: 1e-6 } })];
    },
    plain: (b, r) => {
      const [x, w, g] = [act(b, r, [9, 64], 3), bf(b, r, 33, 64), act(b, r, [64])];
      return [b.linear(b.rmsNorm(x, g, 1e-6), w)];
    },
  },
  ...[
    { t: 1, hd: 32, row0: 5 },
    { t: 3, hd: 64, row0: 0 },
  ].map(({ t, hd, row0 }) => {
    const [nh, nkv, cap] = [4, 2, 12];
    const inputs = (b: Backend, r: () => number) => ({
      qkv: act(b, r, [t, (nh + 2 * nkv) * hd], 2),
      qn: act(b, r, [hd]),
      kn: act(b, r, [hd]),
      cos: act(b, r, [t, hd]),
      sin: act(b, r, [t, hd]),
      kc: act(b, r, [cap, nkv * hd]),
      vc: act(b, r, [cap, nkv * hd]),
    });
    return {
      name: `qkvPost t${t} hd${hd} row0 ${row0}`,
      tol: 1e-6,
      fused: (b: WebGpuBackend, r: () => number) => {
        const i = inputs(b, r);
        const q = b.qkvPost(i.qkv, i.qn, i.kn, i.cos, i.sin, 1e-6, i.kc, i.vc, row0, { nHeads: nh, nKvHeads: nkv, headDim: hd });
        return [q, i.kc, i.vc];
      },
      plain: (b: Backend, r: () => number) => {
        const i = inputs(b, r);
        // Columns of qkv as q | k | v through a gather over a [T·heads, hd] view.
        const heads = (first: number, n: number) => {
          const ids = Int32Array.from({ length: t * n }, (_, j) => Math.floor(j / n) * (nh + 2 * nkv) + first + (j % n));
          return b.gatherRows(i.qkv.reshape([t * (nh + 2 * nkv), hd]), b.upload(ids, [ids.length], 'i32')).reshape([t, n * hd]);
        };
        const q = b.rope(b.rmsNorm(heads(0, nh), i.qn, 1e-6), i.cos, i.sin);
        b.writeRows(i.kc, row0, b.rope(b.rmsNorm(heads(nh, nkv), i.kn, 1e-6), i.cos, i.sin));
        b.writeRows(i.vc, row0, heads(nh + nkv, nkv));
        return [q, i.kc, i.vc];
      },
    };
  }),
];

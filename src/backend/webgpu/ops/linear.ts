// linear: y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias). A few rows go to the matrix-vector kernel (decode is bandwidth-bound:
// it must stream the weights once at full speed); more rows to the tiled matmul, with tiles sized to fill the GPU.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, weightFormat } from '../ctx.js';

/** Rows up to which the matrix-vector kernel is used. */
export const MATVEC_MAX_ROWS = 4;

export function linear(c: Ctx, x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  const n = w.rows;
  const k = w.cols;
  if (x.cols !== k) throw new Error(`webgpu.linear: x [${x.shape}] does not match w [${w.shape}] (K = ${k})`);
  if (bias && bias.size !== n) throw new Error(`webgpu.linear: bias of ${bias.size} values for ${n} outputs`);
  const m = x.rows;
  const out = c.make([...x.shape.slice(0, -1), n]);
  const ws = c.store(w);
  const xb = c.act(x, 'linear');
  const bb = bias ? c.vec(bias, 'linear bias') : c.dummy;
  const fmt = weightFormat(w.dtype);
  const vec = k % 8 === 0;
  const bufs = [xb, ws.gb, bb, c.store(out).gb];
  const params = [m, n, k, ws.qoff];
  if (m <= MATVEC_MAX_ROWS && vec) {
    // Threads per row: enough 8-weight chunks per thread to pipeline loads, without idle lanes on short rows.
    const tpr = Math.min(32, Math.max(4, 2 ** Math.floor(Math.log2(k / 8 / 4))));
    const consts = { WG: 256, TPR: tpr, MMAX: m <= 1 ? 1 : MATVEC_MAX_ROWS, BIAS: !!bias };
    c.run({ shader: 'matvec', fmt, bindings: ['r', 'r', 'r', 'w'], consts }, bufs, params, Math.ceil(n / (consts.WG / consts.TPR)));
  } else {
    const big = Math.ceil(m / 128) * Math.ceil(n / 128) >= 264;
    const [bm, bn, tm, tn] = big ? [128, 128, 8, 8] : [64, 64, 4, 4];
    const consts = { BM: bm, BN: bn, BK: 16, TM: tm, TN: tn, VEC: vec, BIAS: !!bias };
    c.run({ shader: 'matmul', fmt, bindings: ['r', 'r', 'r', 'w'], consts }, bufs, params, [Math.ceil(n / bn), Math.ceil(m / bm)]);
  }
  c.done();
  return out;
}

// Fused decoder ops (the contract's optional linearEx/qkvPost; backend/fused.ts defines them by composition): a linear layer with an RMSNorm or SwiGLU
// prologue and a residual epilogue, and the attention prologue (q/k RMSNorm + RoPE + KV-cache write) in one launch.
// Few rows use single fused kernels; many rows fall back to the plain ops (prefill is not launch-bound).

import type { LinearExOptions, QkvHeads } from '../../backend.js';
import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';
import { f32bits } from '../runtime.js';
import { MATVEC_MAX_ROWS, linear, matvec } from './linear.js';
import { rmsNorm } from './rmsNorm.js';
import { swiglu } from './swiglu.js';
import { add } from './add.js';
import { gelu } from './gelu.js';
import { rope } from './rope.js';
import { writeRows } from './rows.js';

/** y = [residual +] act(w · f(x) (+ bias)), f = RMSNorm, SwiGLU or identity; act GELU (plain ops) or none. */
export function linearEx(c: Ctx, x: Tensor, w: Tensor, o: LinearExOptions): Tensor {
  if (o.norm && o.swiglu) throw new Error('webgpu.linearEx: norm and swiglu are exclusive');
  const k = w.cols;
  const m = x.rows;
  const inCols = o.swiglu ? 2 * k : k;
  if (x.cols !== inCols) throw new Error(`webgpu.linearEx: x [${x.shape}] does not match w [${w.shape}]${o.swiglu ? ' (swiglu input is 2K wide)' : ''}`);
  if (o.residual && o.residual.size !== m * w.rows) throw new Error(`webgpu.linearEx: residual [${o.residual.shape}] for output [${m}, ${w.rows}]`);
  if (o.norm && o.norm.w.size !== k) throw new Error(`webgpu.linearEx: norm weight of ${o.norm.w.size} for rows of ${k}`);
  if (m > MATVEC_MAX_ROWS || k % 8 || o.gelu) {
    const a = o.norm ? rmsNorm(c, x, o.norm.w, o.norm.eps) : o.swiglu ? swiglu(c, x) : x;
    let y = linear(c, a, w, o.bias);
    if (a !== x) a.dispose();
    if (o.gelu) {
      const g = gelu(c, y, o.gelu);
      y.dispose();
      y = g;
    }
    if (!o.residual) return y;
    const z = add(c, o.residual, y);
    y.dispose();
    return z;
  }
  const out = c.make([m, w.rows]);
  matvec(c, c.act(x, 'linearEx'), m, w, o.bias ? c.vec(o.bias, 'linearEx bias') : null, c.store(out).gb, {
    norm: o.norm ? { w: c.vec(o.norm.w, 'linearEx norm'), eps: o.norm.eps } : undefined,
    swiglu: o.swiglu,
    residual: o.residual ? c.act(o.residual, 'linearEx residual') : undefined,
  });
  c.done();
  return out;
}

/**
 * From qkv [T, (nh + 2·nkv)·hd]: q = RoPE(RMSNorm(q, qNorm)) returned [T, nh·hd]; k = RoPE(RMSNorm(k, kNorm)) and v
 * written into kCache / vCache rows [row0, row0 + T).
 */
export function qkvPost(c: Ctx, qkv: Tensor, qNorm: Tensor, kNorm: Tensor, cos: Tensor, sin: Tensor, eps: number, kCache: Tensor, vCache: Tensor, row0: number, h: QkvHeads): Tensor {
  const { nHeads: nh, nKvHeads: nkv, headDim: hd } = h;
  const t = qkv.rows;
  const kw = nkv * hd;
  if (qkv.cols !== (nh + 2 * nkv) * hd) throw new Error(`webgpu.qkvPost: qkv [${qkv.shape}] vs ${nh}+2·${nkv} heads of ${hd}`);
  if (kCache.cols !== kw || vCache.cols !== kw || row0 + t > kCache.rows || row0 + t > vCache.rows) {
    throw new Error(`webgpu.qkvPost: caches [${kCache.shape}], [${vCache.shape}] cannot take ${t} rows at ${row0}`);
  }
  if (cos.rows !== t || cos.cols !== hd) throw new Error(`webgpu.qkvPost: cos [${cos.shape}] for ${t} rows of ${hd}`);
  if (hd > 256 || hd % 2) {
    // Unusual head sizes: the plain ops through temporary column blocks.
    const parts = splitCols(c, qkv, [nh * hd, kw, kw]);
    const nq = rmsNorm(c, parts[0], qNorm, eps);
    const nk = rmsNorm(c, parts[1], kNorm, eps);
    const q = rope(c, nq, cos, sin);
    const k = rope(c, nk, cos, sin);
    writeRows(c, kCache, row0, k);
    writeRows(c, vCache, row0, parts[2]);
    for (const x of [...parts, nq, nk, k]) x.dispose();
    return q;
  }
  const q = c.make([t, nh * hd]);
  const bufs = [c.act(qkv, 'qkvPost'), c.vec(qNorm, 'qkvPost'), c.vec(kNorm, 'qkvPost'), c.act(cos, 'qkvPost cos'), c.act(sin, 'qkvPost sin'), c.store(q).gb, c.act(kCache, 'qkvPost'), c.act(vCache, 'qkvPost')];
  c.run({ shader: 'qkv_post', bindings: ['r', 'r', 'r', 'r', 'r', 'w', 'w', 'w'] }, bufs, [t, nh, nkv, hd, row0, f32bits(eps)], [nh + 2 * nkv, t]);
  c.done();
  return q;
}

/** Column blocks of a [T, Σ widths] tensor as separate tensors (copy per row block; fallback path only). */
function splitCols(c: Ctx, x: Tensor, widths: number[]): Tensor[] {
  const t = x.rows;
  const out: Tensor[] = [];
  let off = 0;
  for (const w of widths) {
    const y = c.make([t, w]);
    for (let r = 0; r < t; r++) {
      c.run({ shader: 'copy', bindings: ['r', 'w'] }, [c.act(x, 'qkvPost'), c.store(y).gb], [w, r * w, r * x.cols + off], Math.ceil(w / 256));
    }
    out.push(y);
    off += w;
  }
  c.done();
  return out;
}

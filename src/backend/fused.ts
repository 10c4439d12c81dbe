// Fused decoder ops through the backend's own kernel when it has one, else by composition of contract ops. The
// compositions define what the fused ops mean (and so what backends implementing them are tested against).

import { tidy, type Tensor } from '../tensor/tensor.js';
import type { Backend, LinearExOptions, QkvHeads } from './backend.js';

/** y = [residual +] act(w · f(x) (+ bias)); f = RMSNorm(x), SwiGLU(x) or identity; act = GELU or identity. */
export function linearEx(b: Backend, x: Tensor, w: Tensor, o: LinearExOptions): Tensor {
  if (b.linearEx) return b.linearEx(x, w, o);
  return tidy(() => {
    const a = o.norm ? b.rmsNorm(x, o.norm.w, o.norm.eps) : o.swiglu ? b.swiglu(x) : x;
    const y = b.linear(a, w, o.bias);
    const g = o.gelu ? b.gelu(y, o.gelu) : y;
    return o.residual ? b.add(o.residual, g) : g;
  });
}

/** Row indices into qkv viewed as [T·(nh + 2·nkv), hd] that pick q, k or v heads in token order. */
function headRows(t: number, h: QkvHeads, part: 'q' | 'k' | 'v'): Int32Array {
  const per = h.nHeads + 2 * h.nKvHeads;
  const [first, n] = part === 'q' ? [0, h.nHeads] : part === 'k' ? [h.nHeads, h.nKvHeads] : [h.nHeads + h.nKvHeads, h.nKvHeads];
  const out = new Int32Array(t * n);
  for (let i = 0; i < t; i++) for (let j = 0; j < n; j++) out[i * n + j] = i * per + first + j;
  return out;
}

/** q = RoPE(RMSNorm(q)); k = RoPE(RMSNorm(k)) and v written to the caches at row0. Returns q [T, nh·hd]. */
export function qkvPost(b: Backend, qkv: Tensor, qNorm: Tensor, kNorm: Tensor, cos: Tensor, sin: Tensor, eps: number, kCache: Tensor, vCache: Tensor, row0: number, h: QkvHeads): Tensor {
  if (b.qkvPost) return b.qkvPost(qkv, qNorm, kNorm, cos, sin, eps, kCache, vCache, row0, h);
  const t = qkv.rows;
  return tidy(() => {
    const heads = qkv.reshape([t * (h.nHeads + 2 * h.nKvHeads), h.headDim]);
    const pick = (part: 'q' | 'k' | 'v', n: number) => {
      const idx = headRows(t, h, part);
      return b.gatherRows(heads, b.upload(idx, [idx.length], 'i32')).reshape([t, n * h.headDim]);
    };
    const q = b.rope(b.rmsNorm(pick('q', h.nHeads), qNorm, eps), cos, sin);
    b.writeRows(kCache, row0, b.rope(b.rmsNorm(pick('k', h.nKvHeads), kNorm, eps), cos, sin));
    b.writeRows(vCache, row0, pick('v', h.nKvHeads));
    return q;
  });
}

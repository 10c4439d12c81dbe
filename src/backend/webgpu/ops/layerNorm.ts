// layerNorm: per row (biased variance), one workgroup per row.

import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';
import { f32bits } from '../runtime.js';

export function layerNorm(c: Ctx, x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
  const d = w.size;
  if (x.size % d || b.size !== d) throw new Error(`webgpu.layerNorm: x [${x.shape}], w [${w.shape}], b [${b.shape}]`);
  const out = c.make(x.shape);
  const rows = x.size / d;
  const bufs = [c.act(x, 'layerNorm'), c.vec(w, 'layerNorm'), c.vec(b, 'layerNorm'), c.store(out).gb];
  c.run({ shader: 'layernorm', bindings: ['r', 'r', 'r', 'w'] }, bufs, [rows, d, f32bits(eps)], rows);
  c.done();
  return out;
}

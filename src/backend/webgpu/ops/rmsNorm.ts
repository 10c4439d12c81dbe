// rmsNorm: per row of length w.size (so [T, n·D] with w [D] normalises each head), one workgroup per row.

import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';
import { f32bits } from '../runtime.js';

export function rmsNorm(c: Ctx, x: Tensor, w: Tensor, eps: number): Tensor {
  const d = w.size;
  if (x.size % d) throw new Error(`webgpu.rmsNorm: x [${x.shape}] is not whole rows of ${d}`);
  const out = c.make(x.shape);
  const rows = x.size / d;
  c.run({ shader: 'rmsnorm', bindings: ['r', 'r', 'w'] }, [c.act(x, 'rmsNorm'), c.vec(w, 'rmsNorm'), c.store(out).gb], [rows, d, f32bits(eps)], rows);
  c.done();
  return out;
}

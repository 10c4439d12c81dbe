// gelu: exact (erf) or tanh-approximate.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, wg256 } from '../ctx.js';

export function gelu(c: Ctx, x: Tensor, approximate: 'tanh' | 'none'): Tensor {
  const out = c.make(x.shape);
  c.run({ shader: 'gelu', bindings: ['r', 'w'], consts: { TANH: approximate === 'tanh' } }, [c.act(x, 'gelu'), c.store(out).gb], [x.size], wg256(x.size));
  c.done();
  return out;
}

// swiglu: [M, 2I] -> [M, I], silu(gate) ⊙ up.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, wg256 } from '../ctx.js';

export function swiglu(c: Ctx, x: Tensor): Tensor {
  if (x.cols % 2) throw new Error(`webgpu.swiglu: x [${x.shape}] needs an even last dimension`);
  const half = x.cols / 2;
  const out = c.make([...x.shape.slice(0, -1), half]);
  c.run({ shader: 'swiglu', bindings: ['r', 'w'] }, [c.act(x, 'swiglu'), c.store(out).gb], [out.size, half], wg256(out.size));
  c.done();
  return out;
}

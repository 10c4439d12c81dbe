// add: elementwise a + b over the same element count.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, wg256 } from '../ctx.js';

export function add(c: Ctx, a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new Error(`webgpu.add: [${a.shape}] + [${b.shape}] differ in size`);
  const out = c.make(a.shape);
  c.run({ shader: 'add', bindings: ['r', 'r', 'w'] }, [c.act(a, 'add'), c.act(b, 'add'), c.store(out).gb], [a.size], wg256(a.size));
  c.done();
  return out;
}

// argmax: index of the largest value per row (first on ties), i32 [M].

import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';

export function argmax(c: Ctx, x: Tensor): Tensor {
  const out = c.make([x.rows], 'i32');
  c.run({ shader: 'argmax', bindings: ['r', 'w'] }, [c.act(x, 'argmax'), c.store(out).gb], [x.rows, x.cols], x.rows);
  c.done();
  return out;
}

// rope: rotate-half RoPE over x [T, n·hd] with per-row cos/sin tables [T, hd].

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, wg256 } from '../ctx.js';

export function rope(c: Ctx, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const hd = cos.cols;
  const t = x.rows;
  if (cos.rows !== t || sin.rows !== t || sin.cols !== hd || x.cols % hd || hd % 2) {
    throw new Error(`webgpu.rope: x [${x.shape}] vs cos [${cos.shape}], sin [${sin.shape}]`);
  }
  const out = c.make(x.shape);
  const bufs = [c.act(x, 'rope'), c.act(cos, 'rope cos'), c.act(sin, 'rope sin'), c.store(out).gb];
  c.run({ shader: 'rope', bindings: ['r', 'r', 'r', 'w'] }, bufs, [t, x.cols, hd], wg256(x.size / 2));
  c.done();
  return out;
}

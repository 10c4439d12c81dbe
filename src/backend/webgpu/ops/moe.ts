// moe: out[t] = Σ_j weights[t,j] · down[e] · swiglu(gateUp[e] · x[t]), e = ids[t,j]. Two launches: per routed pair
// the gate/up products and SwiGLU, then per token the k down products summed in registers. Only routed experts'
// rows are read, so decode reads k experts per token.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, weightFormat } from '../ctx.js';

export function moe(c: Ctx, x: Tensor, ids: Tensor, weights: Tensor, gateUp: Tensor, down: Tensor): Tensor {
  const [nE, i2, h] = gateUp.shape;
  const inter = i2 / 2;
  if (x.cols !== h || down.shape[0] !== nE || down.shape[1] !== h || down.shape[2] !== inter) {
    throw new Error(`webgpu.moe: x [${x.shape}], gateUp [${gateUp.shape}], down [${down.shape}]`);
  }
  if (h % 8 || inter % 8) throw new Error(`webgpu.moe: hidden ${h} and expert width ${inter} must be multiples of 8`);
  if (ids.dtype !== 'i32' || ids.rows !== x.rows || weights.size !== ids.size) throw new Error(`webgpu.moe: ids [${ids.shape}] ${ids.dtype}, weights [${weights.shape}] for x [${x.shape}]`);
  const host = c.store(ids).host;
  if (host) for (const e of host) if (e < 0 || e >= nE) throw new Error(`webgpu.moe: expert id ${e} outside [0, ${nE})`);
  const t = x.rows;
  const k = ids.cols;
  const gu = c.store(gateUp);
  const dn = c.store(down);
  const act = c.scratch(t * k * inter * 4);
  const TPR = 32;
  const WG = 256;
  const rows = WG / TPR;
  c.run(
    { shader: 'moe_up', fmt: weightFormat(gateUp.dtype), bindings: ['r', 'r', 'r', 'w'], consts: { WG, TPR } },
    [c.act(x, 'moe'), c.store(ids).gb, gu.gb, act],
    [t, k, h, inter, gu.qoff],
    [Math.ceil(inter / rows), t * k],
  );
  const out = c.make([t, h]);
  c.run(
    { shader: 'moe_down', fmt: weightFormat(down.dtype), bindings: ['r', 'r', 'r', 'r', 'w'], consts: { WG, TPR } },
    [act, c.store(ids).gb, c.act(weights, 'moe weights'), dn.gb, c.store(out).gb],
    [t, k, h, inter, dn.qoff],
    [Math.ceil(h / rows), t],
  );
  c.done();
  return out;
}

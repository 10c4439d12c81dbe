// routerTopk: softmax over each row of router logits, top-k (ties: lower id), weights renormalised to sum 1.

import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';

const EMAX = 1024;

export function routerTopk(c: Ctx, logits: Tensor, k: number): { ids: Tensor; weights: Tensor } {
  const e = logits.cols;
  const t = logits.rows;
  if (e > EMAX) throw new Error(`webgpu.routerTopk: ${e} experts exceed the kernel's ${EMAX}`);
  if (k < 1 || k > Math.min(e, 64)) throw new Error(`webgpu.routerTopk: k = ${k} must be in [1, ${Math.min(e, 64)}]`);
  const ids = c.make([t, k], 'i32');
  const weights = c.make([t, k]);
  const bufs = [c.act(logits, 'routerTopk'), c.store(ids).gb, c.store(weights).gb];
  c.run({ shader: 'router', bindings: ['r', 'w', 'w'], consts: { EMAX: Math.max(128, 2 ** Math.ceil(Math.log2(e))) } }, bufs, [t, e, k], t);
  c.done();
  return { ids, weights };
}

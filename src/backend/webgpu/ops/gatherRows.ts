// gatherRows: out[n] = Σ_j weights[n·k+j] · table[idx[n·k+j]] over a table in any stored format (embeddings,
// bilinear position-embedding taps). Host-uploaded indices are range-checked here, since a kernel cannot throw.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, weightFormat, wg256 } from '../ctx.js';

export function gatherRows(c: Ctx, table: Tensor, idx: Tensor, k = 1, weights?: Tensor): Tensor {
  if (idx.dtype !== 'i32') throw new Error(`webgpu.gatherRows: indices must be i32, got ${idx.dtype}`);
  if (idx.size % k) throw new Error(`webgpu.gatherRows: ${idx.size} indices are not a multiple of k = ${k}`);
  if (weights && weights.size !== idx.size) throw new Error(`webgpu.gatherRows: ${weights.size} weights for ${idx.size} indices`);
  const d = table.cols;
  const rows = table.rows;
  const host = c.store(idx).host;
  if (host) {
    for (const r of host) if (r < 0 || r >= rows) throw new Error(`webgpu.gatherRows: index ${r} outside [0, ${rows})`);
  }
  const n = idx.size / k;
  const out = c.make([n, d]);
  const ts = c.store(table);
  const wb = weights ? c.act(weights, 'gatherRows weights') : c.dummy;
  c.run(
    { shader: 'gather', fmt: weightFormat(table.dtype), bindings: ['r', 'r', 'r', 'w'], consts: { WEIGHTED: !!weights } },
    [ts.gb, c.store(idx).gb, wb, c.store(out).gb],
    [n, d, k, rows, ts.qoff],
    wg256(n * d),
  );
  c.done();
  return out;
}

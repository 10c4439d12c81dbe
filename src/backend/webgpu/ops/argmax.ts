// argmax: index of the largest value per row (first on ties), i32 [M]. Rows longer than one chunk (the vocabulary
// in greedy decoding) are split over many workgroups, then the per-chunk bests are reduced by a second launch.

import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';

/** Columns one workgroup scans. */
const CHUNK = 2048;

export function argmax(c: Ctx, x: Tensor): Tensor {
  const out = c.make([x.rows], 'i32');
  const rows = x.rows;
  const n = x.cols;
  const xb = c.act(x, 'argmax');
  const ob = c.store(out).gb;
  const chunks = Math.ceil(n / CHUNK);
  if (chunks <= 1) {
    // Unused bindings: one buffer cannot be bound read-only and writable in the same dispatch.
    c.run({ shader: 'argmax', bindings: ['r', 'r', 'w', 'w'], consts: { PART: false, MAP: false } }, [xb, c.dummy, ob, c.scratch(16)], [rows, n, Math.max(n, 1), 1], [1, rows]);
  } else {
    const ids = c.scratch(rows * chunks * 4);
    const vals = c.scratch(rows * chunks * 4);
    c.run({ shader: 'argmax', bindings: ['r', 'r', 'w', 'w'], consts: { PART: true, MAP: false } }, [xb, c.dummy, ids, vals], [rows, n, CHUNK, chunks], [chunks, rows]);
    c.run({ shader: 'argmax', bindings: ['r', 'r', 'w', 'w'], consts: { PART: false, MAP: true } }, [vals, ids, ob, c.dummy], [rows, chunks, chunks, 1], [1, rows]);
  }
  c.done();
  return out;
}

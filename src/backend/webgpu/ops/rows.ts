// Row movement: writeRows and sliceRows (a copy kernel, so the compute pass stays open) and scatterRows.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, wg256 } from '../ctx.js';

export function writeRows(c: Ctx, dst: Tensor, row0: number, src: Tensor): void {
  if (src.cols !== dst.cols || row0 < 0 || row0 + src.rows > dst.rows) {
    throw new Error(`webgpu.writeRows: [${src.shape}] at row ${row0} into [${dst.shape}]`);
  }
  c.run({ shader: 'copy', bindings: ['r', 'w'] }, [c.act(src, 'writeRows'), c.act(dst, 'writeRows')], [src.size, row0 * dst.cols, 0], wg256(src.size));
  c.done();
}

export function sliceRows(c: Ctx, x: Tensor, start: number, n: number): Tensor {
  if (start < 0 || n < 0 || start + n > x.rows) throw new Error(`webgpu.sliceRows: [${start}, ${start + n}) of [${x.shape}]`);
  const out = c.make([n, x.cols]);
  c.run({ shader: 'copy', bindings: ['r', 'w'] }, [c.act(x, 'sliceRows'), c.store(out).gb], [out.size, 0, start * x.cols], wg256(out.size));
  c.done();
  return out;
}

export function scatterRows(c: Ctx, dst: Tensor, rows: Tensor, src: Tensor, accumulate: boolean): void {
  if (rows.dtype !== 'i32') throw new Error(`webgpu.scatterRows: rows must be i32, got ${rows.dtype}`);
  if (src.cols !== dst.cols || src.rows !== rows.size) throw new Error(`webgpu.scatterRows: [${src.shape}] by ${rows.size} rows into [${dst.shape}]`);
  const host = c.store(rows).host;
  if (host) {
    for (const r of host) if (r < 0 || r >= dst.rows) throw new Error(`webgpu.scatterRows: row ${r} outside [0, ${dst.rows})`);
    if (accumulate && new Set(host).size !== host.length) throw new Error('webgpu.scatterRows: repeated rows with accumulate are not supported');
  }
  const bufs = [c.act(src, 'scatterRows'), c.store(rows).gb, c.act(dst, 'scatterRows')];
  c.run({ shader: 'scatter', bindings: ['r', 'r', 'w'], consts: { ACC: accumulate } }, bufs, [rows.size, dst.cols, dst.rows], wg256(src.size));
  c.done();
}

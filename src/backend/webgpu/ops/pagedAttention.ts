// pagedAttention over an f32, f16 or q8_0 KV pool (the pool's rows are slots): one workgroup per (head, query row)
// with an online softmax over the row's keys, addressed through its sequence's block table (shaders/attn_paged.wgsl).

import type { PagedAttentionOptions, PagedBatch } from '../../backend.js';
import { checkPagedBatch } from '../../paged.js';
import type { Tensor } from '../../../tensor/tensor.js';
import type { Ctx } from '../ctx.js';
import { type GpuBuf, f32bits } from '../runtime.js';

/** Keys per tile (= workgroup size). */
const CH = 64;
/** The shader's KVF constant per pool format. */
const KVF = { f32: 0, f16: 1, q8_0: 2 } as const;

function pool(c: Ctx, t: Tensor, which: string): GpuBuf {
  if (t.dtype === 'f32') return c.act(t, `pagedAttention ${which}`);
  if ((t.dtype === 'f16' || t.dtype === 'q8_0') && c.store(t).kvPool) return c.store(t).gb;
  throw new Error(`webgpu.pagedAttention: ${which} [${t.shape}] ${t.dtype} is not a KV pool (f32, or f16/q8_0 made by kvAlloc)`);
}

export function pagedAttention(c: Ctx, q: Tensor, kPool: Tensor, vPool: Tensor, p: PagedBatch, o: PagedAttentionOptions): Tensor {
  checkPagedBatch('webgpu', q, kPool, vPool, p, o);
  const { nHeads: nh, nKvHeads: nkv, headDim: hd } = o;
  if (hd % 4 || hd > 128) throw new Error(`webgpu.pagedAttention: head dim ${hd} (needs a multiple of 4, at most 128)`);
  if (kPool.dtype !== vPool.dtype) throw new Error(`webgpu.pagedAttention: key pool ${kPool.dtype} vs value pool ${vPool.dtype}`);
  const n = q.rows;
  // Per row: visible keys and the start of its sequence's table.
  const meta = new Uint32Array(2 * n);
  for (let s = 0; s + 1 < p.cuQ.length; s++) {
    const nq = p.cuQ[s + 1] - p.cuQ[s];
    for (let i = 0; i < nq; i++) {
      const r = p.cuQ[s] + i;
      meta[2 * r] = p.kvLen[s] - nq + i + 1;
      meta[2 * r + 1] = p.tblPtr[s];
    }
  }
  const out = c.make([n, nh * hd]);
  const tbl = p.tbl.length ? Uint32Array.from(p.tbl) : Uint32Array.of(0);
  const bufs = [c.act(q, 'pagedAttention q'), pool(c, kPool, 'kPool'), pool(c, vPool, 'vPool'), c.scratchFrom(meta), c.scratchFrom(tbl), c.store(out).gb];
  c.run({ shader: 'attn_paged', bindings: ['r', 'r', 'r', 'r', 'r', 'w'], consts: { CH, KVF: KVF[kPool.dtype as keyof typeof KVF] } }, bufs, [n, nh, nkv, hd, p.blockSize, nh * hd, nkv * hd, f32bits(o.scale)], [nh, n]);
  c.done();
  return out;
}

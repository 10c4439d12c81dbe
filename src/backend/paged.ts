// Paged KV ops through the backend's own kernels when it has them, else by composition of contract ops over f32
// pools (gather each sequence's keys into rows, then plain causal attention). The compositions are slower, never wrong.

import { tidy, type Tensor } from '../tensor/tensor.js';
import type { Backend, KvDType, PagedAttentionOptions, PagedBatch } from './backend.js';

/** KV formats a backend stores natively (f32 only for backends without paged kernels). */
export function kvDTypes(b: Backend): readonly KvDType[] {
  return b.kvAlloc && b.kvWrite && b.pagedAttention ? ['f32', 'f16', 'q8_0'] : ['f32'];
}

export function kvAlloc(b: Backend, slots: number, width: number, dtype: KvDType): Tensor {
  if (b.kvAlloc) return b.kvAlloc(slots, width, dtype);
  if (dtype !== 'f32') throw new Error(`${b.name}: the KV cache dtype ${dtype} is not supported on this backend (only f32)`);
  return b.zeros([slots, width]);
}

export function kvWrite(b: Backend, pool: Tensor, slots: Int32Array, src: Tensor): void {
  checkSlots(b.name, pool, slots, src);
  if (b.kvWrite) return b.kvWrite(pool, slots, src);
  const idx = b.upload(slots, [slots.length], 'i32');
  b.scatterRows(pool, idx, src, false);
  idx.dispose();
}

export function checkSlots(who: string, pool: Tensor, slots: Int32Array, src: Tensor): void {
  if (src.cols !== pool.cols || src.rows !== slots.length) throw new Error(`${who}.kvWrite: src [${src.shape}] and ${slots.length} slots into [${pool.shape}]`);
  for (const s of slots) if (s < 0 || s >= pool.rows) throw new Error(`${who}.kvWrite: slot ${s} outside the pool of ${pool.rows}`);
}

/** Validate a batch against q and the pools (shapes, table bounds); throws naming the first problem. */
export function checkPagedBatch(who: string, q: Tensor, kPool: Tensor, vPool: Tensor, p: PagedBatch, o: PagedAttentionOptions): void {
  const bad = (why: string) => new Error(`${who}.pagedAttention: ${why}`);
  const nb = p.kvLen.length;
  if (o.nHeads % o.nKvHeads) throw bad(`nHeads ${o.nHeads} is not a multiple of nKvHeads ${o.nKvHeads}`);
  if (q.cols !== o.nHeads * o.headDim) throw bad(`q [${q.shape}] does not hold ${o.nHeads} heads of ${o.headDim}`);
  if (kPool.cols !== o.nKvHeads * o.headDim || vPool.cols !== kPool.cols || vPool.rows !== kPool.rows) throw bad(`pools [${kPool.shape}] / [${vPool.shape}] vs ${o.nKvHeads} kv heads of ${o.headDim}`);
  if (p.cuQ.length !== nb + 1 || p.tblPtr.length !== nb + 1 || p.cuQ[0] !== 0 || p.cuQ[nb] !== q.rows) throw bad(`cuQ/tblPtr must have ${nb + 1} entries from 0 to ${q.rows} rows`);
  if (p.blockSize < 1 || kPool.rows % p.blockSize) throw bad(`block size ${p.blockSize} does not divide the pool's ${kPool.rows} slots`);
  const blocks = kPool.rows / p.blockSize;
  for (let s = 0; s < nb; s++) {
    const nq = p.cuQ[s + 1] - p.cuQ[s];
    if (nq < 0 || nq > p.kvLen[s]) throw bad(`sequence ${s} has ${nq} query rows but ${p.kvLen[s]} keys`);
    if (p.tblPtr[s + 1] - p.tblPtr[s] < Math.ceil(p.kvLen[s] / p.blockSize)) throw bad(`sequence ${s}: ${p.kvLen[s]} keys need ${Math.ceil(p.kvLen[s] / p.blockSize)} blocks`);
  }
  for (const id of p.tbl) if (id < 0 || id >= blocks) throw bad(`block id ${id} outside the pool of ${blocks} blocks`);
}

/** The slots of keys [0, kvLen[s]) of sequence s. */
export function seqSlots(p: PagedBatch, s: number): Int32Array {
  const out = new Int32Array(p.kvLen[s]);
  for (let j = 0; j < out.length; j++) out[j] = p.tbl[p.tblPtr[s] + Math.floor(j / p.blockSize)] * p.blockSize + (j % p.blockSize);
  return out;
}

export function pagedAttention(b: Backend, q: Tensor, kPool: Tensor, vPool: Tensor, p: PagedBatch, o: PagedAttentionOptions): Tensor {
  if (b.pagedAttention) return b.pagedAttention(q, kPool, vPool, p, o);
  checkPagedBatch(b.name, q, kPool, vPool, p, o);
  const out = b.zeros([q.rows, q.cols]);
  for (let s = 0; s + 1 < p.cuQ.length; s++) {
    const nq = p.cuQ[s + 1] - p.cuQ[s];
    if (nq === 0) continue;
    tidy(() => {
      const slots = seqSlots(p, s);
      const idx = b.upload(slots, [slots.length], 'i32');
      const k = b.gatherRows(kPool, idx);
      const v = b.gatherRows(vPool, idx);
      const qs = nq === q.rows ? q : b.sliceRows(q, p.cuQ[s], nq);
      const kvLen = p.kvLen[s];
      b.writeRows(out, p.cuQ[s], b.attention(qs, k, v, { ...o, kvLen, causal: true, qStart: kvLen - nq }));
    });
  }
  return out;
}

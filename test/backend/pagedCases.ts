// Op-harness cases of the paged KV ops: ragged batches of sequences (decode rows, prefill chunks, rows crossing block
// boundaries) over shuffled block tables, GQA groups 1/2/4/8, and every KV storage format (written through kvWrite).

import type { Backend, KvDType, PagedBatch } from '../../src/backend/backend.js';
import { kvAlloc, kvWrite, pagedAttention } from '../../src/backend/paged.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export interface PagedCase {
  name: string;
  tol: number;
  /** The KV format the case needs (backends without it skip the case). */
  kvDType: KvDType;
  run(b: Backend, r: () => number): Tensor;
}

const BS = 16;

/** seqs: [query rows, keys] per sequence. */
function pagedCase(dt: KvDType, nh: number, nkv: number, hd: number, seqs: [number, number][]): PagedCase {
  return {
    name: `pagedAttention ${dt} nh${nh} nkv${nkv} hd${hd} seqs ${seqs.map(([q, k]) => `${q}/${k}`).join(',')}`,
    tol: 1e-5,
    kvDType: dt,
    run: (b, r) => {
      const w = nkv * hd;
      const blocksPer = seqs.map(([, k]) => Math.ceil(k / BS));
      const nBlocks = blocksPer.reduce((a, c) => a + c, 0) + 3;
      // A shuffled permutation of blocks 1.. (block 0 is the null block and stays unused).
      const ids = Array.from({ length: nBlocks - 1 }, (_, i) => i + 1);
      for (let i = ids.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [ids[i], ids[j]] = [ids[j], ids[i]];
      }
      const kPool = kvAlloc(b, nBlocks * BS, w, dt);
      const vPool = kvAlloc(b, nBlocks * BS, w, dt);
      const cuQ = [0];
      const tblPtr = [0];
      const tbl: number[] = [];
      seqs.forEach(([nq, len], s) => {
        const mine = ids.splice(0, blocksPer[s]);
        tbl.push(...mine);
        tblPtr.push(tbl.length);
        cuQ.push(cuQ[cuQ.length - 1] + nq);
        const slots = Int32Array.from({ length: len }, (_, j) => mine[Math.floor(j / BS)] * BS + (j % BS));
        const rand = () => b.upload(Float32Array.from({ length: len * w }, () => r() * 2 - 1), [len, w], 'f32');
        kvWrite(b, kPool, slots, rand());
        kvWrite(b, vPool, slots, rand());
      });
      const batch: PagedBatch = { blockSize: BS, cuQ: Int32Array.from(cuQ), kvLen: Int32Array.from(seqs.map(([, k]) => k)), tblPtr: Int32Array.from(tblPtr), tbl: Int32Array.from(tbl) };
      const n = cuQ[cuQ.length - 1];
      const q = b.upload(Float32Array.from({ length: n * nh * hd }, () => r() * 2 - 1), [n, nh * hd], 'f32');
      return pagedAttention(b, q, kPool, vPool, batch, { nHeads: nh, nKvHeads: nkv, headDim: hd, scale: hd ** -0.5 });
    },
  };
}

export const pagedCases: PagedCase[] = (['f32', 'f16', 'q8_0'] as const).flatMap((dt) => [
  // Decode rows of ragged sequences: one key, block boundaries (15/16/17), a tile boundary (64/65), many tiles.
  pagedCase(dt, 4, 4, 32, [[1, 1], [1, 16], [1, 17], [1, 65], [1, 200]]),
  pagedCase(dt, 8, 4, 64, [[1, 15], [1, 33]]),
  // A prefill chunk after cached keys, next to decode rows; a whole prompt crossing blocks and tiles.
  pagedCase(dt, 16, 4, 64, [[1, 40], [24, 70], [1, 3]]),
  pagedCase(dt, 8, 1, 128, [[70, 70], [1, 129]]),
  pagedCase(dt, 16, 2, 96, [[3, 19], [1, 64]]),
  // Long contexts over many-block tables: decode rows at 4100 keys (257 shuffled blocks) and past the split-KV
  // threshold, and a prefill chunk deep into a long table, as after a prefix-cache hit (narrow rows keep ref quick).
  pagedCase(dt, 8, 2, 64, [[1, 4100], [1, 513]]),
  pagedCase(dt, 4, 1, 64, [[32, 2500], [1, 700]]),
]);

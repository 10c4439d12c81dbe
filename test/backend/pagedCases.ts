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
  run(b: Backend, r: () => number): Tensor | Tensor[];
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

/** The f32 next to x (toward +∞ when up). */
function nextF32(x: number, up: boolean): number {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  if (x === 0) u[0] = up ? 1 : -2147483647;
  else u[0] += (x > 0) === up ? 1 : -1;
  return f[0];
}

/** Rows of 96 values (three q8_0 blocks, so rows do not start on a 4-byte word) that probe the rounding of a format. */
function roundingRows(dt: KvDType, r: () => number): number[][] {
  const rows: number[][] = [];
  const fill = (f: (i: number) => number) => rows.push(Array.from({ length: 96 }, (_, i) => Math.fround(f(i))));
  if (dt === 'f16') {
    // Ties and neighbours of ties between f16 values near 1 (nearest even), near 65504 (overflow), in subnormals.
    const tie = (base: number, ulp: number) => (i: number) => {
      const v = base + ((i >> 2) + 0.5) * ulp;
      const x = (i & 3) === 1 ? nextF32(v, true) : (i & 3) === 2 ? nextF32(v, false) : v;
      return (i & 3) === 3 ? -x : x;
    };
    fill(tie(1, 2 ** -10));
    fill(tie(2 ** 15, 32));
    fill((i) => (i < 48 ? 65504 + (i % 3) * 7.99 : -65504 - (i % 3) * 7.99));
    fill(tie(0, 2 ** -24));
    fill(tie(2 ** -14 - 20 * 2 ** -24, 2 ** -24)); // across the normal/subnormal boundary
  } else {
    // Scale 127·2^e: exact ties, rounded half toward +∞ (Math.round) on both signs; and ties of random scales ± 1 ulp.
    fill((i) => (i % 32 === 0 ? 127 : ((i % 127) - 63.5) * (i < 64 ? 1 : -1)));
    fill((i) => (i % 32 === 0 ? 127 / 8 : ((i * 37) % 254 - 126.5) / 8));
    for (let k = 0; k < 4; k++) {
      const amax = [Math.fround(0.1 + r()), Math.fround(1000 * r() + 1), Math.fround(3e-3 * (r() + 0.1)), Math.fround(r() * 2e-5)][k];
      fill((i) => {
        if (i % 32 === 0) return i & 32 ? -amax : amax;
        const v = Math.fround((Math.floor(r() * 127) + 0.5) * (amax / 127));
        const x = i % 3 === 0 ? v : nextF32(v, i % 3 === 1);
        return r() < 0.5 ? -x : x;
      });
    }
    // A zero block, a block of f32 subnormals, a block whose scale is an f16 subnormal.
    fill((i) => (i < 32 ? 0 : i < 64 ? (r() * 2 - 1) * 1e-39 : (r() * 2 - 1) * 5e-4));
  }
  return rows;
}

/**
 * kvWrite's rounding, seen through pagedAttention of one key (the output row is the stored value row): crafted rows
 * written over random ones into adjacent slots (block size 1), one output per row so tiny rows are judged on their own.
 */
function roundingCase(dt: KvDType): PagedCase {
  return {
    name: `kvWrite ${dt} rounding: ties, neighbours of ties, overflow and subnormals, over adjacent rewritten slots`,
    tol: 1e-6,
    kvDType: dt,
    run: (b, r) => {
      const rows = roundingRows(dt, r);
      const n = rows.length;
      const w = 96;
      const kPool = kvAlloc(b, n + 2, w, dt);
      const vPool = kvAlloc(b, n + 2, w, dt);
      const slots = Int32Array.from({ length: n }, (_, i) => i + 1);
      const noise = () => b.upload(Float32Array.from({ length: n * w }, () => r() * 2 - 1), [n, w], 'f32');
      kvWrite(b, kPool, slots, noise());
      kvWrite(b, vPool, slots, noise());
      kvWrite(b, kPool, slots, noise());
      kvWrite(b, vPool, slots, b.upload(Float32Array.from(rows.flat()), [n, w], 'f32'));
      return rows.map((_, i) => {
        const batch: PagedBatch = { blockSize: 1, cuQ: Int32Array.of(0, 1), kvLen: Int32Array.of(1), tblPtr: Int32Array.of(0, 1), tbl: Int32Array.of(i + 1) };
        const q = b.upload(Float32Array.from({ length: 2 * w }, () => r() * 2 - 1), [1, 2 * w], 'f32');
        return pagedAttention(b, q, kPool, vPool, batch, { nHeads: 2, nKvHeads: 1, headDim: w, scale: w ** -0.5 });
      });
    },
  };
}

export const pagedCases: PagedCase[] = (['f32', 'f16', 'q8_0'] as const).flatMap((dt) => [
  roundingCase(dt),
  // Decode rows of ragged sequences: one key, block boundaries (15/16/17), a tile boundary (64/65), many tiles.
  pagedCase(dt, 4, 4, 32, [[1, 1], [1, 16], [1, 17], [1, 65], [1, 200]]),
  pagedCase(dt, 8, 4, 64, [[1, 15], [1, 33]]),
  // A prefill chunk after cached keys, next to decode rows; a whole prompt crossing blocks and tiles.
  pagedCase(dt, 16, 4, 64, [[1, 40], [24, 70], [1, 3]]),
  pagedCase(dt, 8, 1, 128, [[70, 70], [1, 129]]),
  pagedCase(dt, 16, 2, 96, [[3, 19], [1, 64]]),
  // Heads of 48 in rows of three q8_0 blocks: a head starts mid-block, and rows start off 4-byte words.
  pagedCase(dt, 4, 2, 48, [[1, 37], [5, 21]]),
  // Heads of 40 (not whole vectors): q8_0 decode rows then take the staged tile, whose vectors may cross blocks.
  pagedCase(dt, 8, 4, 40, [[1, 37], [3, 21]]),
  // Long contexts over many-block tables: decode rows at 4100 keys (257 shuffled blocks) and past the split-KV
  // threshold, and a prefill chunk deep into a long table, as after a prefix-cache hit (narrow rows keep ref quick).
  pagedCase(dt, 8, 2, 64, [[1, 4100], [1, 513]]),
  pagedCase(dt, 4, 1, 64, [[32, 2500], [1, 700]]),
]);

// The native kernels a batched decode step runs are batch-independent to the bit: every row of a prefill chunk through
// paged attention (tiles shared by up to 16 rows and, for f16/q8_0, converted once and read by 4 rows at a time) equals
// the same row alone as a one-row decode, in every KV format; q8_0/q4_0 matrix-vector products of up to 8 rows (weights unpacked once for all
// rows; on AVX-512 VNNI a different kernel from the one-row one) equal each row alone. Per ISA build. The scheduler's "batched equals solo" exactness rests on this.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backend/cpu/index.js';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { kvAlloc, kvWrite, pagedAttention } from '../../src/backend/paged.js';
import type { KvDType, PagedBatch } from '../../src/backend/backend.js';
import { quantize } from '../../src/tensor/quant.js';
import { rng } from '../helpers/rng.js';

const addon = loadAddon();

describe.skipIf(addon instanceof Error)('cpu pagedAttention: a chunk row equals the same row alone', () => {
  for (const isa of ['avx512', 'avx2', 'scalar']) {
    for (const dt of ['f32', 'f16', 'q8_0'] as KvDType[]) {
      it(`${isa} ${dt}`, async (ctx) => {
        let b: CpuBackend;
        try {
          b = new CpuBackend({ isa });
        } catch {
          return ctx.skip(`this CPU lacks ${isa}`);
        }
        const r = rng(7);
        // Head layouts: 4, 2 and 16 query heads per kv head (one row scores a key for 8 heads at a time: 2, 4 or 1 kv
        // heads in each 8), and 6 heads of their own (the blocks of keys per kv head instead); the rows that see a whole
        // converted tile run 4 at a time, the others alone.
        for (const [nh, nkv, hd] of [[8, 2, 64], [16, 8, 32], [16, 1, 32], [6, 6, 32]]) {
          const w = nkv * hd, bs = 16, len = 150, nq = 40;
          const blocks = Math.ceil(len / bs);
          const ids = Array.from({ length: blocks }, (_, i) => blocks - i); // reversed: runs never cross blocks in order
          const kPool = kvAlloc(b, (blocks + 1) * bs, w, dt);
          const vPool = kvAlloc(b, (blocks + 1) * bs, w, dt);
          const slots = Int32Array.from({ length: len }, (_, j) => ids[Math.floor(j / bs)] * bs + (j % bs));
          const rand = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
          kvWrite(b, kPool, slots, b.upload(rand(len * w), [len, w], 'f32'));
          kvWrite(b, vPool, slots, b.upload(rand(len * w), [len, w], 'f32'));
          const qAll = rand(nq * nh * hd);
          const o = { nHeads: nh, nKvHeads: nkv, headDim: hd, scale: hd ** -0.5 };
          const run = async (q: Float32Array, rows: number, kvLen: number) => {
            const batch: PagedBatch = { blockSize: bs, cuQ: Int32Array.of(0, rows), kvLen: Int32Array.of(kvLen), tblPtr: Int32Array.of(0, blocks), tbl: Int32Array.from(ids) };
            return (await pagedAttention(b, b.upload(q, [rows, nh * hd], 'f32'), kPool, vPool, batch, o).read()) as Float32Array;
          };
          const chunk = await run(qAll, nq, len);
          for (let i = 0; i < nq; i++) {
            const row = qAll.subarray(i * nh * hd, (i + 1) * nh * hd);
            const alone = await run(Float32Array.from(row), 1, len - nq + i + 1);
            expect(Array.from(alone), `${nh}/${nkv} heads, row ${i}`).toEqual(Array.from(chunk.subarray(i * nh * hd, (i + 1) * nh * hd)));
          }
        }
        b.destroy();
      });
    }
  }
});

describe.skipIf(addon instanceof Error)('cpu linear (quantized weights, ≤ 8 rows): each row equals the row alone', () => {
  for (const isa of ['avx512', 'avx2', 'scalar']) {
    for (const fmt of ['q4_0', 'q8_0'] as const) {
      it(`${isa} ${fmt}`, async (ctx) => {
        let b: CpuBackend;
        try {
          b = new CpuBackend({ isa });
        } catch {
          return ctx.skip(`this CPU lacks ${isa}`);
        }
        const r = rng(11);
        // Blocks per row: 8 (one run of 8, half a 512-bit group), 16 (one group), 35 (four runs of 8 and a per-block
        // tail of 3 in a masked group), 44 (a group with one whole run and a tail of 4), 192 (the 2B MLP's down).
        for (const k of [256, 512, 1120, 1408, 6144]) {
          const n = 45;
          const w = b.upload(quantize(Float32Array.from({ length: n * k }, () => r() * 2 - 1), k, fmt), [n, k], fmt);
          const x = Float32Array.from({ length: 24 * k }, () => (r() * 2 - 1) * 2);
          const alone: Float32Array[] = [];
          for (let m = 0; m < 24; m++) alone.push((await b.linear(b.upload(x.slice(m * k, (m + 1) * k), [1, k], 'f32'), w).read()) as Float32Array);
          // Up to 24 rows (a busy server's decode step) stay on the matrix-vector kernel, 8 rows per pass.
          for (const rows of [2, 3, 5, 8, 13, 24]) {
            const y = (await b.linear(b.upload(x.slice(0, rows * k), [rows, k], 'f32'), w).read()) as Float32Array;
            for (let m = 0; m < rows; m++) expect(Array.from(y.subarray(m * n, (m + 1) * n)), `K ${k}, ${rows} rows, row ${m}`).toEqual(Array.from(alone[m]));
          }
        }
        b.destroy();
      });
    }
  }
});

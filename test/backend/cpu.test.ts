// The op harness on the native CPU backend, once per ISA build this machine can run (avx512, avx2, scalar), plus
// the exact path (activation quantization off) and a bit-level check of the q8-activation products.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backend/cpu/index.js';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { quantize, dequantize } from '../../src/tensor/quant.js';
import { toBf16, widen } from '../../src/tensor/dtype.js';
import { describeOpSuite, type OpCase } from './opCases.js';
import { relErr } from '../helpers/fixtures.js';
import { rng } from '../helpers/rng.js';

const addon = loadAddon();
if (addon instanceof Error) console.warn(`cpu backend tests skipped: ${addon.message}`);

function tryMake(opts: ConstructorParameters<typeof CpuBackend>[0]): CpuBackend | null {
  if (addon instanceof Error) return null;
  try {
    return new CpuBackend(opts);
  } catch {
    return null; // this CPU lacks the ISA
  }
}

// q8 activations against q8_0/q4_0 weights round x to 8 bits per 32-value block (~0.4% of the block's max), so
// products on the matrix-vector path (≤ 8 rows) differ from ref's f32 activations by about 1e-3 of the output range;
// MoE rounds twice (x, then the SwiGLU output). The exact suites and the emulation test below pin the arithmetic.
const actQuantTol = (c: OpCase): number | undefined => (/^linear(Ex)? q[48]_0/.test(c.name) ? 1e-2 : /^moe q[48]_0/.test(c.name) ? 3e-2 : undefined);
// Precision 'fast' rounds the activations of products against bf16 weights to bf16 (2^-9 relative per value; the sums
// stay f32: GEMMs, matrix-vector products, MoE experts, which round twice), and in the non-causal tiled attention (the
// vision tower; hd a multiple of 32) q·scale, K, V and the probabilities: 2–3e-3 of the output range. The emulation
// test below pins the products' arithmetic itself.
const fastTol = (c: OpCase): number | undefined => (/^linear( bf16| bias$)|^linearEx (norm|bf16)|^moe bf16|^attention (segments|vision)/.test(c.name) ? 5e-3 : actQuantTol(c));

for (const isa of ['avx512', 'avx2', 'scalar']) {
  const available = tryMake({ isa });
  available?.destroy();
  if (!available && !(addon instanceof Error)) {
    describe.skip(`op harness: cpu[${isa}] (this CPU lacks ${isa})`, () => it('skipped', () => {}));
    continue;
  }
  describeOpSuite(`cpu[${isa}]`, async () => tryMake({ isa }), { tol: actQuantTol });
  describeOpSuite(`cpu[${isa}] exact (no activation quantization)`, async () => tryMake({ isa, actQuant: false }));
  // avx512: AMX-BF16 or AVX512-BF16 GEMMs where the CPU has them; avx2 (and CPUs without either): the same kernels as the default.
  if (isa !== 'scalar') describeOpSuite(`cpu[${isa}] precision fast`, async () => tryMake({ isa, precision: 'fast' }), { tol: fastTol });
}

/** What the backend computes for q8 activations: the activation format (f32 scale amax/127, quants rounded half to even). */
function actQuantRef(x: Float32Array): Float32Array {
  const xq = new Float32Array(x.length);
  for (let blk = 0; blk < x.length / 32; blk++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[blk * 32 + i]));
    const d = Math.fround(amax / 127);
    const id = amax ? Math.fround(127 / amax) : 0;
    for (let i = 0; i < 32; i++) {
      const v = Math.fround(x[blk * 32 + i] * id);
      const q = Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v);
      xq[blk * 32 + i] = q * d;
    }
  }
  return xq;
}

/** Σ_k xq·w in double: Σ d_w·d_x·Σ q_w·q_x up to the f32 sums of the kernels. */
function q8Products(xq: Float32Array, w: Float32Array, m: number, k: number, n: number): Float32Array {
  const want = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let c = 0; c < k; c++) s += xq[i * k + c] * w[j * k + c];
    want[i * n + j] = s;
  }
  return want;
}

// Shapes of the int8 GEMMs (more than 24 rows; below that the matrix-vector kernels run): K of one block, rows off the
// 4- (AVX2) and 6-row (VNNI) micro-tiles, partial 16/32-row weight panels (packed in groups of eight rows: 77 ends in
// a group of five), one to three 16-block K chunks, last micro-panels of one to three rows (AVX2 q8_0 lays four rows
// out together as i16 k-pairs).
const int8GemmShapes = [[29, 32, 17], [45, 96, 70], [37, 1056, 50], [61, 544, 130], [33, 64, 77], [26, 64, 40], [31, 96, 24]];

describe('cpu backend specifics', () => {
  // Shapes: the matrix-vector path (3 rows), and on avx512 and avx2 the int8 GEMM.
  it.skipIf(addon instanceof Error)('q8-activation products equal Σ d_w·d_x·Σ q_w·q_x exactly (up to f32 sums)', async () => {
    for (const isa of ['avx512', 'avx2', 'scalar']) {
      const b = tryMake({ isa });
      if (!b) continue;
      const shapes = isa === 'scalar' ? [[3, 256, 37]] : [[3, 256, 37], ...int8GemmShapes];
      for (const [m, k, n] of shapes) {
        const r = rng(99 + m);
        const x = Float32Array.from({ length: m * k }, () => (r() * 2 - 1) * 3);
        for (const fmt of ['q8_0', 'q4_0'] as const) {
          const wq = quantize(Float32Array.from({ length: n * k }, () => r() * 2 - 1), k, fmt);
          const want = q8Products(actQuantRef(x), dequantize(wq, n, k, fmt), m, k, n);
          const got = await b.linear(b.upload(x, [m, k], 'f32'), b.upload(wq, [n, k], fmt)).read();
          expect(relErr(got, want), `${isa} ${fmt} m${m} k${k} n${n}`).toBeLessThan(2e-6);
        }
      }
      b.destroy();
    }
  });

  // The AVX2 kernels' narrow sums cannot overflow: q8_0 multiplies i16 k-pairs into i32 lanes (a pair ≤ 2·128·127 =
  // 32512; w = −128 is a legal q8_0 quant, though our encoder never writes it; activations never reach −128); q4_0's
  // i16 lanes hold Σ (n − 8)·x over 16 products, ≤ 16·8·127 = 16256. Blocks at those extremes, both signs, against
  // the exact products.
  it.skipIf(addon instanceof Error)('int8 GEMM at the i16 extremes: q8_0 quants −128/127, q4_0 nibbles 0/15, activations ±127', async () => {
    const [m, k, n] = [29, 96, 20];
    const x = new Float32Array(m * k);
    // Row i: every value ±1 (each block's amax, so every quant is ±127); rows alternate all-negative, all-positive,
    // and sign patterns, so pairs of products reach +32512 and −32512.
    for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) x[i * k + c] = i % 3 === 0 ? -1 : i % 3 === 1 ? 1 : (c >> (i % 5)) & 1 ? 1 : -1;
    const q8 = new Uint8Array((n * k * 34) / 32);
    const q4 = new Uint8Array((n * k * 18) / 32);
    const w8 = new Float32Array(n * k), w4 = new Float32Array(n * k);
    for (let j = 0; j < n; j++) for (let blk = 0; blk < k / 32; blk++) {
      const o8 = (j * (k / 32) + blk) * 34, o4 = (j * (k / 32) + blk) * 18;
      q8[o8 + 1] = 0x20; // f16 2^-7, little-endian 0x2000
      q4[o4 + 1] = 0x20;
      for (let c = 0; c < 32; c++) {
        const lo8 = j % 4 === 0 || (j % 4 === 2 && (c & 1) === 0); // −128 else 127
        const q = lo8 ? -128 : 127;
        q8[o8 + 2 + c] = q & 0xff;
        w8[j * k + blk * 32 + c] = q / 128;
      }
      for (let c = 0; c < 16; c++) {
        const nib = (half: number) => (j % 3 === 0 ? 0 : j % 3 === 1 ? 15 : (c + half) & 1 ? 15 : 0);
        q4[o4 + 2 + c] = nib(0) | (nib(1) << 4);
        w4[j * k + blk * 32 + c] = (nib(0) - 8) / 128;
        w4[j * k + blk * 32 + c + 16] = (nib(1) - 8) / 128;
      }
    }
    const want8 = q8Products(actQuantRef(x), w8, m, k, n), want4 = q8Products(actQuantRef(x), w4, m, k, n);
    let ran = 0;
    for (const isa of ['avx512', 'avx2']) {
      const b = tryMake({ isa });
      if (!b) continue;
      const xt = b.upload(x, [m, k], 'f32');
      expect(relErr(await b.linear(xt, b.upload(q8, [n, k], 'q8_0')).read(), want8), `${isa} q8_0`).toBeLessThan(2e-6);
      expect(relErr(await b.linear(xt, b.upload(q4, [n, k], 'q4_0')).read(), want4), `${isa} q4_0`).toBeLessThan(2e-6);
      b.destroy();
      ran++;
    }
    expect(ran, 'no AVX2 or AVX-512 build runs on this CPU').toBeGreaterThan(0);
  });

  // Both int8 GEMMs add each block's exact integer sums × d_w·d_x into f32 in the same order: bit-identical outputs.
  it.skipIf(addon instanceof Error)('the AVX2 and AVX-512 int8 GEMMs give bit-identical outputs', async (ctx) => {
    const a2 = tryMake({ isa: 'avx2' }), a5 = tryMake({ isa: 'avx512' });
    if (!a2 || !a5) {
      a2?.destroy();
      a5?.destroy();
      return ctx.skip('this CPU lacks AVX-512 VNNI (or AVX2): only one int8 GEMM runs here');
    }
    for (const [m, k, n] of [...int8GemmShapes, [1030, 64, 300]]) {
      const r = rng(7 + m);
      const x = Float32Array.from({ length: m * k }, () => (r() * 2 - 1) * 3);
      const bias = Float32Array.from({ length: n }, () => r() - 0.5);
      for (const fmt of ['q8_0', 'q4_0'] as const) {
        const wq = quantize(Float32Array.from({ length: n * k }, () => r() * 2 - 1), k, fmt);
        const run = (b: CpuBackend) => b.linear(b.upload(x, [m, k], 'f32'), b.upload(wq, [n, k], fmt), b.upload(bias, [n], 'f32')).read();
        const [g2, g5] = [await run(a2), await run(a5)];
        let differ = 0;
        for (let i = 0; i < g2.length; i++) if (!Object.is(g2[i], g5[i])) differ++;
        expect(differ, `${fmt} m${m} k${k} n${n}: outputs that differ`).toBe(0);
      }
    }
    a2.destroy();
    a5.destroy();
  });

  it.skipIf(addon instanceof Error)("precision 'fast': bf16-weight GEMMs and matrix-vector products equal x rounded to bf16 (nearest even) times w, f32 sums", async (ctx) => {
    const b = tryMake({ precision: 'fast' })!;
    if (!b.capabilities().info.bf16Products) {
      b.destroy();
      return ctx.skip('this CPU has neither AMX-BF16 nor AVX512-BF16 (precision fast computes as exact here; the op harness covers it)');
    }
    // Partial 32-row groups and 32-column panels, one and several 512-deep K blocks, two tasks, bias; NaN/±0 inputs.
    // 1–4 rows take the matrix-vector kernel (decode): whole 64-weight steps and masked tails (K 70, 1088, 2).
    for (const [m, k, n] of [[5, 64, 40], [45, 96, 70], [33, 1088, 37], [1030, 64, 300], [1, 2048, 33], [1, 70, 40], [3, 1088, 37], [4, 2, 5]]) {
      const r = rng(7 + m);
      const x = Float32Array.from({ length: m * k }, () => (r() * 2 - 1) * 3);
      const wf = Float32Array.from({ length: n * k }, () => r() * 2 - 1);
      const bias = Float32Array.from({ length: n }, () => r() - 0.5);
      const wb = toBf16(wf);
      const w = widen(wb, 'bf16');
      const xr = widen(toBf16(x), 'bf16');
      const want = new Float32Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let c = 0; c < k; c++) s += xr[i * k + c] * w[j * k + c];
        want[i * n + j] = s + bias[j];
      }
      const got = await b.linear(b.upload(x, [m, k], 'f32'), b.upload(wb, [n, k], 'bf16'), b.upload(bias, [n], 'f32')).read();
      expect(relErr(got, want), `m${m} k${k} n${n}`).toBeLessThan(2e-6);
      // Weights packed at load (the vision tower's panels) take the same products.
      const packed = b.packWeight(b.upload(wb, [n, k], 'bf16'));
      const gotP = await b.linear(b.upload(x, [m, k], 'f32'), packed, b.upload(bias, [n], 'f32')).read();
      expect(relErr(gotP, want), `packed m${m} k${k} n${n}`).toBeLessThan(2e-6);
    }
    // An odd K has no whole k-pairs: it computes as 'exact' (the f32 GEMM, or the matrix-vector kernel for 1–4 rows),
    // equal to the exact backend bit for bit.
    const e = tryMake({ precision: 'exact' })!;
    const r = rng(3);
    for (const [m, k, n] of [[20, 33, 40], [1, 33, 40]]) {
      const x = Float32Array.from({ length: m * k }, () => r() * 2 - 1);
      const wb = toBf16(Float32Array.from({ length: n * k }, () => r() * 2 - 1));
      const run = async (be: CpuBackend) => be.linear(be.upload(x, [m, k], 'f32'), be.upload(wb, [n, k], 'bf16')).read();
      expect(Array.from(await run(b)), `m${m} k${k}`).toEqual(Array.from(await run(e)));
    }
    e.destroy();
    b.destroy();
  });

  it.skipIf(addon instanceof Error)('uploadConvert quantizes bit-identically to quant.ts', async () => {
    const b = tryMake({})!;
    const r = rng(5);
    const x = Float32Array.from({ length: 64 * 96 }, () => (r() * 2 - 1) * 4);
    for (const fmt of ['q8_0', 'q4_0'] as const) {
      const t = b.uploadConvert(x, 'f32', [64, 96], fmt);
      // Compare through a product with the identity: rows decode exactly.
      const eye = new Float32Array(96 * 96);
      for (let i = 0; i < 96; i++) eye[i * 96 + i] = 1;
      const host = b.upload(quantize(x, 96, fmt), [64, 96], fmt);
      const a = await b.gatherRows(t, b.upload(Int32Array.from({ length: 64 }, (_, i) => i), [64], 'i32')).read();
      const c = await b.gatherRows(host, b.upload(Int32Array.from({ length: 64 }, (_, i) => i), [64], 'i32')).read();
      expect(Array.from(a)).toEqual(Array.from(c));
      expect(Array.from(a)).toEqual(Array.from(dequantize(quantize(x, 96, fmt), 64, 96, fmt)));
    }
    b.destroy();
  });

  it.skipIf(addon instanceof Error)('a large buffer reusing a freed mapping reads as zeros when asked for zeros', async () => {
    const b = tryMake({})!;
    const n = 3 << 20; // 12 MiB: the mapped (reusable) size class
    for (let round = 0; round < 3; round++) {
      const full = b.upload(new Float32Array(n).fill(round + 1), [n], 'f32');
      expect((await full.read())[n - 1]).toBe(round + 1);
      full.dispose(); // its mapping goes to the reuse cache
      const z = await b.zeros([n]).read();
      expect(z.every((v) => v === 0)).toBe(true);
    }
    b.destroy();
  });

  it.skipIf(addon instanceof Error)('reports bad indices on the next read and stays usable', async () => {
    const b = tryMake({})!;
    const table = b.upload(new Float32Array(12), [3, 4], 'f32');
    const bad = b.gatherRows(table, b.upload(Int32Array.from([0, 7]), [2], 'i32'));
    await expect(bad.read()).rejects.toThrow(/index 7 outside \[0, 3\)/);
    const ok = b.add(table, table);
    expect(Array.from(await ok.read())).toEqual(new Array(12).fill(0));
    b.destroy();
  });
});

// The ref backend defines the op semantics, so it is checked against independent computations and known values.
import { describe, expect, it } from 'vitest';
import { RefBackend, erf } from '../../src/backend/ref/index.js';
import { quantize, dequantize } from '../../src/tensor/quant.js';
import { tidy } from '../../src/tensor/tensor.js';
import { rng } from '../helpers/rng.js';

const b = new RefBackend();
const f = (xs: number[], shape: number[]) => b.upload(Float32Array.from(xs), shape, 'f32');

describe('ref backend', () => {
  it('erf matches tabulated values to 1e-15', () => {
    // Values from Abramowitz & Stegun table 7.1 (and erf(3) to 16 digits).
    const table: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [2.5, 0.9995930479825550],
      [3, 0.9999779095030014],
      [-1.5, -0.9661051464753108],
    ];
    for (const [x, v] of table) expect(Math.abs(erf(x) - v)).toBeLessThan(1e-15);
  });

  it('linear computes x·Wᵀ + b', async () => {
    const y = b.linear(f([1, 2, 3, 4, 5, 6], [2, 3]), f([1, 0, 0, 0, 1, 1], [2, 3]), f([10, 20], [2]));
    expect(Array.from(await y.read())).toEqual([11, 25, 14, 31]);
  });

  it('attention: causal GQA equals an explicit softmax', async () => {
    // One kv head shared by 2 query heads, hd 2; second query row sees both keys.
    const q = f([1, 0, 0, 1, 0.5, 0.5, 1, 1], [2, 4]);
    const k = f([1, 0, 0, 1], [2, 2]);
    const v = f([1, 2, 3, 4], [2, 2]);
    const o = await b.attention(q, k, v, { nHeads: 2, nKvHeads: 1, headDim: 2, scale: 1, kvLen: 2, causal: true }).read();
    expect(Array.from(o.subarray(0, 4))).toEqual([1, 2, 1, 2]);
    const w = (s0: number, s1: number) => [Math.exp(s0) / (Math.exp(s0) + Math.exp(s1)), Math.exp(s1) / (Math.exp(s0) + Math.exp(s1))];
    const [a0, a1] = w(0.5, 0.5);
    const [c0, c1] = w(1, 1);
    const want = [a0 * 1 + a1 * 3, a0 * 2 + a1 * 4, c0 * 1 + c1 * 3, c0 * 2 + c1 * 4];
    want.forEach((x, i) => expect(o[4 + i]).toBeCloseTo(x, 6));
  });

  it('routerTopk: softmax, top-k, renormalised', async () => {
    const { ids, weights } = b.routerTopk(f([0, Math.log(3), Math.log(2), Math.log(3)], [1, 4]), 2);
    expect(Array.from(await ids.read())).toEqual([1, 3]); // tie broken by lower id
    Array.from(await weights.read()).forEach((w) => expect(w).toBeCloseTo(0.5, 6));
  });

  it('rope rotates pairs (d, d+hd/2)', async () => {
    const th = 0.3;
    const cos = f([Math.cos(th), 1, Math.cos(th), 1], [1, 4]);
    const sin = f([Math.sin(th), 0, Math.sin(th), 0], [1, 4]);
    const y = await b.rope(f([1, 5, 2, 7], [1, 4]), cos, sin).read();
    expect(y[0]).toBeCloseTo(Math.cos(th) - 2 * Math.sin(th), 6);
    expect(y[2]).toBeCloseTo(2 * Math.cos(th) + Math.sin(th), 6);
    expect([y[1], y[3]]).toEqual([5, 7]);
  });

  it('q8_0 and q4_0 round-trip within their rounding step (plus the f16 rounding of the scale)', () => {
    const r = rng(7);
    const x = Float32Array.from({ length: 4 * 64 }, () => r() * 2 - 1);
    // q4_0 maps the largest-magnitude value to -8, so a value of the opposite sign near it clamps at +7: one step.
    for (const [fmt, levels, steps] of [['q8_0', 127, 0.5], ['q4_0', 8, 1]] as const) {
      const y = dequantize(quantize(x, 64, fmt), 4, 64, fmt);
      for (let blk = 0; blk < x.length / 32; blk++) {
        let amax = 0;
        for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[blk * 32 + i]));
        const step = amax / levels;
        for (let i = 0; i < 32; i++) expect(Math.abs(x[blk * 32 + i] - y[blk * 32 + i])).toBeLessThanOrEqual(step * (steps + levels * 2 ** -11));
      }
    }
  });

  it('tidy disposes intermediates and keeps results', () => {
    let inner: ReturnType<typeof f> | undefined;
    const out = tidy(() => {
      inner = f([1, 2], [1, 2]);
      return b.add(inner, inner);
    });
    expect(inner!.disposed).toBe(true);
    expect(out.disposed).toBe(false);
  });
});

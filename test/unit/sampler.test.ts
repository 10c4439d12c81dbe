// Sampler: seeded draws follow the filtered softmax distribution; filters and penalties do what they say.
import { describe, expect, it } from 'vitest';
import { Sampler, SamplingError } from '../../src/generate/sampler.js';

const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);

function freq(s: Sampler, l: Float32Array, n = 20000): number[] {
  const c = new Array(l.length).fill(0);
  for (let i = 0; i < n; i++) c[s.sample(l, [], [])]++;
  return c.map((x) => x / n);
}

describe('Sampler', () => {
  it('temperature 1 draws from softmax(logits) (within 4 standard errors)', () => {
    const f = freq(new Sampler({ temperature: 1, seed: 1 }), logits);
    [0.5, 0.3, 0.15, 0.05].forEach((p, i) => expect(Math.abs(f[i] - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / 20000)));
  });

  it('temperature sharpens: T = 0.5 squares then renormalises', () => {
    const q = [0.25, 0.09, 0.0225, 0.0025];
    const z = q.reduce((a, b) => a + b);
    const f = freq(new Sampler({ temperature: 0.5, seed: 2 }), logits);
    q.forEach((x, i) => expect(Math.abs(f[i] - x / z)).toBeLessThan(4 * Math.sqrt(((x / z) * (1 - x / z)) / 20000) + 1e-9));
  });

  it('top-k, top-p and min-p restrict the support', () => {
    expect(freq(new Sampler({ topK: 2, seed: 3 }), logits).slice(2)).toEqual([0, 0]);
    // top_p 0.8: 0.5 + 0.3 reaches 0.8 → two tokens, renormalised to 0.625 / 0.375.
    const f = freq(new Sampler({ topP: 0.8, seed: 4 }), logits);
    expect(f.slice(2)).toEqual([0, 0]);
    expect(Math.abs(f[0] - 0.625)).toBeLessThan(0.015);
    // min_p 0.35: keeps p ≥ 0.175 → tokens 0 and 1.
    expect(freq(new Sampler({ minP: 0.35, seed: 5 }), logits).slice(2)).toEqual([0, 0]);
  });

  it('temperature 0 is argmax, ties to the lower id', () => {
    expect(new Sampler({ temperature: 0 }).sample(Float32Array.from([1, 3, 3, 2]), [], [])).toBe(1);
  });

  it('the same seed gives the same sequence; another seed another one', () => {
    const seq = (seed: number) => {
      const s = new Sampler({ seed });
      return Array.from({ length: 50 }, () => s.sample(logits, [], []));
    };
    expect(seq(42)).toEqual(seq(42));
    expect(seq(42)).not.toEqual(seq(43));
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const l = Float32Array.from([2, -1, 1.9, 0]);
    // Without penalty token 0 wins; with 1.5 on seen {0, 1}: 2/1.5 = 1.33 < 1.9 → token 2.
    expect(new Sampler({ temperature: 0 }).sample(l, [0, 1], [])).toBe(0);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.5 }).sample(l, [0, 1], [])).toBe(2);
  });

  it('presence and frequency penalties count generated tokens only', () => {
    const l = Float32Array.from([2, 1.5, 0]);
    expect(new Sampler({ temperature: 0, presencePenalty: 0.6 }).sample(l, [0], [])).toBe(0);
    expect(new Sampler({ temperature: 0, presencePenalty: 0.6 }).sample(l, [0], [0])).toBe(1);
    expect(new Sampler({ temperature: 0, frequencyPenalty: 0.2 }).sample(l, [], [0, 0])).toBe(0);
    expect(new Sampler({ temperature: 0, frequencyPenalty: 0.2 }).sample(l, [], [0, 0, 0])).toBe(1);
  });

  it('rejects bad options with the option name', () => {
    expect(() => new Sampler({ topP: 0 })).toThrow(SamplingError);
    expect(() => new Sampler({ temperature: -1 })).toThrow(/temperature must be a number ≥ 0/);
    expect(() => new Sampler({ topK: 1.5 })).toThrow(/topK must be an integer/);
  });
});

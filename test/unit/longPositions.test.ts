// MRoPE positions at long lengths (spec §5.3 rules written out by hand): an image 200K tokens in and a video after
// it in a 300K-token prompt, every position checked, and decoding continuing past 262,144 with the prompt's delta.
import { describe, expect, it } from 'vitest';
import { decodePositions, ropeIndex } from '../../src/models/qwen3vl/positions.js';

const I = 9; // image token
const V = 8; // video token
const T = 1; // any text token
const tok = { imageTokenId: I, videoTokenId: V, spatialMergeSize: 2 };

describe('MRoPE positions at long lengths', () => {
  it('a 300K-token prompt: text, a 32×32-token image at 200,000, text, a 2-group 16×24 video, text', () => {
    const A = 200_000;
    const B = 79_000;
    const GAP = 5; // timestamp text between the video's temporal groups
    const C = 20_000;
    const ids: number[] = [];
    const push = (id: number, n: number) => {
      for (let i = 0; i < n; i++) ids.push(id);
    };
    push(T, A);
    push(I, 32 * 32);
    push(T, B);
    push(V, 16 * 24);
    push(T, GAP);
    push(V, 16 * 24);
    push(T, C);
    const S = ids.length;
    expect(S).toBe(A + 1024 + B + 2 * 384 + GAP + C);
    const r = ropeIndex(ids, tok, [[1, 64, 64]], [[2, 32, 48]]);
    const [pt, ph, pw] = r.positions;
    // Expected, walking the layout by hand: text advances all axes by 1; a block sits at (p, p+row, p+col) and
    // advances p by max(rows, cols).
    const want = (i: number): [number, number, number] => {
      if (i < A) return [i, i, i];
      let j = i - A;
      if (j < 1024) return [A, A + Math.floor(j / 32), A + (j % 32)];
      let p = A + 32;
      j -= 1024;
      if (j < B) return [p + j, p + j, p + j];
      p += B;
      j -= B;
      if (j < 384) return [p, p + Math.floor(j / 24), p + (j % 24)];
      p += 24;
      j -= 384;
      if (j < GAP) return [p + j, p + j, p + j];
      p += GAP;
      j -= GAP;
      if (j < 384) return [p, p + Math.floor(j / 24), p + (j % 24)];
      p += 24;
      j -= 384;
      return [p + j, p + j, p + j];
    };
    let bad = 0;
    for (let i = 0; i < S; i++) {
      const [t, h, w] = want(i);
      if (pt[i] !== t || ph[i] !== h || pw[i] !== w) bad++;
    }
    expect(bad).toBe(0);
    const last = A + 32 + B + 24 + GAP + 24 + C; // max position + 1
    expect(r.ropeDelta).toBe(last - S);
    expect(r.ropeDelta).toBe(32 - 1024 + 2 * (24 - 384));
    // Decoding continues at cache length + delta on all three axes, past 2^18 and beyond.
    const d = decodePositions(S, 3, r.ropeDelta);
    expect(d.map((a) => Array.from(a))).toEqual([0, 1, 2].map(() => [last, last + 1, last + 2]));
    const far = decodePositions(1_000_000, 1, r.ropeDelta);
    expect(far[0][0]).toBe(1_000_000 + r.ropeDelta);
  });

  it('a long text-only prompt has delta 0 and positions 0..S−1', () => {
    const S = 262_144;
    const r = ropeIndex(new Int32Array(S).fill(T), tok);
    expect(r.ropeDelta).toBe(0);
    expect(r.positions[1][S - 1]).toBe(S - 1);
    expect(r.positions.every((a) => a.every((v, i) => v === i))).toBe(true);
  });
});

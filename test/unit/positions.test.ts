// MRoPE position ids on hand-made sequences: the expected values follow spec §5.3's rules written out by hand.
import { describe, expect, it } from 'vitest';
import { ropeIndex, InputError } from '../../src/models/qwen3vl/positions.js';

const I = 9; // image token
const V = 8; // video token
const tok = { imageTokenId: I, videoTokenId: V, spatialMergeSize: 2 };
const T = 1; // any text token
const rows = (r: ReturnType<typeof ropeIndex>) => r.positions.map((a) => Array.from(a));

describe('ropeIndex', () => {
  it('spec worked example: 4 text, a (1,4,4) image, 3 text', () => {
    const r = ropeIndex([T, T, T, T, I, I, I, I, T, T, T], tok, [[1, 4, 4]]);
    expect(rows(r)).toEqual([
      [0, 1, 2, 3, 4, 4, 4, 4, 6, 7, 8],
      [0, 1, 2, 3, 4, 4, 5, 5, 6, 7, 8],
      [0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8],
    ]);
    expect(r.ropeDelta).toBe(-2);
  });

  it('tall image (merged 3×1) then text advances by the height', () => {
    const r = ropeIndex([T, I, I, I, T], tok, [[1, 6, 2]]);
    expect(rows(r)).toEqual([
      [0, 1, 1, 1, 4],
      [0, 1, 2, 3, 4],
      [0, 1, 1, 1, 4],
    ]);
    expect(r.ropeDelta).toBe(0);
  });

  it('wide image (merged 1×3) then text advances by the width', () => {
    const r = ropeIndex([I, I, I, T, T], tok, [[1, 2, 6]]);
    expect(rows(r)).toEqual([
      [0, 0, 0, 3, 4],
      [0, 0, 0, 3, 4],
      [0, 1, 2, 3, 4],
    ]);
  });

  it('two images back to back consume one grid each', () => {
    const r = ropeIndex([I, I, I, I, I, T], tok, [[1, 2, 2], [1, 4, 4]]);
    // first: 1 token at 0, P → 1; second 2×2 at 1: (1,1,1) (1,1,2) (1,2,1) (1,2,2), P → 3; text 3.
    expect(rows(r)).toEqual([
      [0, 1, 1, 1, 1, 3],
      [0, 1, 1, 2, 2, 3],
      [0, 1, 2, 1, 2, 3],
    ]);
    expect(r.ropeDelta).toBe(4 - 6);
  });

  it('a video of 3 temporal groups: each group a block with t = P, timestamps as text between', () => {
    // <ts> V V <ts> V V <ts> V V text, grid (3, 2, 4): each group is 1×2 merged tokens.
    const ids = [T, V, V, T, V, V, T, V, V, T];
    const r = ropeIndex(ids, tok, [], [[3, 2, 4]]);
    expect(rows(r)).toEqual([
      [0, 1, 1, 3, 4, 4, 6, 7, 7, 9],
      [0, 1, 1, 3, 4, 4, 6, 7, 7, 9],
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    ]);
    expect(r.ropeDelta).toBe(0);
  });

  it('images and video interleaved', () => {
    const r = ropeIndex([V, I, T, V], tok, [[1, 2, 2]], [[2, 2, 2]]);
    expect(rows(r)).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
  });

  it('names count mismatches and bad grids', () => {
    expect(() => ropeIndex([I, I, I], tok, [[1, 4, 4]])).toThrow(/needs 4 consecutive image tokens, but the run at token 0 has 3/);
    expect(() => ropeIndex([I, T, I], tok, [[1, 2, 2]])).toThrow(/more image token runs than the 1 image grid/);
    expect(() => ropeIndex([T], tok, [[1, 2, 2]])).toThrow(/1 image grid\(s\) given, but the prompt holds 0/);
    expect(() => ropeIndex([I], tok, [[1, 3, 2]])).toThrow(/divisible by the merge size 2/);
    expect(() => ropeIndex([I], tok, [[1, 2]])).toThrow(InputError);
    expect(() => ropeIndex([V], tok, [], [[2, 2, 2]])).toThrow(/the video grids hold 2 temporal group\(s\), but the prompt holds 1/);
  });
});

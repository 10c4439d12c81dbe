// Prefix keys: the block hash chain and the media content hashes. Different media never share a key; the same text
// and media always do; a change anywhere changes that block's key and every later one; block-size edges.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { blockKeys, chainSeed, mediaHash, mediaItems, type MediaPrompt } from '../../src/generate/prefixKeys.js';

const I = 9; // image token
const V = 8; // video token
const tok = { imageTokenId: I, videoTokenId: V, spatialMergeSize: 2 };
const DIM = 6; // values per patch (small for the test)
const seed = chainSeed('test-model/f32');

/** Pixels for a grid, filled from `v`. */
const px = (grid: number[], v: (i: number) => number) => Float32Array.from({ length: grid[0] * grid[1] * grid[2] * DIM }, (_, i) => v(i));
/** Text tokens 100.. then an image of `grid` (h·w/4 placeholders) then text. */
function prompt(before: number[], grid: number[], pixels: Float32Array, after: number[]): MediaPrompt {
  const n = (grid[1] * grid[2]) / 4;
  return { inputIds: [...before, ...Array<number>(n).fill(I), ...after], pixelValues: pixels, imageGridThw: [grid] };
}
const keysOf = (p: MediaPrompt, bs = 4) => blockKeys(p.inputIds, mediaItems(p, tok), bs, seed);
const text = (n: number, base = 100) => Array.from({ length: n }, (_, i) => base + i);

describe('mediaHash', () => {
  it('is the full SHA-256 of a framed header and the pixel bytes (pure hash at first, Node\'s once loaded)', async () => {
    const p = px([1, 2, 2], (i) => i / 7);
    const h = createHash('sha256');
    h.update(`qwen3-vl media v1\0image\x001,2,2\0cfg\0${p.length}\0`);
    h.update(new Uint8Array(p.buffer));
    const want = h.digest('hex');
    expect(mediaHash('image', p, [1, 2, 2], 'cfg')).toBe(want);
    await new Promise((r) => setTimeout(r, 50)); // node:crypto is loaded asynchronously
    expect(mediaHash('image', p, [1, 2, 2], 'cfg')).toBe(want);
    expect(mediaHash('image', p.subarray(4), [1, 1, 2], 'cfg')).toBe(createHash('sha256').update(`qwen3-vl media v1\0image\x001,1,2\0cfg\0${p.length - 4}\0`).update(new Uint8Array(p.buffer, 16)).digest('hex'));
  });

  it('differs for one changed value, another grid with the same bytes, other settings, or image vs video', () => {
    const p = px([1, 4, 4], (i) => i);
    const base = mediaHash('image', p, [1, 4, 4], 's');
    const q = p.slice();
    q[q.length - 1] = Math.fround(q[q.length - 1] + 1e-3);
    expect(mediaHash('image', q, [1, 4, 4], 's')).not.toBe(base);
    expect(mediaHash('image', p, [1, 2, 8], 's')).not.toBe(base);
    expect(mediaHash('image', p, [1, 4, 4], 's2')).not.toBe(base);
    expect(mediaHash('video', p, [1, 4, 4], 's')).not.toBe(base);
    // -0 and +0 are different bytes: the hash is over bytes, never values rounded to something shorter.
    const z = new Float32Array(p.length);
    const nz = z.map(() => -0);
    expect(mediaHash('image', z, [1, 4, 4], 's')).not.toBe(mediaHash('image', nz, [1, 4, 4], 's'));
  });
});

describe('mediaItems', () => {
  it('splits pixel values per item and finds runs; a video has one run per temporal patch', () => {
    const a = px([1, 4, 4], (i) => i);
    const b = px([1, 2, 4], (i) => -i);
    const v = px([2, 2, 2], (i) => i * 3);
    const ids = [1, I, I, I, I, 2, V, 3, V, 4, I, I];
    const items = mediaItems({ inputIds: ids, pixelValues: Float32Array.of(...a, ...b), imageGridThw: [[1, 4, 4], [1, 2, 4]], pixelValuesVideos: v, videoGridThw: [[2, 2, 2]] }, tok);
    expect(items.map((x) => [x.kind, x.runs])).toEqual([
      ['image', [[1, 4]]],
      ['image', [[10, 2]]],
      ['video', [[6, 1], [8, 1]]],
    ]);
    expect(Array.from(items[1].pixels)).toEqual(Array.from(b));
    expect(items[0].hash).toBe(mediaHash('image', a, [1, 4, 4], ''));
  });

  it('refuses ids that do not match the grids', () => {
    expect(() => mediaItems({ inputIds: [I, I, I], pixelValues: px([1, 4, 4], () => 0), imageGridThw: [[1, 4, 4]] }, tok)).toThrow(/needs runs of 4/);
    expect(() => mediaItems({ inputIds: [1, 2], pixelValues: px([1, 4, 4], () => 0), imageGridThw: [[1, 4, 4]] }, tok)).toThrow(/fewer placeholder runs/);
    expect(() => mediaItems({ inputIds: [I, I, I, I], pixelValues: new Float32Array(5), imageGridThw: [[1, 4, 4]] }, tok)).toThrow(/do not split/);
  });
});

describe('blockKeys', () => {
  const img = px([1, 4, 4], (i) => Math.sin(i));
  const other = img.slice();
  other[17] = -other[17];

  it('two different images never share a key from the block holding the image on', () => {
    const a = keysOf(prompt(text(6), [1, 4, 4], img, text(10, 200)));
    const b = keysOf(prompt(text(6), [1, 4, 4], other, text(10, 200)));
    expect(a).toHaveLength(5); // 20 tokens / 4
    expect(b[0]).toBe(a[0]); // block 0: text only
    for (let i = 1; i < a.length; i++) expect(b[i]).not.toBe(a[i]);
    // Not even the same key anywhere else in the chain.
    expect(new Set([...a.slice(1), ...b.slice(1)]).size).toBe(8);
  });

  it('the same text and the same image give the same keys (pixels copied into another buffer)', () => {
    const a = keysOf(prompt(text(6), [1, 4, 4], img, text(10, 200)));
    const b = keysOf(prompt(text(6), [1, 4, 4], Float32Array.from(img), text(10, 200)));
    expect(b).toEqual(a);
    // A longer conversation extends the chain: its first keys are the shorter one's.
    const c = keysOf(prompt(text(6), [1, 4, 4], img, text(30, 200)));
    expect(c.slice(0, a.length)).toEqual(a);
    expect(c.length).toBeGreaterThan(a.length);
  });

  it('a change before an image changes that block and every later block key', () => {
    const a = keysOf(prompt(text(6), [1, 4, 4], img, text(10, 200)));
    const t = text(6);
    t[5] = 999; // block 1
    const b = keysOf(prompt(t, [1, 4, 4], img, text(10, 200)));
    expect(b[0]).toBe(a[0]);
    for (let i = 1; i < a.length; i++) expect(b[i]).not.toBe(a[i]);
  });

  it('the same image at another offset, or with another grid, gives other keys', () => {
    const a = keysOf(prompt(text(4), [1, 4, 4], img, text(12, 200)));
    const shifted = keysOf(prompt(text(5), [1, 4, 4], img, text(11, 200)));
    expect(shifted[0]).toBe(a[0]);
    for (let i = 1; i < a.length; i++) expect(shifted[i]).not.toBe(a[i]);
    // Same ids (4 placeholders) and same pixel bytes, but the grid says 2×8 patches: other positions, other KV.
    const regrid = keysOf(prompt(text(4), [1, 2, 8], img, text(12, 200)));
    expect(regrid[0]).toBe(a[0]);
    for (let i = 1; i < a.length; i++) expect(regrid[i]).not.toBe(a[i]);
  });

  it('a placeholder run split across blocks keys both blocks with its offset', () => {
    // Block size 3: the 4 placeholders at 2..5 cover blocks 0 (offset 2) and 1 (offset −1).
    const p = prompt(text(2), [1, 4, 4], img, text(3, 200));
    const q = prompt(text(2), [1, 4, 4], other, text(3, 200));
    const a = keysOf(p, 3);
    const b = keysOf(q, 3);
    expect(a).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(b[i]).not.toBe(a[i]);
  });

  it('block-size edges: only full blocks are keyed; size 1 keys every token; resuming continues the chain', () => {
    const ids = text(16);
    expect(blockKeys(ids, [], 4, seed)).toHaveLength(4);
    expect(blockKeys(ids.slice(0, 15), [], 4, seed)).toHaveLength(3);
    expect(blockKeys(ids.slice(0, 3), [], 4, seed)).toHaveLength(0);
    expect(blockKeys([], [], 4, seed)).toEqual([]);
    expect(blockKeys(ids, [], 16, seed)).toHaveLength(1);
    expect(blockKeys(ids, [], 17, seed)).toHaveLength(0);
    const one = blockKeys(ids, [], 1, seed);
    expect(new Set(one).size).toBe(16);
    const all = blockKeys(ids, [], 4, seed);
    expect(blockKeys(ids, [], 4, seed, 2, all[1])).toEqual(all.slice(2));
    expect(() => blockKeys(ids, [], 0, seed)).toThrow(/blockSize/);
    // Another seed (model, weights, KV dtype) shares nothing.
    expect(blockKeys(ids, [], 4, chainSeed('other/f16')).some((k) => all.includes(k))).toBe(false);
  });
});

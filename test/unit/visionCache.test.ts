// The vision-feature cache's bookkeeping: bytes never exceed the budget, least recently used out first, an entry
// larger than the budget is not kept, counters add up.
import { describe, expect, it } from 'vitest';
import { VisionCache } from '../../src/generate/visionCache.js';

/** Features of `tokens` rows of width 4 with 2 DeepStack levels: 3 · tokens · 4 floats = 48 · tokens bytes. */
const feats = (tokens: number, v = 0) => ({ tokens, merged: new Float32Array(tokens * 4).fill(v), deepstack: [new Float32Array(tokens * 4), new Float32Array(tokens * 4)] });

describe('VisionCache', () => {
  it('evicts least recently used entries to stay within its byte budget', () => {
    const c = new VisionCache(48 * 10); // room for 10 tokens
    c.put('a', feats(4));
    c.put('b', feats(4));
    expect(c.stats()).toMatchObject({ entries: 2, bytes: 48 * 8 });
    expect(c.get('a')?.tokens).toBe(4); // a is now the most recent
    c.put('c', feats(4)); // needs b out
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    expect(c.get('c')).toBeDefined();
    expect(c.stats()).toMatchObject({ entries: 2, bytes: 48 * 8, evictions: 1, hits: 3, misses: 1 });
    expect(c.stats().bytes).toBeLessThanOrEqual(c.capacityBytes);
  });

  it('does not keep an entry larger than the budget, and replacing a key frees its old bytes', () => {
    const c = new VisionCache(48 * 10);
    c.put('a', feats(4));
    c.put('huge', feats(11));
    expect(c.get('huge')).toBeUndefined();
    expect(c.get('a')).toBeDefined(); // nothing was evicted for it
    c.put('a', feats(2, 1));
    expect(c.stats()).toMatchObject({ entries: 1, bytes: 48 * 2 });
    expect(c.get('a')!.merged[0]).toBe(1);
    c.clear();
    expect(c.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('a zero budget stores nothing; bad budgets are refused', () => {
    const c = new VisionCache(0);
    c.put('a', feats(1));
    expect(c.get('a')).toBeUndefined();
    expect(() => new VisionCache(-1)).toThrow(/non-negative/);
    expect(() => VisionCache.ofMb(Number.NaN)).toThrow(/visionCacheMb/);
    expect(VisionCache.ofMb(1.5).capacityBytes).toBe(1_500_000);
  });
});

// The paged KV cache's bookkeeping on its own: allocation, freeing (tail first, LRU order), exhaustion, preemption
// (release and re-reserve), invariants; and the paged composition (gather + attention) against ref's paged kernel.
import { describe, expect, it } from 'vitest';
import { BlockPool, PagedKv, SeqBlocks, kvBytesPerToken } from '../../src/nn/kvPool.js';
import { RefBackend } from '../../src/backend/ref/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { pagedCases } from '../backend/pagedCases.js';
import { rng } from '../helpers/rng.js';

describe('BlockPool', () => {
  it('hands out every block but the null block, all or nothing', () => {
    const p = new BlockPool(5, 16);
    expect(p.capacity).toBe(4);
    const a = p.allocate(3)!;
    expect(a).toEqual([1, 2, 3]);
    expect(p.allocate(2)).toBeNull(); // only one left: nothing taken
    expect(p.freeBlocks).toBe(1);
    expect(p.allocate(1)).toEqual([4]);
    expect(p.allocate(1)).toBeNull();
    p.check([a, [4]]);
  });

  it('frees tail first; an uncached block freed goes to the front of the queue (reused first)', () => {
    const p = new BlockPool(6, 16);
    const a = p.allocate(3)!; // 1 2 3
    const b = p.allocate(2)!; // 4 5
    p.free(a); // tail first, each to the front: queue 1 2 3
    expect(p.allocate(1)).toEqual([1]);
    p.free(b); // queue: 4 5 2 3
    expect(p.allocate(4)).toEqual([4, 5, 2, 3]);
    expect(p.usedBlocks).toBe(5);
    p.check();
  });

  it('counts references and refuses bad frees', () => {
    const p = new BlockPool(4, 16);
    const [x] = p.allocate(1)!;
    p.retain(x);
    p.free([x]);
    expect(p.refCount(x)).toBe(1);
    expect(p.freeBlocks).toBe(2);
    p.free([x]);
    expect(p.freeBlocks).toBe(3);
    expect(() => p.free([x])).toThrow(/not allocated/);
    expect(() => p.free([0])).toThrow(/not allocated/);
    expect(() => p.retain(x)).toThrow(/not allocated/);
    p.check([]);
  });

  it('sequences reserve by tokens, release on preemption, and the pool is whole again when idle', () => {
    const p = new BlockPool(9, 16); // 8 usable blocks = 128 tokens
    const s1 = new SeqBlocks(p);
    const s2 = new SeqBlocks(p);
    expect(s1.reserve(17)).toBe(true); // 2 blocks
    expect(s1.ids.length).toBe(2);
    expect(s1.reserve(32)).toBe(true); // still 2
    expect(s1.ids.length).toBe(2);
    expect(s2.reserve(96)).toBe(true); // 6 blocks: pool full
    expect(s1.reserve(33)).toBe(false); // exhaustion: nothing taken
    expect(s1.ids.length).toBe(2);
    p.check([s1.ids, s2.ids]);
    expect(s1.slot(17)).toBe(s1.ids[1] * 16 + 1);
    s2.release(); // preempt the newest
    expect(s2.ids).toEqual([]);
    expect(s1.reserve(33)).toBe(true);
    p.check([s1.ids]);
    s1.release();
    expect(p.freeBlocks).toBe(p.capacity);
    p.check([]);
  });

  it('random allocate/free traffic keeps the invariants', () => {
    const r = rng(7);
    const p = new BlockPool(40, 16);
    const seqs: SeqBlocks[] = [];
    for (let step = 0; step < 500; step++) {
      if (r() < 0.6) {
        const s = seqs[Math.floor(r() * (seqs.length + 1))] ?? seqs[seqs.push(new SeqBlocks(p)) - 1];
        s.reserve(s.ids.length * 16 + Math.floor(r() * 40));
      } else if (seqs.length) {
        seqs.splice(Math.floor(r() * seqs.length), 1)[0].release();
      }
      p.check(seqs.map((s) => s.ids));
    }
  });
});

describe('BlockPool prefix index', () => {
  it('registers full blocks, finds the longest cached prefix and shares it by reference count', () => {
    const p = new BlockPool(9, 16);
    const a = p.allocate(3)!; // 1 2 3
    expect(p.register(a[0], 'h0')).toBe(true);
    expect(p.register(a[1], 'h1')).toBe(true);
    expect(p.register(a[1], 'h1')).toBe(true); // again: no change
    expect(() => p.register(a[1], 'other')).toThrow(/another hash/);
    expect(p.cachedBlocks).toBe(2);
    expect(p.longestHit(['h0', 'h1', 'h2'])).toEqual([a[0], a[1]]);
    expect(p.longestHit(['x', 'h1'])).toEqual([]); // a chain: a miss stops the walk
    // A second holder of the live blocks.
    const s = new SeqBlocks(p);
    s.adopt(p.longestHit(['h0', 'h1']));
    expect(s.computed).toBe(32);
    expect(p.refCount(a[0])).toBe(2);
    p.check([a, s.ids]);
    p.free(a);
    expect(p.refCount(a[0])).toBe(1); // still held by s
    expect(p.freeBlocks).toBe(6); // only block 3 came back
    s.release();
    expect(p.freeBlocks).toBe(8);
    expect(p.cachedBlocks).toBe(2); // freed, still cached
    p.check([]);
    // Revival takes the blocks out of the free queue; the hash stays.
    const t = new SeqBlocks(p);
    t.adopt(p.longestHit(['h0', 'h1']));
    expect(p.freeBlocks).toBe(6);
    expect(t.ids).toEqual([a[0], a[1]]);
    expect(t.reserve(40)).toBe(true); // one fresh block after the shared two
    expect(t.ids.slice(0, 2)).toEqual([a[0], a[1]]);
    p.check([t.ids]);
    expect(() => p.share(t.ids[2])).toThrow(/no cached prefix/);
  });

  it('a duplicate hash from another block is not indexed; the first block keeps it', () => {
    const p = new BlockPool(5, 16);
    const [x, y] = p.allocate(2)!;
    expect(p.register(x, 'h')).toBe(true);
    expect(p.register(y, 'h')).toBe(false);
    expect(p.lookup('h')).toBe(x);
    expect(p.hashOfBlock(y)).toBeNull();
    p.free([x, y]);
    p.check([]);
  });

  it('evicts cached free blocks only after uncached ones, least recently freed first; a reallocated block loses its hash', () => {
    const p = new BlockPool(7, 16); // 6 usable
    const a = p.allocate(2)!; // 1 2: cached, freed first
    const b = p.allocate(2)!; // 3 4: cached, freed later
    const c = p.allocate(1)!; // 5: uncached
    ['a0', 'a1'].forEach((h, i) => p.register(a[i], h));
    ['b0', 'b1'].forEach((h, i) => p.register(b[i], h));
    p.free(a); // queue: 6 | a1 a0
    p.free(b); // queue: 6 | a1 a0 b1 b0
    p.free(c); // queue: 5 6 | a1 a0 b1 b0
    p.check([]);
    expect(p.allocate(2)).toEqual([5, 6]); // uncached first: nothing evicted
    expect(p.evictions).toBe(0);
    expect(p.allocate(1)).toEqual([a[1]]); // then the least recently freed cached block, tail of its table first
    expect(p.evictions).toBe(1);
    expect(p.lookup('a1')).toBeUndefined();
    expect(p.hashOfBlock(a[1])).toBeNull();
    expect(p.longestHit(['a0', 'a1'])).toEqual([a[0]]); // its head survives
    expect(p.longestHit(['b0', 'b1'])).toEqual(b);
    expect(p.cachedBlocks).toBe(3);
    // The freshly allocated block can hold another hash now.
    expect(p.register(a[1], 'new')).toBe(true);
    p.check();
  });

  it('canTake counts revived blocks against the free queue', () => {
    const p = new BlockPool(4, 16); // 3 usable
    const a = p.allocate(2)!;
    p.register(a[0], 'h0');
    p.register(a[1], 'h1');
    p.free(a);
    expect(p.canTake(a, 1)).toBe(true); // 2 revived + 1 fresh = 3 free
    expect(p.canTake(a, 2)).toBe(false);
    const s = new SeqBlocks(p);
    s.adopt(a);
    expect(p.canTake(a, 1)).toBe(true); // held now: reviving costs nothing
    expect(p.canTake([], 2)).toBe(false);
  });

  it('random traffic with sharing and eviction keeps the invariants', () => {
    const r = rng(11);
    const p = new BlockPool(24, 16);
    const live: SeqBlocks[] = [];
    // Prompts drawn from 3 stems, so sequences share prefixes; a block's hash is its stem and index.
    for (let step = 0; step < 600; step++) {
      if (r() < 0.55) {
        const stem = Math.floor(r() * 3);
        const blocks = 1 + Math.floor(r() * 5);
        const keys = Array.from({ length: blocks }, (_, i) => `s${stem}b${i}`);
        const s = new SeqBlocks(p);
        const hit = p.longestHit(keys.slice(0, blocks - 1));
        if (!p.canTake(hit, blocks - hit.length)) continue;
        s.adopt(hit);
        expect(s.reserve(blocks * 16)).toBe(true);
        for (let i = s.registered; i < blocks; i++) p.register(s.ids[i], keys[i]);
        live.push(s);
      } else if (live.length) {
        live.splice(Math.floor(r() * live.length), 1)[0].release();
      }
      p.check(live.map((s) => s.ids));
    }
    for (const s of live) s.release();
    expect(p.freeBlocks).toBe(p.capacity);
    p.check([]);
  });
});

describe('PagedKv sizing', () => {
  it('sizes the pool from bytes or tokens and refuses a pool below one block', () => {
    const b = new RefBackend();
    expect(kvBytesPerToken(28, 1024, 'f16')).toBe(28 * 2 * 1024 * 2);
    expect(kvBytesPerToken(28, 1024, 'q8_0')).toBe(28 * 2 * 1024 * (34 / 32));
    const kv = new PagedKv(b, 2, 64, { tokens: 100, dtype: 'f32', defaultTokens: 1 });
    expect(kv.capacityTokens).toBe(96);
    const kb = new PagedKv(b, 2, 64, { bytes: kvBytesPerToken(2, 64, 'f16') * 64, dtype: 'f16', defaultTokens: 1 });
    expect(kb.capacityTokens).toBe(64);
    expect(() => new PagedKv(b, 2, 64, { tokens: 8, defaultTokens: 1 })).toThrow(/below one block/);
    expect(() => new PagedKv(b, 2, 48, { tokens: 64, dtype: 'q8_0', defaultTokens: 1 })).toThrow(/multiple of 32/);
  });
});

describe('paged attention composition', () => {
  // A backend without paged kernels runs gather + plain attention; it must equal ref's kernel.
  it('gather + attention equals ref.pagedAttention (f32)', async () => {
    const ref = new RefBackend();
    const plain = Object.create(ref) as Backend;
    Object.assign(plain, { kvAlloc: undefined, kvWrite: undefined, pagedAttention: undefined });
    for (const c of pagedCases.filter((c) => c.kvDType === 'f32')) {
      const all = (b: Backend) => Promise.all([c.run(b, rng(3))].flat().map((t) => t.read()));
      const want = await all(ref);
      const got = await all(plain);
      want.forEach((w, k) => {
        let err = 0;
        for (let i = 0; i < w.length; i++) err = Math.max(err, Math.abs(w[i] - got[k][i]));
        expect(err, c.name).toBeLessThan(1e-5);
      });
    }
  });
});

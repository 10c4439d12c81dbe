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

  it('frees tail first and reuses the least recently freed block first', () => {
    const p = new BlockPool(6, 16);
    const a = p.allocate(3)!; // 1 2 3
    const b = p.allocate(2)!; // 4 5
    p.free(a); // queue: 3 2 1
    expect(p.allocate(1)).toEqual([3]);
    p.free(b); // queue: 2 1 5 4
    expect(p.allocate(4)).toEqual([2, 1, 5, 4]);
    expect(p.usedBlocks).toBe(5);
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
  // A backend without paged kernels (like webgpu today) runs gather + plain attention; it must equal ref's kernel.
  it('gather + attention equals ref.pagedAttention (f32)', async () => {
    const ref = new RefBackend();
    const plain = Object.create(ref) as Backend;
    Object.assign(plain, { kvAlloc: undefined, kvWrite: undefined, pagedAttention: undefined });
    for (const c of pagedCases.filter((c) => c.kvDType === 'f32')) {
      const want = (await c.run(ref, rng(3)).read()) as Float32Array;
      const got = (await c.run(plain, rng(3)).read()) as Float32Array;
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(want[i] - got[i]));
      expect(err, c.name).toBeLessThan(1e-5);
    }
  });
});

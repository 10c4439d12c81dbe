// CPU backend lifetime: destroy() (a model's dispose()) returns the memory of every tensor at once, without waiting
// for the garbage collector to finalize the tensors' handles.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backend/cpu/index.js';
import { loadAddon } from '../../src/backend/cpu/native.js';

const addon = loadAddon();

describe.skipIf(addon instanceof Error)('cpu backend destroy()', () => {
  it('frees the memory of tensors still referenced from JS, and later use throws', async () => {
    const rss = () => process.memoryUsage().rss;
    const b = new CpuBackend({ threads: 1 });
    const z = b.zeros([96, 1 << 20]); // 384 MiB, not yet touched (a fresh mapping)
    const held = [z, b.add(z, z)]; // the sum's 384 MiB are written, so resident
    await b.sync();
    const before = rss();
    b.destroy();
    // Still referenced here, so only destroy() can have released them (not the collector).
    expect(held.length).toBe(2);
    expect(before - rss()).toBeGreaterThan(300 * 2 ** 20);
    expect(() => b.sync()).toThrow(/used after destroy/);
    // A tensor of the destroyed backend says so too (its buffer is gone, but not 'freed' by the caller).
    expect(() => b.add(held[1], held[1])).toThrow(/used after destroy/);
  });
});

// The precision option: 'fast' is a WebGPU and CPU mode, asked of ref (or of a backend instance) it is a clear
// error, not silently exact; unknown modes are rejected where they enter (createBackend, loadModel, CLI).
import { describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backend/index.js';
import { RefBackend } from '../../src/backend/ref/index.js';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { fixturesRoot, modelCases } from '../helpers/fixtures.js';

describe('precision option', () => {
  it("'fast' on ref names the backends that have it", async () => {
    await expect(createBackend('ref', { precision: 'fast' })).rejects.toThrow(/precision 'fast' is a WebGPU .* and CPU .* mode; backend 'ref'/);
  });

  it("'fast' reaches the cpu backend (or its ref fallback, which has no such mode)", async () => {
    const b = await createBackend('cpu', { precision: 'fast' });
    if (b.name === 'cpu') expect(b.capabilities().info.precision).toBe('fast');
    b.destroy();
    const e = await createBackend('cpu', { precision: 'exact' });
    if (e.name === 'cpu') expect(e.capabilities().info.precision).toBe('exact');
    e.destroy();
  });

  it("'fast' with a backend instance says where it is chosen", async () => {
    await expect(createBackend(new RefBackend(), { precision: 'fast' })).rejects.toThrow(/chosen when a backend is created/);
  });

  it('an unknown mode is rejected with the accepted ones', async () => {
    await expect(createBackend('ref', { precision: 'half' as never })).rejects.toThrow(/precision must be 'exact' or 'fast', got 'half'/);
  });

  it("'exact' is the default and works everywhere", async () => {
    const b = await createBackend('ref', { precision: 'exact' });
    expect(b.name).toBe('ref');
  });

  it('loadModel passes the mode on (fast on ref fails before any weight is read)', async (ctx) => {
    const dir = modelCases()[0];
    if (!dir) return ctx.skip(`no fixtures under ${fixturesRoot}`);
    await expect(loadModel(dir, { backend: 'ref', precision: 'fast' })).rejects.toThrow(/WebGPU .* mode; backend 'ref'/);
  });
});

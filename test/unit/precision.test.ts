// The precision option: 'fast' is a WebGPU mode, asked of another backend (or of a backend instance) it is a clear
// error, not silently exact; unknown modes are rejected where they enter (createBackend, loadModel, CLI).
import { describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backend/index.js';
import { RefBackend } from '../../src/backend/ref/index.js';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { fixturesRoot, modelCases } from '../helpers/fixtures.js';

describe('precision option', () => {
  it("'fast' on ref or cpu names the WebGPU requirement", async () => {
    await expect(createBackend('ref', { precision: 'fast' })).rejects.toThrow(/precision 'fast' is a WebGPU mode.*'ref'/);
    await expect(createBackend('cpu', { precision: 'fast' })).rejects.toThrow(/precision 'fast' is a WebGPU mode.*'cpu'/);
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
    await expect(loadModel(dir, { backend: 'ref', precision: 'fast' })).rejects.toThrow(/WebGPU mode/);
  });
});

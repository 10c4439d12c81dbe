// The ref backend after destroy(): reads, syncs and uploads are errors that name the cause, as on cpu and webgpu,
// and a model disposed of refuses to answer instead of answering from its old tensors.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RefBackend } from '../../src/backend/ref/index.js';
import { loadModel } from '../../src/generate/engine.js';
import { fixturesRoot } from '../helpers/fixtures.js';

describe('ref backend lifetime', () => {
  it('read, sync and upload after destroy() throw "used after destroy()"', async () => {
    const b = new RefBackend();
    const t = b.upload(new Float32Array([1, 2, 3]), [3], 'f32');
    expect(Array.from(await b.read(t))).toEqual([1, 2, 3]);
    b.destroy();
    await expect(b.read(t)).rejects.toThrow(/ref: backend used after destroy\(\)/);
    await expect(b.sync()).rejects.toThrow(/used after destroy/);
    expect(() => b.upload(new Float32Array([1]), [1], 'f32')).toThrow(/used after destroy/);
  });

  const tiny = path.join(fixturesRoot, 'tiny-dense');
  it.skipIf(!existsSync(tiny))('a model disposed of: complete() rejects, dispose() twice is harmless', async () => {
    const m = await loadModel(tiny, { backend: 'ref', kvCache: { tokens: 64 } });
    const messages = [{ role: 'user' as const, content: 'hi' }];
    expect((await m.complete(messages, { maxTokens: 2, temperature: 0 })).text.length).toBeGreaterThan(0);
    m.dispose();
    m.dispose();
    await expect(m.complete(messages, { maxTokens: 2, temperature: 0 })).rejects.toThrow(/used after destroy|disposed/);
  });
});

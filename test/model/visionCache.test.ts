// The vision-feature cache on tiny-dense (f32, real images): a cache hit gives the same logits and tokens, bit for
// bit, as a miss and as no cache at all; later turns of an image chat skip the vision tower. Prefix reuse is off here
// (it would skip the tower for images inside a cached prefix); test/model/prefixCache.test.ts covers both together.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import path from 'node:path';
import { loadModel, type Qwen3VL } from '../../src/generate/engine.js';
import { encodeMedia, VisionCache } from '../../src/generate/visionCache.js';
import type { ChatMessage } from '../../src/processor/index.js';
import { fixturesRoot, testBackend } from '../helpers/fixtures.js';

let m: Qwen3VL;
const img = (name: string) => ({ type: 'image' as const, image: path.join(fixturesRoot, 'processor', name), maxPixels: 64 * 32 * 32 });
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

beforeAll(async () => {
  m = await loadModel(path.join(fixturesRoot, 'tiny-dense'), { backend: testBackend });
});
afterAll(() => m?.dispose());

/** A conversation turn by turn: each turn re-sends the whole history, as chat clients do. */
async function converse(turns: ChatMessage['content'][], visionCache: VisionCache | null): Promise<{ tokens: number[][]; encoderCalls: number[] }> {
  const spy = vi.spyOn(m.vision, 'forward');
  const history: ChatMessage[] = [];
  const tokens: number[][] = [];
  const encoderCalls: number[] = [];
  try {
    for (const content of turns) {
      history.push({ role: 'user', content } as ChatMessage);
      spy.mockClear();
      const r = await m.complete(history, { temperature: 0, maxTokens: 6, visionCache, prefixCache: false });
      encoderCalls.push(spy.mock.calls.length);
      tokens.push([...r.tokens]);
      history.push({ role: 'assistant', content: r.text });
    }
  } finally {
    spy.mockRestore();
  }
  return { tokens, encoderCalls };
}

describe(`vision-feature cache on '${testBackend}'`, () => {
  it('a hit gives the logits of a miss and of the uncached path, bit for bit', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [img('chelsea.png'), img('coffee.png'), { type: 'text', text: 'Compare.' }] }];
    const p = await m.processor!.prepare(messages, { addGenerationPrompt: true });
    expect(p.imageGridThw).toHaveLength(2);
    const direct = (await m.forward({ ...p, logits: 'last' })).logits;
    const cache = new VisionCache(64e6);
    const spy = vi.spyOn(m.vision, 'forward');
    try {
      const miss = await encodeMedia(m, p, cache);
      expect(spy).toHaveBeenCalledTimes(2); // one tower call per image
      const hit = await encodeMedia(m, p, cache);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(cache.stats()).toMatchObject({ hits: 2, misses: 2, entries: 2 });
      const run = async (vision: typeof miss) => (await m.forward({ ...p, pixelValues: undefined, vision, logits: 'last' })).logits;
      const a = await run(miss);
      const b = await run(hit);
      expect(bits(b).equals(bits(a))).toBe(true);
      // Against both images through the tower in one call (the reference's way): the same bits on ref, whose ops
      // sum in one order whatever the row count; on cpu the f32 matmul picks kernels by row count (1e-4 relative).
      if (testBackend === 'ref') expect(bits(a).equals(bits(direct))).toBe(true);
      else a.forEach((v, i) => expect(Math.abs(v - direct[i])).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(direct[i]))));
    } finally {
      spy.mockRestore();
    }
  });

  it('a 3-turn image chat: same tokens with and without the cache; turns 2 and 3 skip the tower', async () => {
    const turns: ChatMessage['content'][] = [[img('chelsea.png'), { type: 'text', text: 'What is this?' }], 'Describe the colours.', 'And the background?'];
    const off = await converse(turns, null);
    const on = await converse(turns, new VisionCache(64e6));
    expect(on.tokens).toEqual(off.tokens);
    expect(off.encoderCalls).toEqual([1, 1, 1]);
    expect(on.encoderCalls).toEqual([1, 0, 0]);
  });

  it('a 2-image conversation, including a turn that changes the text before an image', async () => {
    const cache = new VisionCache(64e6);
    const turns: ChatMessage['content'][] = [[img('chelsea.png'), { type: 'text', text: 'What is this?' }], [img('rocket.png'), { type: 'text', text: 'And this?' }]];
    const off = await converse(turns, null);
    const on = await converse(turns, cache);
    expect(on.tokens).toEqual(off.tokens);
    expect(off.encoderCalls).toEqual([1, 2]); // uncached: each image through the tower alone, every turn
    expect(on.encoderCalls).toEqual([1, 1]); // turn 2: only the new image
    // New text before both images: every image is a hit, the output is still the uncached one.
    const edited: ChatMessage[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [img('chelsea.png'), { type: 'text', text: 'Name it.' }] },
      { role: 'user', content: [img('rocket.png'), { type: 'text', text: 'And this?' }] },
    ];
    const spy = vi.spyOn(m.vision, 'forward');
    try {
      const hit = await m.complete(edited, { temperature: 0, maxTokens: 6, visionCache: cache, prefixCache: false });
      expect(spy).not.toHaveBeenCalled();
      const cold = await m.complete(edited, { temperature: 0, maxTokens: 6, visionCache: null, prefixCache: false });
      expect(hit.tokens).toEqual(cold.tokens);
    } finally {
      spy.mockRestore();
    }
  });

  it('an image and a video (frame list): same tokens cached or not; turn 2 runs no tower at all', async () => {
    const frames = ['astronaut.png', 'camera_gray.png', 'astronaut.png', 'camera_gray.png'].map((f) => path.join(fixturesRoot, 'processor', f));
    const video = { type: 'video' as const, video: frames, timestamps: [0, 0.5, 1, 1.5], maxPixels: 32 * 32 * 32 };
    const turns: ChatMessage['content'][] = [[img('chelsea.png'), video, { type: 'text', text: 'What happens?' }], 'And then?'];
    const off = await converse(turns, null);
    const on = await converse(turns, new VisionCache(64e6));
    expect(on.tokens).toEqual(off.tokens);
    expect(off.encoderCalls).toEqual([2, 2]);
    expect(on.encoderCalls).toEqual([2, 0]);
  });

  it('the engine keeps one cache across calls (model.chat with the same history)', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [img('astronaut.png'), { type: 'text', text: 'Who?' }] }];
    const before = m.visionCache!.stats();
    await m.complete(messages, { temperature: 0, maxTokens: 2, prefixCache: false });
    await m.complete(messages, { temperature: 0, maxTokens: 2, prefixCache: false });
    const after = m.visionCache!.stats();
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(1);
    expect(after.bytes).toBeGreaterThan(0);
  });

  it('precomputed features of the wrong size are refused', async () => {
    const p = await m.processor!.prepare([{ role: 'user', content: [img('chelsea.png'), { type: 'text', text: 'x' }] }], { addGenerationPrompt: true });
    const v = await encodeMedia(m, p, new VisionCache(64e6));
    const short = { ...v.images!, tokens: v.images!.tokens - 1, merged: v.images!.merged.subarray(m.config.text.hiddenSize) };
    await expect(m.forward({ ...p, pixelValues: undefined, vision: { images: short }, logits: 'last' })).rejects.toThrow(/vision.images holds/);
    await expect(m.forward({ ...p, vision: v, logits: 'last' })).rejects.toThrow(/not both/);
  });
});

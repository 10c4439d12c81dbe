// The library's chat API on tiny-dense (built-in template, real tokenizer): greedy replies equal the model's own
// greedy decoding of the prepared prompt; seeds reproduce; abort and stop strings end the stream cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadModel, type Qwen3VL } from '../../src/generate/engine.js';
import type { ChatEvent } from '../../src/generate/chat.js';
import { AbortError } from '../../src/models/qwen3vl/model.js';
import type { ChatMessage } from '../../src/processor/index.js';
import { fixturesRoot, testBackend } from '../helpers/fixtures.js';

let m: Qwen3VL;
const photo = path.join(fixturesRoot, 'processor', 'chelsea.png');
const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'image', image: photo, maxPixels: 64 * 32 * 32 }, { type: 'text', text: 'What is this?' }] }];

beforeAll(async () => {
  m = await loadModel(path.join(fixturesRoot, 'tiny-dense'), { backend: testBackend });
});
afterAll(() => m?.dispose());

async function collect(it: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const ev: ChatEvent[] = [];
  for await (const e of it) ev.push(e);
  return ev;
}

describe('chat', () => {
  it('pipelined greedy steps equal step-by-step decoding, also after a forced token and across a stop', async () => {
    const prepared = await m.processor!.prepare(messages, { addGenerationPrompt: true });
    const argmax = (l: Float32Array) => l.reduce((best, v, i) => (v > l[best] ? i : best), 0);
    // Reference: one forward per step, logits read back, the host takes the argmax; token 3 is forced to 42.
    const ref = m.createCache(prepared.inputIds.length + 16);
    let tok = argmax((await m.forward({ ...prepared, cache: ref, logits: 'last' })).logits);
    const want: number[] = [];
    for (let i = 0; i < 8; i++) {
      const fed = i === 3 ? 42 : tok;
      want.push(fed);
      tok = argmax(await m.decode(ref, [fed]));
    }
    ref.dispose();
    const cache = m.createCache(prepared.inputIds.length + 16);
    tok = (await m.forwardArgmax({ ...prepared, cache, logits: 'last' }))[0];
    const steps = m.greedySteps(cache);
    const got: number[] = [];
    for (let i = 0; i < 8; i++) {
      const fed = i === 3 ? 42 : tok;
      got.push(fed);
      tok = await steps.step(fed);
    }
    steps.close();
    expect(got).toEqual(want);
    // close() dropped the step recorded ahead: the cache holds the prompt and the 8 fed tokens.
    expect(cache.length).toBe(prepared.inputIds.length + 8);
    cache.dispose();
    // decodeGreedyMany stops after a stop id (here the third token) and leaves no step ahead in the cache.
    const c2 = m.createCache(prepared.inputIds.length + 16);
    const first = (await m.forwardArgmax({ ...prepared, cache: c2, logits: 'last' }))[0];
    const all = await m.decodeGreedyMany(c2, first, 6);
    const stopped = await (async () => {
      const c3 = m.createCache(prepared.inputIds.length + 16);
      const f = (await m.forwardArgmax({ ...prepared, cache: c3, logits: 'last' }))[0];
      const r = await m.decodeGreedyMany(c3, f, 6, [all[2]]);
      const len = c3.length;
      c3.dispose();
      return { r, len };
    })();
    c2.dispose();
    expect(stopped.r).toEqual(all.slice(0, all.indexOf(all[2]) + 1));
    expect(stopped.len).toBe(prepared.inputIds.length + stopped.r.length);
  });

  it('greedy chat equals greedy decoding of the prepared prompt, with usage and finish reason', async () => {
    const prepared = await m.processor!.prepare(messages, { addGenerationPrompt: true });
    const want = await m.generateGreedy(prepared, 6);
    const r = await m.complete(messages, { temperature: 0, maxTokens: 6 });
    expect(r.tokens).toEqual(want);
    expect(r.finishReason).toBe('length');
    expect(r.usage).toMatchObject({ promptTokens: prepared.inputIds.length, completionTokens: 6, totalTokens: prepared.inputIds.length + 6 });
    expect(r.text).toBe(m.processor!.tokenizer.decode(want, { skipSpecialTokens: true }));
  });

  it('the same seed gives the same sample; events end with usage then done', async () => {
    const a = await m.complete(messages, { temperature: 1, topK: 50, seed: 7, maxTokens: 5 });
    const b = await m.complete(messages, { temperature: 1, topK: 50, seed: 7, maxTokens: 5 });
    expect(a.tokens).toEqual(b.tokens);
    const ev = await collect(m.chat([{ role: 'user', content: 'hi' }], { temperature: 1, seed: 3, maxTokens: 3 }));
    expect(ev.at(-2)?.type).toBe('usage');
    expect(ev.at(-1)).toMatchObject({ type: 'done', finishReason: 'length' });
  });

  it('an abort signal ends the stream with finish reason cancelled', async () => {
    const ac = new AbortController();
    const ev: ChatEvent[] = [];
    let steps = 0;
    for await (const e of m.chat([{ role: 'user', content: 'hi' }], { temperature: 0, maxTokens: 50, signal: ac.signal })) {
      ev.push(e);
      if (e.type === 'text' && ++steps === 2) ac.abort();
    }
    expect(ev.at(-1)).toMatchObject({ type: 'done', finishReason: 'cancelled' });
    const usage = ev.find((e) => e.type === 'usage');
    expect(usage && usage.type === 'usage' && usage.usage.completionTokens).toBeLessThan(50);
  });

  it('an abort between prefill chunks stops the prefill with an AbortError', async () => {
    const prepared = await m.processor!.prepare(messages, { addGenerationPrompt: true });
    const ac = new AbortController();
    const seen: number[] = [];
    const run = m.forward({ ...prepared, chunkSize: 16, signal: ac.signal, onProgress: (d) => (seen.push(d), d >= 32 && ac.abort()) });
    await expect(run).rejects.toThrow(AbortError);
    expect(seen).toEqual([16, 32]);
  });

  it('a stop string cuts the text and finishes with stop', async () => {
    const full = await m.complete([{ role: 'user', content: 'hi' }], { temperature: 0, maxTokens: 8 });
    expect(full.text.length).toBeGreaterThan(2);
    const stopAt = full.text.slice(1, 3);
    const cut = await m.complete([{ role: 'user', content: 'hi' }], { temperature: 0, maxTokens: 8, stop: [stopAt] });
    expect(cut.finishReason).toBe('stop');
    expect(cut.text).toBe(full.text.slice(0, full.text.indexOf(stopAt)));
  });

  it('a checkpoint without a tokenizer says it cannot chat', async () => {
    const t = await loadModel(path.join(fixturesRoot, 'tiny-dense-untied-text'));
    expect(() => t.chat([{ role: 'user', content: 'x' }])).toThrow(/has no tokenizer\.json, so it cannot chat/);
    t.dispose();
  });
});

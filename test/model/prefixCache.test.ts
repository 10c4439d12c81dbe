// Prefix reuse on tiny-dense (f32 KV, real images, greedy): a conversation re-sent turn by turn gives exactly the
// tokens of a cold run with both caches off, while later turns start from the KV blocks earlier turns left (only the
// new message is prefilled) and images inside the reused prefix never reach the vision tower; also a hit that ends
// inside an image span, a turn that changes the text before an image, and a video.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import path from 'node:path';
import { loadModel, type Qwen3VL } from '../../src/generate/engine.js';
import { VisionCache } from '../../src/generate/visionCache.js';
import type { ChatMessage } from '../../src/processor/index.js';
import { fixturesRoot, testBackend } from '../helpers/fixtures.js';

let m: Qwen3VL;
const BS = 16;
const img = (name: string) => ({ type: 'image' as const, image: path.join(fixturesRoot, 'processor', name), maxPixels: 64 * 32 * 32 });

beforeAll(async () => {
  m = await loadModel(path.join(fixturesRoot, 'tiny-dense'), { backend: testBackend, kvCache: { tokens: 4096, dtype: 'f32' }, visionCacheMb: 0 });
});
afterAll(() => m?.dispose());

interface Turn {
  tokens: number[];
  promptTokens: number;
  /** Prompt tokens found in the prefix cache (the scheduler's counter). */
  hit: number;
  encoderCalls: number;
}

/** One request: its tokens, prompt size, prefix hit and vision tower calls. */
async function ask(messages: ChatMessage[], on: boolean, visionCache: VisionCache | null = null): Promise<Turn & { text: string }> {
  const spy = vi.spyOn(m.vision, 'forward');
  try {
    const before = m.scheduler.stats().prefix.hitTokens;
    const r = await m.complete(messages, { temperature: 0, maxTokens: 6, visionCache, prefixCache: on });
    // Usage reports the reused tokens (OpenAI's prompt_tokens_details.cached_tokens on the wire) when reuse is on.
    expect(r.usage.cachedTokens).toBe(on ? m.scheduler.stats().prefix.hitTokens - before : undefined);
    return { tokens: [...r.tokens], text: r.text, promptTokens: r.usage.promptTokens, hit: m.scheduler.stats().prefix.hitTokens - before, encoderCalls: spy.mock.calls.length };
  } finally {
    spy.mockRestore();
  }
}

/** A conversation turn by turn, the whole history re-sent each turn, as chat clients do. */
async function converse(turns: ChatMessage['content'][], on: boolean, visionCache: VisionCache | null = null): Promise<Turn[]> {
  const history: ChatMessage[] = [];
  const out: Turn[] = [];
  for (const content of turns) {
    history.push({ role: 'user', content } as ChatMessage);
    const r = await ask(history, on, visionCache);
    out.push(r);
    history.push({ role: 'assistant', content: r.text });
  }
  return out;
}

const floorBlock = (n: number) => Math.floor(n / BS) * BS;

describe(`prefix reuse on '${testBackend}' (f32 KV)`, () => {
  it('a 3-turn image chat: the same tokens as both caches off; turns 2 and 3 prefill only the new message and skip the tower', async () => {
    const turns: ChatMessage['content'][] = [[img('chelsea.png'), { type: 'text', text: 'What is this?' }], 'Describe the colours.', 'And the background?'];
    const off = await converse(turns, false);
    const on = await converse(turns, true, new VisionCache(64e6));
    expect(on.map((t) => t.tokens)).toEqual(off.map((t) => t.tokens));
    expect(off.map((t) => t.hit)).toEqual([0, 0, 0]);
    expect(off.map((t) => t.encoderCalls)).toEqual([1, 1, 1]);
    expect(on.map((t) => t.encoderCalls)).toEqual([1, 0, 0]); // the image lies inside the reused prefix
    // Each later turn reuses at least every full block of the turn before's prompt (its template is a prefix of this one).
    for (let k = 1; k < 3; k++) {
      expect(on[k].hit, `turn ${k + 1}`).toBeGreaterThanOrEqual(floorBlock(on[k - 1].promptTokens));
      expect(on[k].hit).toBeLessThan(on[k].promptTokens);
    }
  });

  it('a 2-image conversation, and a turn that changes the text before the second image', async () => {
    const turns: ChatMessage['content'][] = [[img('coffee.png'), { type: 'text', text: 'What is this?' }], [img('rocket.png'), { type: 'text', text: 'And this?' }]];
    const off = await converse(turns, false);
    const on = await converse(turns, true);
    expect(on.map((t) => t.tokens)).toEqual(off.map((t) => t.tokens));
    expect(on.map((t) => t.encoderCalls)).toEqual([1, 1]); // turn 2: only the new image
    expect(on[1].hit).toBeGreaterThanOrEqual(floorBlock(on[0].promptTokens));
    // Text edited before the second image, twice: the first question (the hit then ends inside the first image's
    // span: it is encoded again, with the second), and the first answer (the hit passes the first image: only the
    // second is encoded). Both answers are the cold ones.
    const q1 = turns[0] as Exclude<ChatMessage['content'], string>;
    const editedQuestion: ChatMessage[] = [
      { role: 'user', content: [img('coffee.png'), { type: 'text', text: 'Name the drink, please.' }] },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: [img('rocket.png'), { type: 'text', text: 'And this?' }] },
    ];
    const editedAnswer: ChatMessage[] = [{ role: 'user', content: q1 }, { role: 'assistant', content: 'A cup.' }, editedQuestion[2]];
    const firstImageEnd = (await m.processor!.prepare(editedAnswer, { addGenerationPrompt: true })).inputIds.indexOf(m.config.visionEndTokenId);
    const coldQ = await ask(editedQuestion, false);
    const hotQ = await ask(editedQuestion, true);
    expect(hotQ.tokens).toEqual(coldQ.tokens);
    expect(hotQ.hit).toBeGreaterThan(0);
    expect(hotQ.hit).toBeLessThan(firstImageEnd);
    expect(hotQ.encoderCalls).toBe(2);
    const coldA = await ask(editedAnswer, false);
    const hotA = await ask(editedAnswer, true);
    expect(hotA.tokens).toEqual(coldA.tokens);
    expect(hotA.hit).toBeGreaterThan(firstImageEnd);
    expect(hotA.encoderCalls).toBe(1);
  });

  it('a hit that ends inside an image span encodes that image and gives the cold tokens', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [img('astronaut.png'), { type: 'text', text: 'Who is it? Answer in one word.' }] }];
    const cold = await ask(messages, false);
    const first = await ask(messages, true);
    expect(first.tokens).toEqual(cold.tokens);
    // Evict all but the first 3 blocks of that prompt: the free queue holds uncached blocks first, then cached ones
    // least recently freed first, and a finished table is freed tail first, so its head blocks are taken last.
    const pool = m.kvCache.pool;
    const taken = pool.allocate(pool.freeBlocks - 3)!;
    pool.free(taken);
    const mid = await ask(messages, true);
    expect(mid.hit).toBe(3 * BS); // the image spans tokens 3..66: the hit ends inside it
    expect(mid.encoderCalls).toBe(1);
    expect(mid.tokens).toEqual(cold.tokens);
    // And at full strength again: every block but the last, no tower.
    const full = await ask(messages, true);
    expect(full.hit).toBe(floorBlock(full.promptTokens - 1));
    expect(full.encoderCalls).toBe(0);
    expect(full.tokens).toEqual(cold.tokens);
    pool.check();
  });

  it('an image and a video (frame list): turn 2 reuses the prefix and runs no tower', async () => {
    const frames = ['astronaut.png', 'camera_gray.png', 'astronaut.png', 'camera_gray.png'].map((f) => path.join(fixturesRoot, 'processor', f));
    const video = { type: 'video' as const, video: frames, timestamps: [0, 0.5, 1, 1.5], maxPixels: 32 * 32 * 32 };
    const turns: ChatMessage['content'][] = [[img('chelsea.png'), video, { type: 'text', text: 'What happens?' }], 'And then?'];
    const off = await converse(turns, false);
    const on = await converse(turns, true);
    expect(on.map((t) => t.tokens)).toEqual(off.map((t) => t.tokens));
    expect(on.map((t) => t.encoderCalls)).toEqual([2, 0]);
    expect(on[1].hit).toBeGreaterThanOrEqual(floorBlock(on[0].promptTokens));
  });

  it('concurrent image chats on a small pool: preemption, eviction and revival leave every answer the cold one', async () => {
    const small = await loadModel(path.join(fixturesRoot, 'tiny-dense'), { backend: testBackend, kvCache: { tokens: 144, dtype: 'f32' }, visionCacheMb: 0, maxBatchTokens: 32 });
    try {
      const chats: ChatMessage[][] = [
        [{ role: 'user', content: [img('chelsea.png'), { type: 'text', text: 'What is this?' }] }],
        [{ role: 'user', content: [img('coffee.png'), { type: 'text', text: 'And this one?' }] }],
        [{ role: 'user', content: [img('chelsea.png'), { type: 'text', text: 'Describe the colours.' }] }],
      ];
      const run = (prefixCache: boolean) => Promise.all(chats.map((c) => small.complete(c, { temperature: 0, maxTokens: 28, prefixCache })));
      const cold: number[][] = [];
      for (const c of chats) cold.push([...(await small.complete(c, { temperature: 0, maxTokens: 28, prefixCache: false })).tokens]);
      small.scheduler.onStep = () => small.scheduler.check();
      for (let round = 0; round < 2; round++) expect((await run(true)).map((r) => [...r.tokens])).toEqual(cold);
      const st = small.scheduler.stats();
      expect(st.preemptions).toBeGreaterThan(0);
      expect(st.prefix.hitTokens).toBeGreaterThan(0);
      expect(st.blocksUsed).toBe(0);
    } finally {
      small.dispose();
    }
  });

  it('the pool is whole when idle; prefixCache: false at load turns reuse off for every request', async () => {
    const pool = m.kvCache.pool;
    expect(pool.usedBlocks).toBe(0);
    pool.check([]);
    const off = await loadModel(path.join(fixturesRoot, 'tiny-dense'), { backend: testBackend, kvCache: { tokens: 1024, dtype: 'f32' }, prefixCache: false });
    try {
      expect(off.prefixSeed).toBeNull();
      const messages: ChatMessage[] = [{ role: 'user', content: 'Say something long enough to fill two blocks of sixteen tokens.' }];
      await off.complete(messages, { temperature: 0, maxTokens: 2 });
      await off.complete(messages, { temperature: 0, maxTokens: 2 });
      expect(off.scheduler.stats().prefix).toMatchObject({ promptTokens: 0, hitTokens: 0, cachedBlocks: 0 });
    } finally {
      off.dispose();
    }
  });
});

// Fuzzing the text side: tokenizer.json (a cut-down copy of the real one, so each load takes milliseconds), text and
// ids through the real tokenizer, and chat messages through the real processor with server-style limits. Every
// input is accepted or refused with a typed processor error (TokenizerError, InvalidInputError, …).
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadProcessor, ProcessorError, QwenTokenizer, TokenizerError, type Qwen3VLProcessor } from '../../src/processor/index.js';
import { processorDir, tinyDenseDir } from '../helpers/processorFixtures.js';
import { accepts, fuzz, int, mutateBytes, mutateJson, pick } from './fuzz.js';

let proc: Qwen3VLProcessor;
let realTok: QwenTokenizer;
beforeAll(async () => {
  proc = await loadProcessor(tinyDenseDir);
  realTok = proc.tokenizer;
});

/** The real tokenizer.json with the vocabulary cut to ids < 1500 and the merges that stay inside it. */
function smallTokenizerJson(): Record<string, unknown> {
  const j = JSON.parse(readFileSync(path.join(tinyDenseDir, 'tokenizer.json'), 'utf8'));
  const vocab = Object.fromEntries(Object.entries(j.model.vocab as Record<string, number>).filter(([, id]) => id < 1500));
  const merges = (j.model.merges as [string, string][]).filter(([a, b]) => a in vocab && b in vocab && a + b in vocab);
  return { ...j, model: { ...j.model, vocab, merges } };
}

const SAMPLE = "Hello, world! It's 2025 — 你好 😀 <|im_start|>user\n<think>x</think> \u0000\t\r\n  end";
const texts = [SAMPLE, 'a'.repeat(300), ' '.repeat(200), '<|im_end|><|vision_start|><|image_pad|>', '\uD800 lone surrogate', '\u202Ertl', 'e\u0301'.repeat(50)];

describe('fuzz: tokenizer and chat inputs', () => {
  it('tokenizer.json structure', async () => {
    const seed = smallTokenizerJson();
    const ok = QwenTokenizer.fromJson(seed);
    expect(ok.decode(ok.encode('Hello world'))).toBe('Hello world');
    const { vocab, merges } = seed.model as { vocab: unknown; merges: unknown };
    const s = await fuzz('tokenizer.json', (r) =>
      accepts(() => {
        // Half the time mutate only the pipeline (normaliser, pre-tokeniser, decoder, added tokens, model scalars),
        // which the big vocabulary would otherwise shadow.
        const pipelineOnly = r() < 0.5;
        let j: Record<string, unknown> = pipelineOnly ? { ...seed, model: { ...(seed.model as object), vocab: {}, merges: [] } } : seed;
        for (let k = 1 + int(r, 3); k > 0; k--) j = mutateJson(r, j) as Record<string, unknown>;
        if (pipelineOnly && j && typeof j.model === 'object' && j.model !== null) j = { ...j, model: { ...j.model, vocab, merges } };
        const t = QwenTokenizer.fromJson(j);
        const ids = t.encode(pick(r, texts));
        t.decode(ids);
        t.decode(ids, { skipSpecialTokens: true });
      }, TokenizerError),
    11);
    expect(s.tried).toBeGreaterThan(10);
    expect(s.rejected).toBeGreaterThan(0);
  });

  it('text and ids through the real tokenizer (round trip on valid text)', async () => {
    const seed = new TextEncoder().encode(SAMPLE);
    await fuzz('tokenizer text/ids', async (r) => {
      const text = new TextDecoder().decode(mutateBytes(r, seed));
      // Byte-level BPE after the NFC normaliser is lossless for any text that survived UTF-8 decoding.
      expect(realTok.decode(realTok.encode(text))).toBe(text.normalize('NFC'));
      const junk = Array.from({ length: 1 + int(r, 20) }, () => (r() < 0.9 ? int(r, realTok.vocabSize) : pick(r, [-1, 1e9, 0.5, NaN])));
      return accepts(() => realTok.decode(junk), TokenizerError);
    }, 12);
  });

  it('chat messages through the processor (server limits, and none)', async () => {
    const png = `data:image/png;base64,${readFileSync(path.join(processorDir, 'tiny.png')).toString('base64')}`;
    const seed = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [{ type: 'image', image: png, max_pixels: 70000 }, { type: 'text', text: 'What is this?' }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'look', arguments: '{"x": 1}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'a cat' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: png } }, { type: 'video', video: [png, png], fps: 2 }, { type: 'text', text: 'and this?' }] },
    ];
    const tools = [{ type: 'function', function: { name: 'look', description: 'look', parameters: { type: 'object', properties: { x: { type: 'number' } } } } }];
    const limits = { maxImages: 4, maxVideos: 2, maxImagePixels: 4_000_000, maxVideoSeconds: 60, maxVideoFrames: 16, capPixelBounds: true, maxPromptChars: 100_000 };
    const s = await fuzz('chat messages', (r) =>
      accepts(async () => {
        let m: unknown = seed;
        for (let k = 1 + int(r, 3); k > 0; k--) m = mutateJson(r, m);
        const opts = r() < 0.3 ? (mutateJson(r, { tools, minPixels: 4096, maxPixels: 80000 }) as Record<string, unknown>) : { tools };
        // A quarter of the time as a library caller would: no limits, only the built-in ceilings.
        await proc.prepare(m as never, { ...opts, ...(r() < 0.75 && { limits }), addGenerationPrompt: true } as never);
      }, ProcessorError),
    13);
    expect(s.accepted).toBeGreaterThan(0);
    expect(s.rejected).toBeGreaterThan(0);
  });
});

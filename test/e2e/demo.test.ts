// The demo checkpoint as on a fresh clone: the byte-level tokenizer and
// a tiny vocabulary still run the whole pipeline (image in, text out), and a second call reuses the cache.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openEngine } from '../../src/generate/service.js';
import { demoImage, ensureDemoCheckpoint } from '../../src/tools/demo.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-demo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('demo checkpoint with the fallback tokenizer', () => {
  it('builds once, labels its tokenizer, and answers about the shipped image', async () => {
    const notes: string[] = [];
    const d = await ensureDemoCheckpoint({ root, tokenizer: 'bytes', onStatus: (s) => notes.push(s) });
    expect(d).toMatchObject({ tokenizer: 'bytes', built: true });
    expect(notes[0]).toMatch(/building the demo checkpoint/);
    expect(JSON.parse(readFileSync(path.join(d.dir, 'tokenizer_config.json'), 'utf8')).note).toMatch(/fallback: 256 byte tokens/);
    expect(await ensureDemoCheckpoint({ root, tokenizer: 'bytes' })).toMatchObject({ dir: d.dir, built: false });

    const engine = await openEngine(d.dir);
    try {
      const events = [];
      for await (const ev of engine.stream([{ role: 'user', content: [{ type: 'image', image: demoImage }, { type: 'text', text: 'Décris ceci.' }] }], { maxTokens: 4 })) events.push(ev);
      const usage = events.find((e) => e.type === 'usage');
      // 320×240 → 320×256 after smart_resize at the 65536-pixel floor → 80 visual tokens, plus the chat text in bytes.
      expect(usage && usage.type === 'usage' && usage.usage.promptTokens).toBeGreaterThan(80);
      expect(events[events.length - 1]).toMatchObject({ type: 'done', finishReason: expect.stringMatching(/stop|length/) });
    } finally {
      await engine.close();
    }
  });
});

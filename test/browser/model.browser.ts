// Browser tier: the tiny fixtures served over HTTP (Range, CORS, another origin than the page) and loaded in
// Chromium with loadModel(url, { backend: 'webgpu' }): golden logits to 1e-4 and greedy tokens exact; then the
// processor and chat in the page (PNGs decoded by the browser) against the same in Node on ref.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadModel as loadEngine } from '../../src/generate/engine.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { hashBytes } from '../helpers/compare.js';
import { type StaticServer, startStaticServer } from '../helpers/staticServer.js';
import { type ChatCase, type ChatCaseResult, chatMessages } from './chatCase.js';
import { type BrowserPage, openPage } from './harness.js';
import type { KvCaseResult, ModelCaseResult } from './modelEntry.js';

const CASES = ['tiny-dense', 'tiny-moe'];

describe('loadModel(url) in Chromium on webgpu', () => {
  let bp: BrowserPage;
  let files: StaticServer;

  beforeAll(async () => {
    files = await startStaticServer(fixturesRoot);
    bp = await openPage('modelEntry.ts');
  });

  afterAll(async () => {
    await bp?.close();
    await files?.close();
    if (bp?.messages.length) console.warn(`page messages:\n${bp.messages.slice(0, 20).join('\n')}`);
  });

  for (const name of CASES) {
    it(`${name}: golden logits within 1e-4, greedy tokens exact, weights streamed with progress`, async () => {
      const before = files.sentBytes;
      const r: ModelCaseResult = await bp.page.evaluate((u) => (globalThis as unknown as { qwen: { run(u: string): Promise<ModelCaseResult> } }).qwen.run(u), `${files.url}${name}/`);
      const sent = files.sentBytes - before;
      const weights = statSync(path.join(fixturesRoot, name, 'model.safetensors')).size;
      const golden = statSync(path.join(fixturesRoot, name, 'golden.safetensors')).size;
      console.log(
        `[${name}] ${r.adapter}: ${Object.entries(r.errs).map(([k, e]) => `${k} rel err ${e.toExponential(2)}`).join(', ')}; ` +
          `greedy ${r.tokens.length} tokens ${r.tokens.join(',') === r.want.join(',') ? 'equal' : 'DIFFER'}; load ${r.loadMs.toFixed(0)} ms ` +
          `(${r.progressCalls} progress calls), forward ${r.forwardMs.toFixed(0)} ms; ${sent} bytes served for ${weights + golden} bytes of safetensors`,
      );
      expect(Object.keys(r.errs).length).toBeGreaterThan(0);
      for (const e of Object.values(r.errs)) expect(e).toBeLessThanOrEqual(1e-4);
      expect(r.want.length).toBeGreaterThan(0);
      expect(r.tokens).toEqual(r.want);
      expect(r.progressCalls).toBeGreaterThan(10);
      expect(r.lastProgress.loadedBytes).toBe(r.lastProgress.totalBytes);
      // Every tensor byte once, plus small files and header probes: nothing downloaded twice.
      expect(sent).toBeLessThan((weights + golden) * 1.1 + 2e6);
    });
  }

  // The golden prompt (two images and a video) through the scheduler on the paged cache, in each KV format.
  it('tiny-dense: paged KV on webgpu: f32 gives the golden greedy tokens, f16 (the default) the same tokens; f16 and q8_0 logit error against f32', async () => {
    const r: KvCaseResult = await bp.page.evaluate((u) => (globalThis as unknown as { qwen: { kv(u: string): Promise<KvCaseResult> } }).qwen.kv(u), `${files.url}tiny-dense/`);
    const agree = (dt: 'f16' | 'q8_0') => r.tokens[dt].filter((t, i) => t === r.f32[i]).length;
    console.log(
      `[tiny-dense] webgpu paged KV (default ${r.defaultDType}): greedy ${r.f32.length} tokens, f32 ${r.f32.join(',') === r.want.join(',') ? 'golden' : 'DIFFERS from golden'}; ` +
        (['f16', 'q8_0'] as const).map((dt) => `${dt} teacher-forced: max logit error ${r.err[dt].toExponential(2)} of the range, top-1 ${agree(dt)}/${r.f32.length}`).join('; '),
    );
    expect(r.defaultDType).toBe('f16');
    expect(r.want.length).toBeGreaterThan(0);
    expect(r.f32).toEqual(r.want);
    // Every forced step's argmax is f32's token: free-running greedy on f16 gives exactly f32's tokens.
    expect(r.tokens.f16).toEqual(r.f32);
    expect(r.err.f16).toBeLessThan(5e-3);
    expect(r.err.q8_0).toBeLessThan(5e-2);
    expect(agree('q8_0') / r.f32.length).toBeGreaterThan(0.85);
  });

  // 24 + 64 patches: vision attention spans two 64-key tiles with per-image segments.
  it('processor and greedy chat in the page (images as Blobs) equal Node on ref', async () => {
    const dir = path.join(fixturesRoot, 'tiny-dense');
    const images = ['tiny.png', 'camera_gray.png'].map((f) => readFileSync(path.join(fixturesRoot, 'processor', f)));
    const c: ChatCase = { images: images.map((b) => [...b]), prompt: 'What differs between these two pictures?', maxTokens: 6, pixels: { minPixels: 4096, maxPixels: 16384 } };
    const engine = await loadEngine(dir, { backend: 'ref' });
    const messages = chatMessages(c.prompt, images.map((b) => new Uint8Array(b)));
    const prep = await engine.processor!.prepare(messages, { addGenerationPrompt: true, ...c.pixels });
    const want = await engine.complete(messages, { maxTokens: c.maxTokens, temperature: 0, ...c.pixels });
    engine.dispose();
    const got: ChatCaseResult = await bp.page.evaluate(([u, cc]) => (globalThis as unknown as { qwen: { chat(u: string, c: ChatCase): Promise<ChatCaseResult> } }).qwen.chat(u, cc), [`${files.url}tiny-dense/`, c] as const);
    console.log(`[chat] ${got.inputIds.length} prompt tokens, image grids ${JSON.stringify(got.grid)}, pixels ${got.pixelHash} (Node ${hashBytes(prep.pixelValues!)}), tokens ${got.tokens.join(',')} (Node ${want.tokens.join(',')})`);
    expect(got.inputIds).toEqual(prep.inputIds);
    expect(got.grid).toEqual(prep.imageGridThw);
    expect(got.pixelHash).toBe(hashBytes(prep.pixelValues!));
    expect(got.tokens).toEqual([...want.tokens]);
    expect(got.text).toBe(want.text);
  });
});

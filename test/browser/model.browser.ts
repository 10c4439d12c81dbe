// Browser tier: the tiny fixtures served over HTTP (Range, CORS, another origin than the page) and loaded in
// Chromium with loadModel(url, { backend: 'webgpu' }): golden logits to 1e-4 and greedy tokens exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fixturesRoot } from '../helpers/fixtures.js';
import { type StaticServer, startStaticServer } from '../helpers/staticServer.js';
import { type BrowserPage, openPage } from './harness.js';
import type { ModelCaseResult } from './modelEntry.js';

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
});

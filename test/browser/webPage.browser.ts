// Browser tier: the demo page (src/web) built by vite and driven like a user: load tiny-dense from a URL, send a
// text prompt, and the streamed answer (from the engine worker) equals the Node engine's greedy answer on ref; a
// browser without WebGPU gets the message saying so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'vite';
import { loadModel as loadEngine } from '../../src/generate/engine.js';
import { fixturesRoot, projectRoot } from '../helpers/fixtures.js';
import { type StaticServer, startStaticServer } from '../helpers/staticServer.js';
import { type BrowserPage, openUrl } from './harness.js';

const PROMPT = 'Name three colours.';
const MAX_TOKENS = 8;

describe('demo page (src/web) in Chromium', () => {
  let out: string;
  let site: StaticServer;
  let files: StaticServer;
  let bp: BrowserPage;

  beforeAll(async () => {
    out = mkdtempSync(path.join(tmpdir(), 'web-'));
    await build({ root: path.join(projectRoot, 'src/web'), logLevel: 'warn', build: { outDir: out, emptyOutDir: true } });
    [site, files] = await Promise.all([startStaticServer(out), startStaticServer(fixturesRoot)]);
    bp = await openUrl(`${site.url}index.html`);
  });

  afterAll(async () => {
    await bp?.close();
    await site?.close();
    await files?.close();
    if (out) rmSync(out, { recursive: true, force: true });
    if (bp?.messages.length) console.warn(`page messages:\n${bp.messages.slice(0, 20).join('\n')}`);
  });

  it('loads a model from a URL with progress and streams the greedy answer', async () => {
    const { page } = bp;
    await page.fill('#model', `${files.url}tiny-dense/`);
    await page.selectOption('#backend', 'webgpu');
    await page.uncheck('#useCache');
    await page.click('#load');
    await page.waitForSelector('#status[data-loaded="true"]', { timeout: 120_000 });
    expect(await page.$eval('#progress', (p) => (p as HTMLProgressElement).value)).toBe(1);
    await page.fill('#prompt', PROMPT);
    await page.fill('#maxTokens', String(MAX_TOKENS));
    await page.click('#send');
    await page.waitForSelector('#answer[data-done="true"]', { timeout: 120_000 });
    const answer = await page.textContent('#answer');
    const status = await page.textContent('#stats');

    const engine = await loadEngine(path.join(fixturesRoot, 'tiny-dense'), { backend: 'ref' });
    const want = await engine.complete([{ role: 'user', content: [{ type: 'text', text: PROMPT }] }], { maxTokens: MAX_TOKENS });
    engine.dispose();
    console.log(`[page] ${status}; answer ${JSON.stringify(answer)}`);
    expect(status).toMatch(new RegExp(`^${want.tokens.length} tokens in`));
    expect(answer).toBe(want.text);
  });

  it('without WebGPU the page says so and offers the CPU fallback', async () => {
    const bare = await openUrl(`${site.url}index.html`, { webgpu: false });
    try {
      await bare.page.waitForSelector('#nogpu:not([hidden])', { timeout: 30_000 });
      const text = (await bare.page.textContent('#nogpu'))!.replace(/\s+/g, ' ').trim();
      console.log(`[page without WebGPU] ${text}`);
      expect(text).toMatch(/WebGPU is not available in this browser\. (navigator\.gpu is missing|No GPU adapter was found)\./);
      expect(await bare.page.$eval('#backend', (s) => (s as HTMLSelectElement).value)).toBe('ref');
    } finally {
      await bare.close();
    }
  });
});

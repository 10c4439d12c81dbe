// The README's screenshots of the demo page (docs/web-*.png): empty, loading with progress, answering about an
// image, a grounding result, and a browser without WebGPU. Run: npx vite-node test/browser/screenshots.ts
// The model is the tiny-dense test checkpoint (random weights: its words are noise); the grounding view draws the
// boxes of a given Qwen3-VL-style answer through the page's own parser and renderer.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'vite';
import { fixturesRoot, projectRoot } from '../helpers/fixtures.js';
import { startStaticServer } from '../helpers/staticServer.js';
import { openUrl } from './harness.js';

const docs = path.join(projectRoot, 'docs');
const chelsea = path.join(fixturesRoot, 'processor', 'chelsea.png');
const out = mkdtempSync(path.join(tmpdir(), 'web-shots-'));
await build({ root: path.join(projectRoot, 'src/web'), logLevel: 'warn', build: { outDir: out, emptyOutDir: true } });
const [site, files] = await Promise.all([startStaticServer(out), startStaticServer(fixturesRoot)]);
const shot = async (p: import('playwright-core').Page, name: string) => {
  await p.screenshot({ path: path.join(docs, `web-${name}.png`), fullPage: true });
  console.log(`docs/web-${name}.png`);
};
try {
  const bp = await openUrl(`${site.url}index.html`);
  const { page } = bp;
  await page.setViewportSize({ width: 1000, height: 820 });
  await page.evaluate(() => navigator.storage.getDirectory().then((d) => d.removeEntry('qwen3-vl-weights', { recursive: true })).catch(() => {}));
  await page.reload();
  await page.waitForTimeout(1500);
  await shot(page, 'empty');

  // Slow the network so the download bar is caught part way.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: 2e6, uploadThroughput: 1e6 });
  await page.fill('#model', `${files.url}tiny-dense/`);
  await page.click('#load');
  await page.waitForFunction(() => /safetensors/.test(document.getElementById('status')!.textContent!) && (document.getElementById('dlProgress') as HTMLProgressElement).value > 0.5, null, { timeout: 120_000 });
  await shot(page, 'loading');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.waitForSelector('#status[data-loaded="true"]', { timeout: 300_000 });

  await page.setInputFiles('#image', chelsea);
  await page.fill('#prompt', 'Describe this image.');
  await page.fill('#maxTokens', '10');
  await page.click('#send');
  await page.waitForSelector('#answer[data-done="true"]', { timeout: 300_000 });
  await shot(page, 'answer');

  await page.evaluate(
    ([png, answer]) => (globalThis as unknown as { qwenPage: { showTurn(p: string, b: Blob, a: string): void } }).qwenPage.showTurn('Locate the eyes and the nose; answer in JSON.', new Blob([new Uint8Array(png)], { type: 'image/png' }), answer),
    [[...readFileSync(chelsea)], '[\n  {"bbox_2d": [299, 283, 466, 483], "label": "left eye"},\n  {"bbox_2d": [647, 360, 765, 550], "label": "right eye"},\n  {"bbox_2d": [521, 740, 654, 893], "label": "nose"}\n]'] as const,
  );
  await page.waitForSelector('.figure[data-boxes="3"]');
  await page.evaluate(() => document.querySelector('.figure[data-boxes="3"]')!.scrollIntoView());
  await page.screenshot({ path: path.join(docs, 'web-grounding.png') });
  console.log('docs/web-grounding.png');
  if (bp.messages.length) console.warn(bp.messages.join('\n'));
  await bp.close();

  const bare = await openUrl(`${site.url}index.html`, { webgpu: false });
  await bare.page.setViewportSize({ width: 1000, height: 820 });
  await bare.page.waitForSelector('#nogpu:not([hidden])');
  await shot(bare.page, 'nogpu');
  await bare.close();
} finally {
  await site.close();
  await files.close();
  rmSync(out, { recursive: true, force: true });
}

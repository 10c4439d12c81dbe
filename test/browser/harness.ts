// Shared by the browser-tier tests: bundle a page entry with vite (no Node built-ins: the sources load them lazily),
// serve it on 127.0.0.1 (WebGPU needs a secure context) and open it in headless Chromium through playwright-core.
// Chromium comes from the system (apt-get install -y chromium) or CHROMIUM_PATH; SwiftShader gives it a CPU WebGPU.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import type { Page } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--no-sandbox',
  '--headless',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export async function bundle(entry: string): Promise<string> {
  const out = await build({
    configFile: false,
    logLevel: 'warn',
    // opCases.ts imports the test API; the page only uses its case list.
    resolve: { alias: { vitest: path.join(here, 'vitest-shim.ts') } },
    worker: { format: 'es' },
    build: {
      write: false,
      minify: false,
      target: 'es2022',
      lib: { entry: path.join(here, entry), formats: ['es'], fileName: 'entry' },
      rollupOptions: { output: { inlineDynamicImports: true } },
    },
  });
  const outputs = (Array.isArray(out) ? out : [out]) as { output: { type: string; code?: string; fileName: string }[] }[];
  const chunk = outputs[0].output.find((o) => o.type === 'chunk');
  if (!chunk?.code) throw new Error(`vite produced no bundle for test/browser/${entry}`);
  return chunk.code;
}

export interface BrowserPage {
  readonly page: Page;
  /** Page errors and console errors/warnings, for the test to print. */
  readonly messages: string[];
  close(): Promise<void>;
}

/** Bundle `entry` (and `scripts`: more entries served as /<name>.js, e.g. a worker), open it in Chromium and wait until it has set globalThis.qwen. */
export async function openPage(entry: string, scripts: Record<string, string> = {}): Promise<BrowserPage> {
  const code: Record<string, string> = { '/entry.js': await bundle(entry) };
  for (const [name, file] of Object.entries(scripts)) code[`/${name}.js`] = await bundle(file);
  const server = http.createServer((req, res) => {
    if (req.url && code[req.url]) {
      res.setHeader('content-type', 'text/javascript');
      res.end(code[req.url]);
    } else {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><script type="module" src="/entry.js"></script>');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const stop = () => new Promise<void>((ok) => server.close(() => ok()));
  try {
    const bp = await openUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await bp.page.waitForFunction(() => 'qwen' in globalThis, null, { timeout: 60_000 });
    return { ...bp, close: async () => (await bp.close(), await stop()) };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Open `url` in headless Chromium, collecting page errors and console errors/warnings; `webgpu: false` turns it off. */
export async function openUrl(url: string, o: { webgpu?: boolean } = {}): Promise<BrowserPage> {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  const { chromium } = await import('playwright-core');
  const args = o.webgpu === false ? [...FLAGS.filter((f) => !f.includes('webgpu') && !f.includes('swiftshader')), '--disable-features=WebGPU,Vulkan', '--disable-gpu'] : FLAGS;
  const browser = await chromium.launch({ executablePath: chromiumPath, args });
  const messages: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => messages.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') messages.push(m.text());
    });
    await page.goto(url);
    return { page, messages, close: () => browser.close() };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

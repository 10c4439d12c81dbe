// npm run test:webgpu: bundles the WebGPU backend with vite, serves it on 127.0.0.1 (WebGPU needs a secure
// context), drives headless Chromium through playwright-core and runs every op-harness case against ref in the page.
// Chromium comes from the system (apt-get install -y chromium) or CHROMIUM_PATH; SwiftShader gives it a CPU WebGPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import type { Browser, Page } from 'playwright-core';
import { opCases } from '../backend/opCases.js';
import { fusedCases } from '../backend/webgpuFusedCases.js';
import type { CaseResult } from './entry.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
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

async function bundle(): Promise<string> {
  const out = await build({
    configFile: false,
    logLevel: 'warn',
    resolve: {
      alias: Object.fromEntries([['vitest', 'vitest-shim.ts'], ...['node:fs/promises', 'node:fs', 'node:path', 'node:url'].map((m) => [m, 'node-shims.ts'])].map(([k, f]) => [k, path.join(here, f)])),
    },
    build: {
      write: false,
      minify: false,
      target: 'es2022',
      lib: { entry: path.join(here, 'entry.ts'), formats: ['es'], fileName: 'entry' },
      rollupOptions: { output: { inlineDynamicImports: true } },
    },
  });
  const outputs = (Array.isArray(out) ? out : [out]) as { output: { type: string; code?: string; fileName: string }[] }[];
  const chunk = outputs[0].output.find((o) => o.type === 'chunk');
  if (!chunk?.code) throw new Error('vite produced no bundle for test/browser/entry.ts');
  return chunk.code;
}

describe('op harness: webgpu (Chromium) vs ref', () => {
  let server: http.Server;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium, or set CHROMIUM_PATH`);
    const code = await bundle();
    server = http.createServer((req, res) => {
      if (req.url === '/entry.js') {
        res.setHeader('content-type', 'text/javascript');
        res.end(code);
      } else {
        res.setHeader('content-type', 'text/html');
        res.end('<!doctype html><script type="module" src="/entry.js"></script>');
      }
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: chromiumPath, args: FLAGS });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') pageErrors.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'qwen' in globalThis, null, { timeout: 60_000 });
    const info = await page.evaluate(() => (globalThis as unknown as { qwen: { init(): Promise<unknown> } }).qwen.init());
    console.log('browser WebGPU adapter:', JSON.stringify(info));
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
    if (pageErrors.length) console.warn(`page messages:\n${pageErrors.slice(0, 20).join('\n')}`);
  });

  for (const unfused of [false, true]) {
    it(`tiny model${unfused ? ' (fused ops composed from contract ops)' : ''}: prefill with image in chunks + 3 decode steps match ref to 1e-4`, async () => {
      const errs = await page.evaluate((f) => (globalThis as unknown as { qwen: { model(f: boolean): Promise<number[]> } }).qwen.model(f), unfused);
      console.log(`tiny model${unfused ? ' (unfused)' : ''} logits relative errors per step: ${errs.map((e) => e.toExponential(2)).join(', ')}`);
      for (const e of errs) expect(e).toBeLessThanOrEqual(1e-4);
    });
  }

  it('elementwise op over a 2-D dispatch grid (> 65535 workgroups)', async () => {
    const bad = await page.evaluate(() => (globalThis as unknown as { qwen: { bigAdd(): Promise<number> } }).qwen.bigAdd());
    expect(bad).toBe(0);
  });

  it('per-kernel profiling and pass timing report GPU time', async () => {
    const r = await page.evaluate(() => (globalThis as unknown as { qwen: { timing(): Promise<{ kernels: string[]; passMs: number | null }> } }).qwen.timing());
    expect(r.kernels).toEqual(['add:1', 'rmsnorm:1']);
    if (r.passMs !== null) expect(r.passMs).toBeGreaterThan(0);
  });

  for (const c of fusedCases) {
    it(`fused: ${c.name}`, async () => {
      const errs = await page.evaluate((n) => (globalThis as unknown as { qwen: { fused(n: string): Promise<number[]> } }).qwen.fused(n), c.name);
      for (const e of errs) expect(e).toBeLessThanOrEqual(c.tol);
    });
  }

  for (const c of opCases) {
    it(c.name, async () => {
      const r: CaseResult = await page.evaluate((n) => (globalThis as unknown as { qwen: { run(n: string): Promise<CaseResult> } }).qwen.run(n), c.name);
      for (const [got, want] of r.lengths) expect(got).toBe(want);
      for (const e of r.errs) expect(e).toBeLessThanOrEqual(c.tol);
    });
  }
});

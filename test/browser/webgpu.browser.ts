// npm run test:webgpu: the WebGPU backend bundled into a page in headless Chromium (harness.ts), every op-harness
// case run against ref in the page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { opCases } from '../backend/opCases.js';
import { fusedCases } from '../backend/webgpuFusedCases.js';
import type { CaseResult } from './entry.js';
import { type BrowserPage, openPage } from './harness.js';

describe('op harness: webgpu (Chromium) vs ref', () => {
  let bp: BrowserPage;
  let page: Page;

  beforeAll(async () => {
    bp = await openPage('entry.ts');
    page = bp.page;
    const info = await page.evaluate(() => (globalThis as unknown as { qwen: { init(): Promise<unknown> } }).qwen.init());
    console.log('browser WebGPU adapter:', JSON.stringify(info));
  });

  afterAll(async () => {
    await bp?.close();
    if (bp?.messages.length) console.warn(`page messages:\n${bp.messages.slice(0, 20).join('\n')}`);
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

  it('KV pools: bad widths, a weight passed as a pool, a slot outside the pool, mixed pool formats are clear errors', async () => {
    const m = await page.evaluate(() => (globalThis as unknown as { qwen: { kvErrors(): Promise<string[]> } }).qwen.kvErrors());
    expect(m[0]).toMatch(/q8_0 rows need a multiple of 32 values \(got 48\)/);
    expect(m[1]).toMatch(/f16 rows need an even number of values \(got 63\)/);
    expect(m[2]).toMatch(/is not a KV pool made by kvAlloc/);
    expect(m[3]).toMatch(/slot 32 outside the pool of 32/);
    expect(m[4]).toMatch(/key pool f16 vs value pool q8_0/);
    expect(m[5]).toMatch(/is not a KV pool/);
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
      if (c.kvDType) console.log(`${c.name}: rel err ${r.errs.map((e) => e.toExponential(2)).join(', ')} (tolerance ${c.tol})`);
      for (const [got, want] of r.lengths) expect(got).toBe(want);
      for (const e of r.errs) expect(e).toBeLessThanOrEqual(c.tol);
    });
  }
});

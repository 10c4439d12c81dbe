// Browser tier, loading: the weight cache (second load with zero bytes fetched, counted at the server; a stated
// sha256 that does not match is refused; list/bytesUsed/delete), JS heap during a chunked load against the largest
// tensor (sampled over CDP), and pre-quantized q8_0/q4_0 checkpoints against the same files on ref in Node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadModel as loadCore } from '../../src/models/qwen3vl/load.js';
import { genCheckpoint, VOCAB } from '../../src/tools/genCheckpoint.js';
import { quantize } from '../../src/tools/quantize.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { relErr } from '../helpers/compare.js';
import { type StaticServer, startStaticServer } from '../helpers/staticServer.js';
import { type BrowserPage, openPage } from './harness.js';
import type { LoadApi, LoadResult } from './loadEntry.js';

const CASE = 'tiny-dense';
type Api = { qwen: LoadApi };

describe('loading in Chromium: cache, heap, pre-quantized', () => {
  let bp: BrowserPage;
  let files: StaticServer;
  let tmp: string;
  const call = <K extends keyof LoadApi>(k: K, ...a: Parameters<LoadApi[K]>) =>
    bp.page.evaluate(([k, a]) => ((globalThis as unknown as Api).qwen[k] as (...x: unknown[]) => unknown)(...a), [k, a] as const) as Promise<Awaited<ReturnType<LoadApi[K]>>>;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-load-'));
    files = await startStaticServer(fixturesRoot);
    bp = await openPage('loadEntry.ts');
  });

  afterAll(async () => {
    await bp?.close();
    await files?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (bp?.messages.length) console.warn(`page messages:\n${bp.messages.slice(0, 20).join('\n')}`);
  });

  it('second load comes from the cache with zero bytes fetched; the cache manager lists and deletes it', async () => {
    const url = `${files.url}${CASE}/`;
    await call('clear');
    const [b0, r0] = [files.sentBytes, files.requests];
    const first: LoadResult = await call('load', url, { cache: true });
    const [b1, r1] = [files.sentBytes, files.requests];
    // Re-hashing every cached file proves the bytes on disk are the ones downloaded (a mismatch would re-download).
    const second: LoadResult = await call('load', url, { cache: true, verify: true });
    const [b2, r2] = [files.sentBytes, files.requests];
    const weights = statSync(path.join(fixturesRoot, CASE, 'model.safetensors')).size;
    const all = readdirSync(path.join(fixturesRoot, CASE)).filter((f) => !f.startsWith('golden')).reduce((a, f) => a + statSync(path.join(fixturesRoot, CASE, f)).size, 0);
    console.log(`[cache] first load ${b1 - b0} bytes in ${r1 - r0} requests (${(first.ms / 1000).toFixed(1)} s, machine loaded); second load ${b2 - b1} bytes in ${r2 - r1} requests, ${second.fromCache} bytes read from the cache (${(second.ms / 1000).toFixed(1)} s)`);
    expect(first.downloaded).toBeGreaterThanOrEqual(weights);
    expect(b1 - b0).toBeLessThanOrEqual(all + 100); // each file once (plus one-byte probes)
    expect(b2 - b1).toBe(0);
    expect(r2 - r1).toBe(0);
    expect(second.downloaded).toBe(0);
    expect(second.fromCache).toBeGreaterThanOrEqual(weights);

    const list = await call('list');
    expect(list.map((m) => m.url)).toEqual([url]);
    const st = list[0].files.find((f) => f.name === 'model.safetensors')!;
    expect(st.size).toBe(weights);
    expect(st.sha256).toBe(createHash('sha256').update(readFileSync(path.join(fixturesRoot, CASE, 'model.safetensors'))).digest('hex'));
    expect(await call('bytesUsed')).toBe(list[0].bytes);
    expect(await call('delete', url)).toBe(true);
    expect(await call('delete', url)).toBe(false);
    expect(await call('list')).toEqual([]);
    expect(await call('bytesUsed')).toBe(0);
  });

  it('a download whose sha256 differs from the one the server states is refused and not cached', async () => {
    const bad = await startStaticServer(fixturesRoot, { headers: { 'x-linked-etag': `"${'0'.repeat(64)}"` } });
    try {
      const msg = await call('loadError', `${bad.url}${CASE}/`);
      console.log(`[cache] wrong stated sha256: ${msg}`);
      expect(msg).toMatch(/sha256 [0-9a-f]{64} of the download differs from the server's 0{64}; not cached/);
      const list = await call('list');
      expect(list.flatMap((m) => m.files)).toEqual([]);
    } finally {
      await bad.close();
      await call('clear');
    }
  });

  // A one-layer checkpoint with the 2B's embedding width cut to 512: a 156 MB embedding, the largest tensor.
  it('peak JS heap during a chunked load stays well under the largest tensor (and does not when chunks are whole tensors)', async () => {
    const shape = { H: 512, layers: 1, nh: 4, nkv: 2, hd: 128, I: 512, tie: true, vision: { depth: 1, Hv: 64, Iv: 128, deepstack: [0] } };
    await genCheckpoint({ out: path.join(tmp, 'wide'), shape });
    const largest = VOCAB * shape.H * 2;
    const wide = await startStaticServer(tmp);
    const cdp = await bp.page.context().newCDPSession(bp.page);
    const used = async () => {
      const h = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
      return h.usedSize + (h.backingStorageSize ?? NaN);
    };
    const peakDuring = async (chunk?: number, cache = false) => {
      await cdp.send('HeapProfiler.collectGarbage');
      const base = await used();
      let peak = base;
      let done = false;
      const sampler = (async () => {
        // A sample per millisecond at most: a back-to-back stream of CDP requests competes with the load it watches.
        while (!done) {
          peak = Math.max(peak, await used());
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
      try {
        await call('loadWeights', `${wide.url}wide/`, chunk, cache);
      } finally {
        done = true;
        await sampler.catch(() => {});
      }
      return { base, peak: peak - base };
    };
    try {
      const small = await peakDuring();
      const whole = await peakDuring(256 << 20);
      const download = await peakDuring(undefined, true);
      const cached = await peakDuring(undefined, true);
      console.log(`[heap] largest tensor ${largest} bytes; peak JS heap + ArrayBuffer backing stores above the start: ${small.peak} bytes with the default chunks, ${whole.peak} bytes with whole-tensor reads (start ${small.base}); through the cache: ${download.peak} bytes downloading, ${cached.peak} bytes reading the cached copy`);
      expect(Number.isNaN(small.peak)).toBe(false);
      expect(whole.peak).toBeGreaterThan(largest);
      expect(small.peak).toBeLessThan(largest / 4);
      expect(cached.peak).toBeLessThan(largest / 4);
      expect(download.peak).toBeLessThan(largest / 4);
    } finally {
      await wide.close();
      await call('clear');
    }
  });

  it("precision 'fast' (bf16 kept as f16): chunked and whole-tensor uploads give identical logits", async () => {
    const ids = [151644, 872, 198, 3838, 374, 419, 30, 151645];
    const url = `${files.url}${CASE}/`;
    const chunked = await call('lastLogits', url, ids, { chunk: 1 << 20, precision: 'fast' });
    const whole = await call('lastLogits', url, ids, { chunk: 1 << 30, precision: 'fast' });
    const exact = Float32Array.from(await call('lastLogits', url, ids, { chunk: 1 << 20 }));
    const err = relErr(Float32Array.from(chunked), exact);
    console.log(`[fast] chunked vs whole: ${chunked.filter((v, i) => v !== whole[i]).length} of ${whole.length} logits differ; fast vs exact rel err ${err.toExponential(2)}${err === 0 ? " (this adapter runs 'fast' as exact: the f16 rewrite is not exercised here)" : ''}`);
    expect(chunked.length).toBe(exact.length);
    expect(chunked).toEqual(whole);
  });

  for (const dtype of ['q8_0', 'q4_0'] as const) {
    it(`pre-quantized ${dtype} checkpoint loads in the page; last logits equal ref in Node on the same file`, async () => {
      const out = path.join(tmp, `${CASE}-${dtype}`);
      await quantize({ input: path.join(fixturesRoot, CASE), output: out, dtype, native: false });
      for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json']) {
        try {
          cpSync(path.join(fixturesRoot, CASE, f), path.join(out, f), { force: false, errorOnExist: false });
        } catch {
          // optional files
        }
      }
      const ids = [151644, 872, 198, 3838, 374, 419, 30, 151645];
      const ref = await loadCore(out, { backend: 'ref' });
      const want = (await ref.forward({ inputIds: ids, logits: 'last' })).logits;
      ref.dispose();
      const q = await startStaticServer(tmp);
      try {
        const got = Float32Array.from(await call('lastLogits', `${q.url}${CASE}-${dtype}/`, ids));
        const err = relErr(got, want);
        console.log(`[${dtype}] ${statSync(path.join(out, 'model.safetensors')).size} bytes; last logits rel err ${err.toExponential(2)} vs ref`);
        expect(got.length).toBe(want.length);
        expect(err).toBeLessThan(1e-4);
      } finally {
        await q.close();
      }
    });
  }
});

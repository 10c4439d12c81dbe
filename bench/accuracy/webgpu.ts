// The held-out accuracy set answered on webgpu in headless Chromium (SwiftShader where there is no GPU), as the
// browser tier runs: the checkpoint and the media served over HTTP, the engine bundled into a page
// (test/browser/accuracyEntry.ts), the answers scored here against train.py's. Used by bench:accuracy and
// test/browser/accuracy.browser.ts.
import path from 'node:path';
import { demoModelDir } from '../../src/tools/demoModel.js';
import type { WeightFormat } from '../../src/weights/convert.js';
import { openPage } from '../../test/browser/harness.js';
import type { AccuracyPageApi, PageLoad, PageQuestion } from '../../test/browser/accuracyEntry.js';
import { startStaticServer } from '../../test/helpers/staticServer.js';
import { type AccuracyItem, type AccuracyResult, accuracyMediaDir, score } from './suite.js';

export interface WebGpuAccuracy {
  readonly results: AccuracyResult[];
  /** The adapter Chromium gave (e.g. SwiftShader). */
  readonly adapter: string;
  /** Page errors and console warnings, for the caller to print. */
  readonly messages: string[];
}

type Api = { qwen: AccuracyPageApi };
// Questions per page.evaluate: progress between calls without a round trip per question.
const BATCH = 10;

const rel = (f: string) => path.relative(accuracyMediaDir, f).split(path.sep).join('/');

function pageQuestion(it: AccuracyItem): PageQuestion {
  return { id: it.id, images: it.images.map(rel), video: it.video && { frames: it.video.frames.map(rel), fps: it.video.fps }, question: it.question };
}

/** One Chromium page for every weight format: load the demo checkpoint from a URL at `dtype`, answer `items`, score. */
export async function runAccuracyWebGpu(items: readonly AccuracyItem[], dtypes: readonly WeightFormat[], onProgress?: (line: string) => void): Promise<WebGpuAccuracy> {
  const [model, media] = await Promise.all([startStaticServer(demoModelDir), startStaticServer(accuracyMediaDir)]);
  let bp: Awaited<ReturnType<typeof openPage>> | undefined;
  try {
    bp = await openPage('accuracyEntry.ts');
    const page = bp.page;
    const results: AccuracyResult[] = [];
    let adapter = '';
    for (const dtype of dtypes) {
      const t0 = performance.now();
      const load: PageLoad = await page.evaluate(([u, d]) => (globalThis as unknown as Api).qwen.load(u, d), [model.url, dtype] as const);
      adapter = load.adapter;
      onProgress?.(`webgpu ${dtype}: loaded in ${(load.loadMs / 1000).toFixed(1)} s`);
      const answers: AccuracyResult['answers'] = [];
      for (let i = 0; i < items.length; i += BATCH) {
        const batch = items.slice(i, i + BATCH);
        const texts = await page.evaluate(([u, qs]) => (globalThis as unknown as Api).qwen.answer(u, qs), [media.url, batch.map(pageQuestion)] as const);
        batch.forEach((it, j) => answers.push(score(it, texts[j])));
        onProgress?.(`webgpu ${dtype}: ${answers.length}/${items.length} answered, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      await page.evaluate(() => (globalThis as unknown as Api).qwen.dispose());
      results.push({ backend: 'webgpu', where: 'Chromium', dtype, answers, seconds: (performance.now() - t0) / 1000 });
    }
    // The loader probes model.safetensors.index.json, which a single-file checkpoint lacks; Chromium logs the 404.
    return { results, adapter, messages: bp.messages.filter((m) => !/status of 404/.test(m)) };
  } finally {
    await bp?.close();
    await Promise.all([model.close(), media.close()]);
  }
}

// The page side of the demo model's accuracy on webgpu (bench/accuracy/webgpu.ts): the checkpoint loaded from a URL
// at a weight format, each held-out question's pictures or clip frames fetched as Blobs (decoded by the browser, as a
// web page would), greedy answers returned to Node, which scores them against train.py's.
import { loadModel, type Qwen3VL } from '../../src/generate/engine.js';
import type { ContentPart } from '../../src/chat/messages.js';
import type { WeightFormat } from '../../src/weights/convert.js';

/** A held-out question with its media as file names under the media URL. */
export interface PageQuestion {
  readonly id: number;
  readonly images: readonly string[];
  readonly video?: { readonly frames: readonly string[]; readonly fps: number };
  readonly question: string;
}

export interface PageLoad {
  readonly adapter: string;
  readonly loadMs: number;
}

let model: Qwen3VL | null = null;

const blob = async (url: string): Promise<Blob> => {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fetching ${url} failed: HTTP ${res.status}`);
  return res.blob();
};

const api = {
  async load(url: string, dtype: WeightFormat): Promise<PageLoad> {
    model?.dispose();
    model = null;
    const t0 = performance.now();
    model = await loadModel(url, { backend: 'webgpu', dtype });
    const info = model.backend.capabilities().info;
    return { adapter: `${info.api} ${info.vendor} ${info.architecture} ${info.description}`.replace(/\s+/g, ' ').trim(), loadMs: performance.now() - t0 };
  },

  /** Greedy answers (64 tokens at most, as the Node suite) to a batch of questions, in order. */
  async answer(mediaUrl: string, qs: readonly PageQuestion[]): Promise<string[]> {
    if (!model) throw new Error('accuracy page: answer() before load()');
    const out: string[] = [];
    for (const q of qs) {
      // Media first, then the text: the training format (src/tools/demoModel.ts demoMessage).
      const content: ContentPart[] = [];
      for (const f of q.images) content.push({ type: 'image', image: await blob(mediaUrl + f) });
      if (q.video) content.push({ type: 'video', video: { frames: await Promise.all(q.video.frames.map((f) => blob(mediaUrl + f))), fps: q.video.fps } });
      content.push({ type: 'text', text: q.question });
      const r = await model.complete([{ role: 'user', content }], { maxTokens: 64, temperature: 0 });
      out.push(r.text);
    }
    return out;
  },

  dispose(): void {
    model?.dispose();
    model = null;
  },
};

export type AccuracyPageApi = typeof api;
(globalThis as unknown as { qwen: AccuracyPageApi }).qwen = api;

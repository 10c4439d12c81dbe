// The page side of the URL-loading browser test: loadModel(url, webgpu) through HTTP Range requests, the golden
// forward and greedy decode, compared in the page; returns the numbers to the Node side (model.browser.ts).
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { loadModel as loadEngine } from '../../src/generate/engine.js';
import { argmax } from '../../src/tensor/math.js';
import { goldenInputs, hashBytes, loadGolden, relErr } from '../helpers/compare.js';
import { type ChatCase, type ChatCaseResult, chatMessages } from './chatCase.js';

export interface ModelCaseResult {
  readonly adapter: string;
  /** Relative error per golden logits key. */
  readonly errs: Record<string, number>;
  readonly tokens: number[];
  readonly want: number[];
  readonly progressCalls: number;
  readonly lastProgress: { loadedBytes: number; totalBytes: number };
  readonly loadMs: number;
  readonly forwardMs: number;
}

const api = {
  async run(url: string): Promise<ModelCaseResult> {
    let calls = 0;
    let last = { loadedBytes: 0, totalBytes: 0 };
    const t0 = performance.now();
    const model = await loadModel(url, {
      backend: 'webgpu',
      onProgress: (p) => {
        calls++;
        last = { loadedBytes: p.loadedBytes, totalBytes: p.totalBytes };
      },
    });
    const loadMs = performance.now() - t0;
    try {
      const g = await loadGolden(url);
      const inputs = goldenInputs(g);
      const want = g.json.greedy_new_tokens ?? [];
      const cache = model.createCache(g.json.input_ids.length + want.length + 8);
      // One prefill (all logits, into the cache) serves the golden comparison and the greedy start.
      const t1 = performance.now();
      const logits = (await model.forward({ ...inputs, cache })).logits;
      const forwardMs = performance.now() - t1;
      const errs: Record<string, number> = {};
      for (const key of ['logits', 'logits.last4']) {
        const w = g.tensors.get(key)?.f32();
        if (w) errs[key] = relErr(key === 'logits' ? logits : logits.subarray(logits.length - w.length), w);
      }
      let l = logits.subarray(logits.length - model.config.text.vocabSize);
      const tokens: number[] = [];
      for (let step = 0; step < want.length; step++) {
        tokens.push(argmax(l));
        if (step + 1 < want.length) l = await model.decode(cache, [tokens[step]]);
      }
      cache.dispose();
      const info = model.backend.capabilities().info;
      return { adapter: `${info.api} ${info.vendor} ${info.architecture} ${info.description}`.replace(/\s+/g, ' ').trim(), errs, tokens, want, progressCalls: calls, lastProgress: last, loadMs, forwardMs };
    } finally {
      model.dispose();
    }
  },
};

/** Processor (tokenizer and template by fetch, PNGs as Blobs decoded by the browser) and a greedy chat on webgpu. */
async function chat(url: string, c: ChatCase): Promise<ChatCaseResult> {
  const blobs = c.images.map((b) => new Blob([new Uint8Array(b)], { type: 'image/png' }));
  const engine = await loadEngine(url, { backend: 'webgpu' });
  try {
    if (!engine.processor) throw new Error(`${url}: no processor`);
    const messages = chatMessages(c.prompt, blobs);
    const prep = await engine.processor.prepare(messages, { addGenerationPrompt: true, ...c.pixels });
    const r = await engine.complete(messages, { maxTokens: c.maxTokens, temperature: 0, ...c.pixels });
    return { inputIds: prep.inputIds, grid: prep.imageGridThw ?? [], pixelHash: hashBytes(prep.pixelValues ?? new Float32Array()), tokens: [...r.tokens], text: r.text };
  } finally {
    engine.dispose();
  }
}

(globalThis as unknown as { qwen: typeof api & { chat: typeof chat } }).qwen = { ...api, chat };

// The page side of the URL-loading browser test: loadModel(url, webgpu) through HTTP Range requests, the golden
// forward and greedy decode, compared in the page; returns the numbers to the Node side (model.browser.ts).
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { loadModel as loadEngine } from '../../src/generate/engine.js';
import { argmax } from '../../src/tensor/math.js';
import { goldenInputs, hashBytes, loadGolden, relErr } from '../helpers/compare.js';
import { type ChatCase, type ChatCaseResult, chatMessages } from './chatCase.js';
import type { KvDType } from '../../src/backend/backend.js';
import { batchModel } from '../../src/generate/batchModel.js';
import { Scheduler } from '../../src/generate/scheduler.js';
import type { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import { ropeIndex } from '../../src/models/qwen3vl/positions.js';
import { PagedKv } from '../../src/nn/kvPool.js';

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

/** One KV format's greedy run of the golden prompt through the scheduler: tokens and every step's logits. */
interface KvRun {
  tokens: number[];
  logits: Float32Array[];
}

export interface KvCaseResult {
  /** The pool format a webgpu model gets when none is asked for. */
  readonly defaultDType: KvDType;
  readonly want: number[];
  readonly f32: number[];
  /**
   * f16 and q8_0 teacher-forced on f32's tokens: the argmax of each step (all equal to f32's tokens exactly when
   * free-running greedy would give f32's tokens), and max |logit − f32 logit| over the f32 logit range.
   */
  readonly tokens: Record<'f16' | 'q8_0', number[]>;
  readonly err: Record<'f16' | 'q8_0', number>;
}

async function pagedRun(m: Qwen3VLModel, inputs: ReturnType<typeof goldenInputs>, maxTokens: number, dtype: KvDType, force?: readonly number[]): Promise<KvRun> {
  const c = m.config;
  const ids = Int32Array.from(inputs.inputIds);
  const media = { pixelValues: inputs.pixelValues, imageGridThw: inputs.imageGridThw, pixelValuesVideos: inputs.pixelValuesVideos, videoGridThw: inputs.videoGridThw };
  const rope = ropeIndex(ids, { imageTokenId: c.imageTokenId, videoTokenId: c.videoTokenId, spatialMergeSize: c.vision.spatialMergeSize }, media.imageGridThw ?? [], media.videoGridThw ?? []);
  const kv = new PagedKv(m.backend, c.text.numHiddenLayers, c.text.numKeyValueHeads * c.text.headDim, { tokens: 256, dtype, defaultTokens: 0 });
  const out: KvRun = { tokens: [], logits: [] };
  try {
    // A 24-token budget: the prompt's prefill runs in chunks, as the engine's does beside other sequences.
    const sched = new Scheduler(batchModel(m, kv, 256), { maxSeqs: 1, maxBatchTokens: 24 });
    sched.submit({
      ids,
      positions: rope.positions,
      ropeDelta: rope.ropeDelta,
      media,
      maxTokens,
      next(l) {
        out.logits.push(Float32Array.from(l));
        const t = force?.[out.tokens.length] ?? argmax(l);
        out.tokens.push(t);
        return t;
      },
    });
    await sched.idle();
    return out;
  } finally {
    kv.dispose();
  }
}

const api = {
  /** The golden prompt greedy on webgpu with f32, f16 and q8_0 paged KV caches. */
  async kv(url: string): Promise<KvCaseResult> {
    const model = await loadModel(url, { backend: 'webgpu' });
    try {
      const g = await loadGolden(url);
      const inputs = goldenInputs(g);
      const want = g.json.greedy_new_tokens ?? [];
      const c = model.config.text;
      const defaultDType = PagedKv.plan(model.backend, c.numHiddenLayers, c.numKeyValueHeads * c.headDim, { defaultTokens: 64 }).dtype;
      const f32 = await pagedRun(model, inputs, want.length, 'f32');
      const tokens = { f16: [] as number[], q8_0: [] as number[] };
      const err = { f16: 0, q8_0: 0 };
      for (const dt of ['f16', 'q8_0'] as const) {
        const low = await pagedRun(model, inputs, want.length, dt, f32.tokens);
        f32.logits.forEach((l, k) => {
          const o = low.logits[k];
          let range = 0;
          let e = 0;
          for (let i = 0; i < l.length; i++) {
            range = Math.max(range, Math.abs(l[i]));
            e = Math.max(e, Math.abs(l[i] - o[i]));
          }
          err[dt] = Math.max(err[dt], e / range);
          tokens[dt].push(argmax(o));
        });
      }
      return { defaultDType, want, f32: f32.tokens, tokens, err };
    } finally {
      model.dispose();
    }
  },

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

// Prefill and decode speed of a loaded model on a synthetic text prompt, through the serving path (paged KV cache):
// the measurement behind `qwen3-vl bench` and the CPU benchmark (bench/run.ts). Best of `reps` timed runs after a
// short warm-up, because shared machines are noisy and the least disturbed run is the closest to the machine's speed.

import { defaultBatchTokens } from '../generate/engine.js';
import { forwardPaged } from '../models/qwen3vl/batch.js';
import type { KvDType } from '../backend/backend.js';
import type { Qwen3VLModel } from '../models/qwen3vl/model.js';
import { KV_BLOCK, PagedKv } from '../nn/kvPool.js';
import { argmax } from '../tensor/math.js';

export interface SpeedOptions {
  /** Prompt tokens, prefilled in the scheduler's chunks. */
  readonly prompt: number;
  /** Tokens decoded greedily one by one after the prompt. */
  readonly gen: number;
  readonly reps?: number;
}

export interface Speed {
  readonly prefillTokS: number;
  readonly decodeTokS: number;
}

/** A reproducible prompt of n ordinary token ids below `vocab` (no special tokens: those sit at the top). */
export function promptIds(n: number, vocab: number): number[] {
  let s = 7;
  const span = Math.max(1, Math.min(140000, vocab - 1000));
  return Array.from({ length: n }, () => ((s = (s * 48271) % 2147483647), Math.min(vocab - 1, 1000 + (s % span))));
}

/**
 * One sequence on the serving path (what `run` and `serve` execute): a paged KV cache of its own in the engine's
 * format (f16 on cpu, as llama.cpp's) or in `dtype`, prompts prefilled in the scheduler's chunks, one forward per
 * decoded token.
 */
export interface ServingSession {
  /** Prefill `ids` from position 0 (over whatever the session held); the last token's logits. */
  prefill(ids: Int32Array): Promise<Float32Array>;
  /** Feed one token at position `pos`; its logits. */
  decode(token: number, pos: number): Promise<Float32Array>;
  dispose(): void;
}

export function servingSession(model: Qwen3VLModel, tokens: number, dtype?: KvDType): ServingSession {
  const t = model.config.text;
  const kv = new PagedKv(model.backend, t.numHiddenLayers, t.numKeyValueHeads * t.headDim, { tokens: tokens + KV_BLOCK, defaultTokens: tokens + KV_BLOCK, ...(dtype ? { dtype } : {}) });
  const blocks = kv.pool.allocate(kv.pool.blocksFor(tokens));
  if (!blocks) throw new Error(`servingSession: a pool for ${tokens} tokens could not hold them`);
  const chunk = defaultBatchTokens(model.backend.name);
  const step = async (ids: Int32Array, start: number): Promise<Float32Array> => {
    if (start + ids.length > tokens) throw new RangeError(`servingSession: position ${start + ids.length} is past the session's ${tokens} tokens`);
    const pos = Int32Array.from(ids, (_, i) => start + i);
    const out = forwardPaged(model, kv, [{ ids, start, positions: [pos, pos, pos], blocks, logits: true }]);
    try {
      return (await out.read()) as Float32Array;
    } finally {
      out.dispose();
    }
  };
  return {
    async prefill(ids) {
      let logits: Float32Array = new Float32Array(0);
      for (let a = 0; a < ids.length; a += chunk) logits = await step(ids.subarray(a, a + chunk), a);
      return logits;
    },
    decode: (token, pos) => step(Int32Array.of(token), pos),
    dispose: () => kv.dispose(),
  };
}

export async function measureSpeed(model: Qwen3VLModel, o: SpeedOptions): Promise<Speed> {
  if (!(o.prompt >= 1 && o.gen >= 1)) throw new RangeError(`measureSpeed: prompt and gen must be ≥ 1 (got ${o.prompt}, ${o.gen})`);
  const need = o.prompt + o.gen + 1;
  if (need > model.config.text.maxPositionEmbeddings) {
    throw new RangeError(`measureSpeed: ${o.prompt} + ${o.gen} tokens exceed the model's context of ${model.config.text.maxPositionEmbeddings}`);
  }
  const ids = Int32Array.from(promptIds(o.prompt, model.config.text.vocabSize));
  const s = servingSession(model, need);
  try {
    await s.prefill(ids.subarray(0, Math.min(16, ids.length))); // warm-up: thread pool, kernels' first use
    let prefillS = Infinity;
    let decodeS = Infinity;
    for (let rep = 0; rep < (o.reps ?? 2); rep++) {
      const p0 = performance.now();
      let logits = await s.prefill(ids);
      prefillS = Math.min(prefillS, (performance.now() - p0) / 1000);
      const d0 = performance.now();
      for (let i = 0; i < o.gen; i++) logits = await s.decode(argmax(logits), o.prompt + i);
      decodeS = Math.min(decodeS, (performance.now() - d0) / 1000);
    }
    return { prefillTokS: o.prompt / prefillS, decodeTokS: o.gen / decodeS };
  } finally {
    s.dispose();
  }
}

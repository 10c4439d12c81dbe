// Prefill and decode speed of a loaded model on a synthetic text prompt: the measurement behind `qwen3-vl bench`
// and the CPU benchmark (bench/run.ts). Best of `reps` timed runs after a short warm-up, because shared machines are
// noisy and the least disturbed run is the closest to the machine's real speed.

import type { Qwen3VLModel } from '../models/qwen3vl/model.js';
import { argmax } from '../tensor/math.js';

export interface SpeedOptions {
  /** Prompt tokens prefilled in one call. */
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

export async function measureSpeed(model: Qwen3VLModel, o: SpeedOptions): Promise<Speed> {
  if (!(o.prompt >= 1 && o.gen >= 1)) throw new RangeError(`measureSpeed: prompt and gen must be ≥ 1 (got ${o.prompt}, ${o.gen})`);
  const need = o.prompt + o.gen + 1;
  if (need > model.config.text.maxPositionEmbeddings) {
    throw new RangeError(`measureSpeed: ${o.prompt} + ${o.gen} tokens exceed the model's context of ${model.config.text.maxPositionEmbeddings}`);
  }
  const ids = promptIds(o.prompt, model.config.text.vocabSize);
  const cache = model.createCache(need);
  try {
    await model.forward({ inputIds: ids.slice(0, Math.min(16, ids.length)), cache, logits: 'last' });
    let prefillS = Infinity;
    let decodeS = Infinity;
    for (let rep = 0; rep < (o.reps ?? 2); rep++) {
      cache.reset();
      const p0 = performance.now();
      let logits = (await model.forward({ inputIds: ids, cache, logits: 'last' })).logits;
      prefillS = Math.min(prefillS, (performance.now() - p0) / 1000);
      const d0 = performance.now();
      for (let i = 0; i < o.gen; i++) logits = await model.decode(cache, [argmax(logits)]);
      decodeS = Math.min(decodeS, (performance.now() - d0) / 1000);
    }
    return { prefillTokS: o.prompt / prefillS, decodeTokS: o.gen / decodeS };
  } finally {
    cache.dispose();
  }
}

// Pipelined greedy decoding on one contiguous KV cache (the library's forward/decode path): the device always has the
// next step queued while the host waits for the last token. The serving path batches through the scheduler instead.

import type { ForwardInputs, Qwen3VLModel } from '../models/qwen3vl/model.js';
import type { KvCache } from '../nn/kvCache.js';
import type { Tensor } from '../tensor/tensor.js';

export interface GreedySteps {
  step(id: number, ahead?: boolean): Promise<number>;
  close(): void;
}

/**
 * Greedy decoding steps over `cache`, pipelined. `step(id)` feeds `id` and returns the argmax token after it. Each
 * step also records the following one ahead of time, fed on the backend with its own argmax, before that token is
 * read back, so the device never waits for the host. If the next `step` feeds that same token, the step recorded
 * ahead is used; otherwise (a forced token) it is dropped from the cache and the step recorded anew. `close()`
 * drops it too. `ahead` false: record nothing ahead (the last step, or a cache that is full).
 */
export function greedySteps(model: Qwen3VLModel, cache: KvCache): GreedySteps {
  const b = model.backend;
  let spec: { input: number; out: Tensor } | null = null;
  const drop = () => {
    if (!spec) return;
    spec.out.dispose();
    cache.length -= 1; // its key/value rows are overwritten by the next step
    spec = null;
  };
  return {
    step: async (id: number, ahead = true) => {
      let cur: Tensor;
      if (spec && spec.input === id) {
        cur = spec.out;
        spec = null;
      } else {
        drop();
        const ids = b.upload(Int32Array.of(id), [1], 'i32');
        cur = model.greedyStep(cache, ids);
        ids.dispose();
      }
      let next: Tensor | null = null;
      try {
        const token = cur.read(); // snapshot now: the copy runs right after this step
        next = ahead && cache.length < cache.maxLength ? model.greedyStep(cache, cur) : null;
        const v = (await token)[0];
        if (next) spec = { input: v, out: next };
        next = null;
        return v;
      } finally {
        cur.dispose();
        if (next) {
          // The read failed: forget the step recorded ahead.
          next.dispose();
          cache.length -= 1;
        }
      }
    },
    close: drop,
  };
}

/** Greedy decoding after `first` (the last token, not yet in the cache): up to `n` ids, stopping after one of `stopIds`. */
export async function decodeGreedyMany(model: Qwen3VLModel, cache: KvCache, first: number, n: number, stopIds: readonly number[] = []): Promise<number[]> {
  const out: number[] = [];
  const steps = greedySteps(model, cache);
  try {
    let next = first;
    while (out.length < n) {
      next = await steps.step(next, out.length + 1 < n);
      out.push(next);
      if (stopIds.includes(next)) break;
    }
  } finally {
    steps.close();
  }
  return out;
}

/** Greedy decoding with the KV cache: `maxNewTokens` ids (stops early on one of `stopIds`). */
export async function generateGreedy(model: Qwen3VLModel, inp: ForwardInputs, maxNewTokens: number, stopIds: readonly number[] = []): Promise<number[]> {
  const cache = inp.cache ?? model.createCache();
  try {
    if (maxNewTokens < 1) return [];
    const first = (await model.forwardArgmax({ ...inp, cache, logits: 'last' }))[0];
    if (stopIds.includes(first) || maxNewTokens === 1) return [first];
    return [first, ...(await decodeGreedyMany(model, cache, first, maxNewTokens - 1, stopIds))];
  } finally {
    if (!inp.cache) cache.dispose();
  }
}

// The scheduler's view of a Qwen3-VL model: one batched forward over the paged KV pool, and the vision tower.

import { encodeVisual, forwardPaged, placedVisual, type VisualFeatures } from '../models/qwen3vl/batch.js';
import type { Qwen3VLModel } from '../models/qwen3vl/model.js';
import type { PagedKv } from '../nn/kvPool.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ArgmaxStep, BatchModel } from './scheduler.js';

/** A recorded greedy step: its argmax ids stay on the backend to feed the step recorded after it. */
interface PagedArgmax extends ArgmaxStep {
  readonly tensor: Tensor;
}

export function batchModel(m: Qwen3VLModel, kv: PagedKv, contextLength = m.config.text.maxPositionEmbeddings): BatchModel<VisualFeatures> {
  const vocab = m.config.text.vocabSize;
  return {
    contextLength,
    pool: kv.pool,
    async encode(req, from) {
      const md = req.media;
      if (!md) return null;
      if (!md.items || !md.features) return encodeVisual(m, req.ids, md);
      // Only the items with placeholders at or after `from`: those inside a cached prefix never reach the tower.
      const need = md.items.filter((it) => it.runs.some(([s, len]) => s + len > from));
      if (!need.length) return null;
      const feats = await md.features(need);
      return placedVisual(m, need.map((it, i) => ({ runs: it.runs, vision: feats[i] })));
    },
    async forward(chunks) {
      const t = forwardPaged(m, kv, chunks);
      try {
        const data = (await t.read()) as Float32Array;
        return Array.from({ length: data.length / vocab }, (_, i) => data.subarray(i * vocab, (i + 1) * vocab));
      } finally {
        t.dispose();
      }
    },
    forwardArgmax(chunks, feed) {
      const t = forwardPaged(m, kv, chunks, { argmax: true, ids: feed ? (feed as PagedArgmax).tensor : undefined });
      const ids = t.read() as Promise<Int32Array>; // queued now: the copy runs right after this step
      ids.catch(() => {}); // a failure is seen by whoever awaits it
      return { tensor: t, ids: () => ids, dispose: () => t.dispose() } satisfies PagedArgmax;
    },
    release: (v) => v.dispose(),
  };
}

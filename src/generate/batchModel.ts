// The scheduler's view of a Qwen3-VL model: one batched forward over the paged KV pool, and the vision tower.

import { encodeVisual, forwardPaged, type VisualFeatures } from '../models/qwen3vl/batch.js';
import type { Qwen3VLModel } from '../models/qwen3vl/model.js';
import type { PagedKv } from '../nn/kvPool.js';
import type { BatchModel } from './scheduler.js';

export function batchModel(m: Qwen3VLModel, kv: PagedKv, contextLength = m.config.text.maxPositionEmbeddings): BatchModel<VisualFeatures> {
  const vocab = m.config.text.vocabSize;
  return {
    contextLength,
    pool: kv.pool,
    encode: (req) => (req.media ? encodeVisual(m, req.ids, req.media) : null),
    async forward(chunks) {
      const t = forwardPaged(m, kv, chunks);
      try {
        const data = (await t.read()) as Float32Array;
        return Array.from({ length: data.length / vocab }, (_, i) => data.subarray(i * vocab, (i + 1) * vocab));
      } finally {
        t.dispose();
      }
    },
    release: (v) => v.dispose(),
  };
}

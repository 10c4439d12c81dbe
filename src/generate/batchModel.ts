// The scheduler's view of a Qwen3-VL model: one batched forward over the paged KV pool, and the vision tower.

import { encodeVisual, forwardPaged, placedVisual, type VisualFeatures } from '../models/qwen3vl/batch.js';
import type { Qwen3VLModel } from '../models/qwen3vl/model.js';
import type { PagedKv } from '../nn/kvPool.js';
import type { BatchModel } from './scheduler.js';

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
    release: (v) => v.dispose(),
  };
}

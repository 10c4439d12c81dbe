// The fused decoder layer proposed in src/backend/webgpu/NOTES-for-lead.md, swapped into a loaded Qwen3VLModel
// (bench and tests only: it reaches into TextDecoder and KvCache internals). q|k|v weights are stacked on the GPU.
import type { WebGpuBackend } from '../../src/backend/webgpu/backend.js';
import type { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import type { KvCache } from '../../src/nn/kvCache.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { keep } from '../../src/tensor/tensor.js';

type LayerFn = (l: number, x: Tensor, cos: Tensor, sin: Tensor, cache: KvCache) => Tensor;

export function useFusedDecoder(model: Qwen3VLModel, b: WebGpuBackend): void {
  const cfg = model.config.text;
  const eps = cfg.rmsNormEps;
  const heads = { nHeads: cfg.numAttentionHeads, nKvHeads: cfg.numKeyValueHeads, headDim: cfg.headDim };
  const layers = model.weights.text.layers;
  const qkv = layers.map((w) => keep(b.concatRows([w.qProj, w.kProj, w.vProj])));
  const fused: LayerFn = (l, x, cos, sin, cache) => {
    const w = layers[l];
    const m = w.mlp;
    if (m.kind !== 'dense') throw new Error('fused decoder layer: dense MLP only');
    const c = cache as unknown as { k: Tensor[]; v: Tensor[]; length: number };
    const q = b.qkvPost(b.linearEx(x, qkv[l], { norm: { w: w.inputLayernorm, eps } }), w.qNorm, w.kNorm, cos, sin, eps, c.k[l], c.v[l], c.length, heads);
    const o = b.attention(q, c.k[l], c.v[l], { ...heads, scale: 1 / Math.sqrt(cfg.headDim), kvLen: c.length + x.rows, causal: true });
    const h = b.linearEx(o, w.oProj, { residual: x });
    const gu = b.linearEx(h, m.gateUp, { norm: { w: w.postAttentionLayernorm, eps } });
    return b.linearEx(gu, m.down, { swiglu: true, residual: h });
  };
  (model.text as unknown as { layer: LayerFn }).layer = fused;
}

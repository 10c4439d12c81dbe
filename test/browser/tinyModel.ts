// A tiny Qwen3-VL (tiny-dense shapes) with deterministic host-random weights uploaded to any backend, so the whole
// model (vision, DeepStack, MRoPE, KV-cache decode) can be compared between WebGPU and ref in the browser.
import type { Backend } from '../../src/backend/backend.js';
import { parseConfig, type ModelConfig } from '../../src/models/qwen3vl/config.js';
import { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import { toBf16 } from '../../src/tensor/dtype.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { buildVisionWeights, type LinearWeights, type MergerWeights, type NormWeights, type Qwen3VLWeights } from '../../src/models/qwen3vl/weights.js';
import { rng } from '../helpers/rng.js';

export const tinyConfig: ModelConfig = parseConfig({
  model_type: 'qwen3_vl',
  text_config: {
    model_type: 'qwen3_vl_text', vocab_size: 151936, hidden_size: 64, intermediate_size: 160, num_hidden_layers: 3,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, rms_norm_eps: 1e-6, rope_theta: 5000000,
    rope_scaling: { mrope_interleaved: true, mrope_section: [6, 5, 5], rope_type: 'default' },
    max_position_embeddings: 262144, tie_word_embeddings: true, hidden_act: 'silu',
  },
  vision_config: {
    depth: 3, hidden_size: 48, intermediate_size: 96, num_heads: 4, in_channels: 3, patch_size: 16, spatial_merge_size: 2,
    temporal_patch_size: 2, out_hidden_size: 64, num_position_embeddings: 64, deepstack_visual_indexes: [0, 2], hidden_act: 'gelu_pytorch_tanh',
  },
  tie_word_embeddings: true, image_token_id: 151655, video_token_id: 151656, vision_start_token_id: 151652, vision_end_token_id: 151653,
});

export function tinyModel(b: Backend, seed = 7): Qwen3VLModel {
  const r = rng(seed);
  const vals = (n: number, scale: number, offset = 0) => Float32Array.from({ length: n }, () => offset + (r() * 2 - 1) * scale);
  const mat = (o: number, i: number, scale = 0.2): Tensor => b.upload(toBf16(vals(o * i, scale)), [o, i], 'bf16');
  const vec = (n: number, scale = 0.1, offset = 0): Tensor => b.upload(vals(n, scale, offset), [n], 'f32');
  const t = tinyConfig.text;
  const v = tinyConfig.vision;
  const hd = t.headDim;
  const lin = (o: number, i: number): LinearWeights => ({ weight: mat(o, i), bias: vec(o) });
  const nrm = (n: number): NormWeights => ({ weight: vec(n, 0.1, 1), bias: vec(n) });
  const M = v.hiddenSize * 4;
  const merger = (n: number): MergerWeights => ({ norm: nrm(n), linearFc1: lin(M, M), linearFc2: lin(v.outHiddenSize, M) });
  const embed = mat(t.vocabSize, t.hiddenSize, 1);
  const w: Qwen3VLWeights = {
    text: {
      embedTokens: embed,
      lmHead: embed,
      norm: vec(t.hiddenSize, 0.1, 1),
      layers: Array.from({ length: t.numHiddenLayers }, () => ({
        inputLayernorm: vec(t.hiddenSize, 0.1, 1),
        postAttentionLayernorm: vec(t.hiddenSize, 0.1, 1),
        qkvProj: mat((t.numAttentionHeads + 2 * t.numKeyValueHeads) * hd, t.hiddenSize),
        oProj: mat(t.hiddenSize, t.numAttentionHeads * hd),
        qNorm: vec(hd, 0.1, 1),
        kNorm: vec(hd, 0.1, 1),
        mlp: { kind: 'dense' as const, gateUp: mat(2 * t.intermediateSize, t.hiddenSize), down: mat(t.hiddenSize, t.intermediateSize) },
      })),
    },
    vision: buildVisionWeights(v, { lin, nrm, merger }, lin(v.hiddenSize, 3 * 2 * 16 * 16), b.upload(vals(v.numPositionEmbeddings * v.hiddenSize, 0.5), [v.numPositionEmbeddings, v.hiddenSize], 'f32')),
  };
  return new Qwen3VLModel(b, tinyConfig, w);
}

/** Prompt with one 64×96-pixel image (grid [1, 4, 6] -> 6 visual tokens) and text around it. */
export function tinyPrompt(): { ids: number[]; pixels: Float32Array; grid: number[][] } {
  const r = rng(99);
  const grid = [[1, 4, 6]];
  const pixels = Float32Array.from({ length: 24 * 1536 }, () => r() * 2 - 1);
  const ids = [151644, 872, 198, 151652, ...new Array(6).fill(151655), 151653, 3838, 374, 419, 30];
  return { ids, pixels, grid };
}

// The published Qwen3-VL shapes (spec §1 table) as config.json objects, for random-weight benchmarks.
import { type ModelConfig, parseConfig } from '../../src/config/config.js';

interface Shape {
  h: number;
  layers: number;
  heads: number;
  kv: number;
  inter: number;
  tie: boolean;
  vDepth: number;
  vHidden: number;
  vInter: number;
  deepstack: number[];
  moe?: { experts: number; topk: number; inter: number };
}

export const SHAPES: Record<string, Shape> = {
  '2B': { h: 2048, layers: 28, heads: 16, kv: 8, inter: 6144, tie: true, vDepth: 24, vHidden: 1024, vInter: 4096, deepstack: [5, 11, 17] },
  '4B': { h: 2560, layers: 36, heads: 32, kv: 8, inter: 9728, tie: true, vDepth: 24, vHidden: 1024, vInter: 4096, deepstack: [5, 11, 17] },
  '8B': { h: 4096, layers: 36, heads: 32, kv: 8, inter: 12288, tie: false, vDepth: 27, vHidden: 1152, vInter: 4304, deepstack: [8, 16, 24] },
  '235B-A22B': { h: 4096, layers: 94, heads: 64, kv: 4, inter: 12288, tie: false, vDepth: 27, vHidden: 1152, vInter: 4304, deepstack: [8, 16, 24], moe: { experts: 128, topk: 8, inter: 1536 } },
  '30B-A3B': { h: 2048, layers: 48, heads: 32, kv: 4, inter: 6144, tie: false, vDepth: 27, vHidden: 1152, vInter: 4304, deepstack: [8, 16, 24], moe: { experts: 128, topk: 8, inter: 768 } },
};

export function shapeConfig(name: string): ModelConfig {
  const s = SHAPES[name];
  if (!s) throw new Error(`unknown model shape '${name}' (have ${Object.keys(SHAPES).join(', ')})`);
  const text: Record<string, unknown> = {
    vocab_size: 151936,
    hidden_size: s.h,
    intermediate_size: s.inter,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kv,
    head_dim: 128,
    rms_norm_eps: 1e-6,
    rope_theta: 5000000,
    rope_scaling: { mrope_interleaved: true, mrope_section: [24, 20, 20], rope_type: 'default' },
    max_position_embeddings: 262144,
    tie_word_embeddings: s.tie,
    hidden_act: 'silu',
    bos_token_id: 151643,
    eos_token_id: 151645,
  };
  if (s.moe) Object.assign(text, { num_experts: s.moe.experts, num_experts_per_tok: s.moe.topk, moe_intermediate_size: s.moe.inter, decoder_sparse_step: 1, mlp_only_layers: [] });
  return parseConfig({
    model_type: s.moe ? 'qwen3_vl_moe' : 'qwen3_vl',
    text_config: { model_type: s.moe ? 'qwen3_vl_moe_text' : 'qwen3_vl_text', ...text },
    vision_config: {
      depth: s.vDepth,
      hidden_size: s.vHidden,
      intermediate_size: s.vInter,
      num_heads: 16,
      in_channels: 3,
      patch_size: 16,
      spatial_merge_size: 2,
      temporal_patch_size: 2,
      out_hidden_size: s.h,
      num_position_embeddings: 2304,
      deepstack_visual_indexes: s.deepstack,
      hidden_act: 'gelu_pytorch_tanh',
    },
    tie_word_embeddings: s.tie,
    image_token_id: 151655,
    video_token_id: 151656,
    vision_start_token_id: 151652,
    vision_end_token_id: 151653,
  });
}

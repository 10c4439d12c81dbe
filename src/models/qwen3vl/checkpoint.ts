// What a Qwen3-VL checkpoint holds, spelled once: the tensor table (name, shape from the config, role, how random
// checkpoints initialise it) that the loader, the checkpoint generator, the demo, `inspect`, the quantizer and the
// GGUF export read; and `config.json` synthesis from a compact shape (published sizes, spec §1.5).

import type { Role } from '../../weights/convert.js';
import { type ModelConfig, isMoeLayer } from './config.js';

export type Init = 'normal' | 'ones' | 'zeros';

/**
 * How the loader lays a tensor out: `hub` as stored; `input-major` stored [E, in, out] and transposed to [E, out, in]
 * (MoE experts); `split` rows cut into q, k and v at load (the vision qkv), so it is never stored pre-quantized.
 */
export type Layout = 'hub' | 'input-major' | 'split';

export interface CheckpointTensor {
  readonly name: string;
  /** Shape in the checkpoint file. */
  readonly shape: readonly number[];
  readonly role: Role;
  readonly init: Init;
  readonly layout: Layout;
}

export const LM = 'model.language_model';
export const VIS = 'model.visual';

/** Every tensor a checkpoint of `cfg` holds, in Hub order (language model, then vision tower); lm_head only untied. */
export function checkpointTensors(cfg: ModelConfig, tied = cfg.tieWordEmbeddings): CheckpointTensor[] {
  const out: CheckpointTensor[] = [];
  const t = (name: string, shape: number[], role: Role, layout: Layout = 'hub') =>
    out.push({ name, shape, role, layout, init: role === 'norm' ? 'ones' : role === 'bias' ? 'zeros' : 'normal' });
  const x = cfg.text;
  const [H, hd] = [x.hiddenSize, x.headDim];
  t(`${LM}.embed_tokens.weight`, [x.vocabSize, H], 'embedding');
  for (let l = 0; l < x.numHiddenLayers; l++) {
    const p = `${LM}.layers.${l}`;
    t(`${p}.input_layernorm.weight`, [H], 'norm');
    t(`${p}.post_attention_layernorm.weight`, [H], 'norm');
    t(`${p}.self_attn.q_proj.weight`, [x.numAttentionHeads * hd, H], 'linear');
    t(`${p}.self_attn.k_proj.weight`, [x.numKeyValueHeads * hd, H], 'linear');
    t(`${p}.self_attn.v_proj.weight`, [x.numKeyValueHeads * hd, H], 'linear');
    t(`${p}.self_attn.o_proj.weight`, [H, x.numAttentionHeads * hd], 'linear');
    t(`${p}.self_attn.q_norm.weight`, [hd], 'norm');
    t(`${p}.self_attn.k_norm.weight`, [hd], 'norm');
    if (isMoeLayer(x, l)) {
      const { numExperts: E, moeIntermediateSize: I } = x.moe!;
      t(`${p}.mlp.gate.weight`, [E, H], 'router');
      t(`${p}.mlp.experts.gate_up_proj`, [E, H, 2 * I], 'linear', 'input-major');
      t(`${p}.mlp.experts.down_proj`, [E, I, H], 'linear', 'input-major');
    } else {
      const I = x.intermediateSize;
      t(`${p}.mlp.gate_proj.weight`, [I, H], 'linear');
      t(`${p}.mlp.up_proj.weight`, [I, H], 'linear');
      t(`${p}.mlp.down_proj.weight`, [H, I], 'linear');
    }
  }
  t(`${LM}.norm.weight`, [H], 'norm');
  if (!tied) t('lm_head.weight', [x.vocabSize, H], 'lmHead');

  const v = cfg.vision;
  const Hv = v.hiddenSize;
  const M = Hv * v.spatialMergeSize ** 2;
  t(`${VIS}.patch_embed.proj.weight`, [Hv, v.inChannels, v.temporalPatchSize, v.patchSize, v.patchSize], 'linear');
  t(`${VIS}.patch_embed.proj.bias`, [Hv], 'bias');
  t(`${VIS}.pos_embed.weight`, [v.numPositionEmbeddings, Hv], 'table');
  const linear = (name: string, rows: number, cols: number, layout: Layout = 'hub') => {
    t(`${name}.weight`, [rows, cols], 'linear', layout);
    t(`${name}.bias`, [rows], 'bias', layout);
  };
  const norm = (name: string, n: number) => {
    t(`${name}.weight`, [n], 'norm');
    t(`${name}.bias`, [n], 'bias');
  };
  for (let b = 0; b < v.depth; b++) {
    const p = `${VIS}.blocks.${b}`;
    norm(`${p}.norm1`, Hv);
    norm(`${p}.norm2`, Hv);
    linear(`${p}.attn.qkv`, 3 * Hv, Hv, 'split');
    linear(`${p}.attn.proj`, Hv, Hv);
    linear(`${p}.mlp.linear_fc1`, v.intermediateSize, Hv);
    linear(`${p}.mlp.linear_fc2`, Hv, v.intermediateSize);
  }
  const merger = (name: string, normSize: number) => {
    norm(`${name}.norm`, normSize);
    linear(`${name}.linear_fc1`, M, M);
    linear(`${name}.linear_fc2`, v.outHiddenSize, M);
  };
  merger(`${VIS}.merger`, Hv);
  v.deepstackVisualIndexes.forEach((_, j) => merger(`${VIS}.deepstack_merger_list.${j}`, M));
  return out;
}

/** Length of the rows a kernel reads (the quantization block axis): `in` for experts, all but the first dim otherwise. */
export function rowLength(t: Pick<CheckpointTensor, 'shape' | 'layout'>): number {
  if (t.layout === 'input-major') return t.shape[t.shape.length - 2];
  return t.shape.slice(1).reduce((a, b) => a * b, 1) || t.shape[0];
}

/** A model's sizes in the few numbers that vary between Qwen3-VL checkpoints (everything else is the Hub default). */
export interface ModelShape {
  H: number;
  layers: number;
  nh: number;
  nkv: number;
  hd: number;
  I: number;
  tie: boolean;
  moe?: { experts: number; topK: number; inter: number };
  /** `heads` default 16, `numPos` (position table rows) default 2304, `outHidden` default H. */
  vision: { depth: number; Hv: number; Iv: number; deepstack: number[]; outHidden?: number; heads?: number; numPos?: number };
}

const V4B = { depth: 24, Hv: 1024, Iv: 4096, deepstack: [5, 11, 17] };
const V8B = { depth: 27, Hv: 1152, Iv: 4304, deepstack: [8, 16, 24] };

/** Published sizes (spec §1.5). */
export const SHAPES = {
  '2B': { H: 2048, layers: 28, nh: 16, nkv: 8, hd: 128, I: 6144, tie: true, vision: V4B },
  '4B': { H: 2560, layers: 36, nh: 32, nkv: 8, hd: 128, I: 9728, tie: true, vision: V4B },
  '8B': { H: 4096, layers: 36, nh: 32, nkv: 8, hd: 128, I: 12288, tie: false, vision: V8B },
  '30B-A3B': { H: 2048, layers: 48, nh: 32, nkv: 4, hd: 128, I: 6144, tie: false, moe: { experts: 128, topK: 8, inter: 768 }, vision: V8B },
  '235B-A22B': { H: 4096, layers: 94, nh: 64, nkv: 4, hd: 128, I: 12288, tie: false, moe: { experts: 128, topK: 8, inter: 1536 }, vision: V8B },
} satisfies Record<string, ModelShape>;
export type ShapeName = keyof typeof SHAPES;

/** The Qwen vocabulary size; its special tokens start at 151643 (`<|endoftext|>`). */
export const VOCAB = 151936;
export const FIRST_SPECIAL = 151643;

export interface ConfigJsonOptions {
  /** Keep only the first N decoder layers (default: all). */
  readonly layers?: number;
  /** Vision blocks (default: the shape's depth); DeepStack indexes past it are dropped. */
  readonly visionDepth?: number;
  readonly vocab?: number;
  /** Id of `<|endoftext|>`; the other special tokens follow in Qwen order (`<|im_end|>` +2, `<|vision_start|>` +9, `<|image_pad|>` +12, …). */
  readonly firstSpecial?: number;
}

/** generation_config.json of a synthesized checkpoint: greedy, stopping at `<|im_end|>` or `<|endoftext|>`. */
export function generationConfigJson(firstSpecial = FIRST_SPECIAL): Record<string, unknown> {
  return { bos_token_id: firstSpecial, eos_token_id: [firstSpecial + 2, firstSpecial], do_sample: false };
}

/** [24, 20, 20] for head_dim 128 (every published size); the same proportions for test shapes. */
function mropeSection(hd: number): number[] {
  const hw = Math.floor((hd / 2) * (20 / 64));
  return [hd / 2 - 2 * hw, hw, hw];
}

/** config.json in the Hub layout (transformers 4.57: `rope_scaling` beside `rope_theta`) for a shape. */
export function configJson(s: ModelShape, o: ConfigJsonOptions = {}): Record<string, unknown> {
  const layers = o.layers ?? s.layers;
  const visionDepth = o.visionDepth ?? s.vision.depth;
  const sp = o.firstSpecial ?? FIRST_SPECIAL;
  const moe = s.moe;
  const text: Record<string, unknown> = {
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: sp,
    eos_token_id: sp + 2,
    head_dim: s.hd,
    hidden_act: 'silu',
    hidden_size: s.H,
    initializer_range: 0.02,
    intermediate_size: s.I,
    max_position_embeddings: 262144,
    model_type: moe ? 'qwen3_vl_moe_text' : 'qwen3_vl_text',
    num_attention_heads: s.nh,
    num_hidden_layers: layers,
    num_key_value_heads: s.nkv,
    rms_norm_eps: 1e-6,
    rope_scaling: { mrope_interleaved: true, mrope_section: mropeSection(s.hd), rope_type: 'default' },
    rope_theta: 5000000,
    tie_word_embeddings: s.tie,
    use_cache: true,
    vocab_size: o.vocab ?? VOCAB,
    dtype: 'bfloat16',
    ...(moe
      ? { num_experts: moe.experts, num_experts_per_tok: moe.topK, moe_intermediate_size: moe.inter, decoder_sparse_step: 1, mlp_only_layers: [], norm_topk_prob: true, router_aux_loss_coef: 0.001 }
      : {}),
  };
  const v = s.vision;
  return {
    architectures: [moe ? 'Qwen3VLMoeForConditionalGeneration' : 'Qwen3VLForConditionalGeneration'],
    model_type: moe ? 'qwen3_vl_moe' : 'qwen3_vl',
    image_token_id: sp + 12,
    video_token_id: sp + 13,
    vision_start_token_id: sp + 9,
    vision_end_token_id: sp + 10,
    tie_word_embeddings: s.tie,
    dtype: 'bfloat16',
    text_config: text,
    vision_config: {
      deepstack_visual_indexes: v.deepstack.filter((d) => d < visionDepth),
      depth: visionDepth,
      hidden_act: 'gelu_pytorch_tanh',
      hidden_size: v.Hv,
      in_channels: 3,
      initializer_range: 0.02,
      intermediate_size: v.Iv,
      model_type: moe ? 'qwen3_vl_moe' : 'qwen3_vl',
      num_heads: v.heads ?? 16,
      num_position_embeddings: v.numPos ?? 2304,
      out_hidden_size: v.outHidden ?? s.H,
      patch_size: 16,
      spatial_merge_size: 2,
      temporal_patch_size: 2,
    },
  };
}

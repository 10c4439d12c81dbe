// Random-weight Qwen3-VL checkpoints with the published shapes (spec §1.5) in the Hub layout: sharded bf16
// safetensors + model.safetensors.index.json + config.json, written tensor by tensor (never the whole model in memory).
// Script: npx vite-node bench/gen.ts -- OUT --shape 2B [--layers N] [--vision-depth N] [--seed S]

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsWriter, type TensorSpec } from '../io/safetensors.js';
import { type QuantDType, QBLOCK, QBLOCK_BYTES, f32ToF16 } from '../tensor/dtype.js';
import { QUANT_META_KEY, type QuantizedTensorInfo, quantPlan } from './quantize.js';

export interface ModelShape {
  H: number;
  layers: number;
  nh: number;
  nkv: number;
  hd: number;
  I: number;
  tie: boolean;
  moe?: { experts: number; topK: number; inter: number };
  vision: { depth: number; Hv: number; Iv: number; deepstack: number[]; outHidden?: number };
}

const V4B = { depth: 24, Hv: 1024, Iv: 4096, deepstack: [5, 11, 17] };
const V8B = { depth: 27, Hv: 1152, Iv: 4304, deepstack: [8, 16, 24] };

/** Published sizes (spec §1.5). */
export const SHAPES = {
  '2B': { H: 2048, layers: 28, nh: 16, nkv: 8, hd: 128, I: 6144, tie: true, vision: V4B },
  '4B': { H: 2560, layers: 36, nh: 32, nkv: 8, hd: 128, I: 9728, tie: true, vision: V4B },
  '8B': { H: 4096, layers: 36, nh: 32, nkv: 8, hd: 128, I: 12288, tie: false, vision: V8B },
  '30B-A3B': { H: 2048, layers: 48, nh: 32, nkv: 4, hd: 128, I: 6144, tie: false, moe: { experts: 128, topK: 8, inter: 768 }, vision: V8B },
} satisfies Record<string, ModelShape>;
export type ShapeName = keyof typeof SHAPES;

export const VOCAB = 151936;

export interface GenCheckpointOptions {
  /** Output folder (created). */
  readonly out: string;
  readonly shape: ShapeName | ModelShape;
  /** Keep only the first N decoder layers (default: all). */
  readonly layers?: number;
  /** Vision blocks (default: the shape's depth); DeepStack indexes past it are dropped. */
  readonly visionDepth?: number;
  readonly seed?: number;
  /** Target shard size in bytes (default 4 GiB, like the Hub's). */
  readonly shardBytes?: number;
  /**
   * Write the large matrices already quantized (the format of src/tools/quantize.ts) with random blocks: a q4_0
   * 30B-A3B is ~17 GB on disk instead of 62 GB of bf16. Default bf16.
   */
  readonly dtype?: 'bf16' | QuantDType;
  readonly onProgress?: (p: { tensor: string; writtenBytes: number; totalBytes: number }) => void;
}

type Init = 'normal' | 'ones' | 'zeros';
interface Spec extends TensorSpec {
  readonly init: Init;
}

/** The tensor list of a checkpoint in Hub order (language model, then vision tower). */
export function checkpointSpecs(s: ModelShape, layers = s.layers, visionDepth = s.vision.depth): Spec[] {
  const out: Spec[] = [];
  const t = (name: string, shape: number[], init: Init = 'normal') => out.push({ name, dtype: 'BF16', shape, init });
  const LM = 'model.language_model';
  t(`${LM}.embed_tokens.weight`, [VOCAB, s.H]);
  for (let l = 0; l < layers; l++) {
    const p = `${LM}.layers.${l}`;
    t(`${p}.input_layernorm.weight`, [s.H], 'ones');
    t(`${p}.post_attention_layernorm.weight`, [s.H], 'ones');
    t(`${p}.self_attn.q_proj.weight`, [s.nh * s.hd, s.H]);
    t(`${p}.self_attn.k_proj.weight`, [s.nkv * s.hd, s.H]);
    t(`${p}.self_attn.v_proj.weight`, [s.nkv * s.hd, s.H]);
    t(`${p}.self_attn.o_proj.weight`, [s.H, s.nh * s.hd]);
    t(`${p}.self_attn.q_norm.weight`, [s.hd], 'ones');
    t(`${p}.self_attn.k_norm.weight`, [s.hd], 'ones');
    if (s.moe) {
      t(`${p}.mlp.gate.weight`, [s.moe.experts, s.H]);
      t(`${p}.mlp.experts.gate_up_proj`, [s.moe.experts, s.H, 2 * s.moe.inter]);
      t(`${p}.mlp.experts.down_proj`, [s.moe.experts, s.moe.inter, s.H]);
    } else {
      t(`${p}.mlp.gate_proj.weight`, [s.I, s.H]);
      t(`${p}.mlp.up_proj.weight`, [s.I, s.H]);
      t(`${p}.mlp.down_proj.weight`, [s.H, s.I]);
    }
  }
  t(`${LM}.norm.weight`, [s.H], 'ones');
  if (!s.tie) t('lm_head.weight', [VOCAB, s.H]);
  const v = s.vision;
  const VIS = 'model.visual';
  const M = 4 * v.Hv;
  const O = v.outHidden ?? s.H;
  t(`${VIS}.patch_embed.proj.weight`, [v.Hv, 3, 2, 16, 16]);
  t(`${VIS}.patch_embed.proj.bias`, [v.Hv], 'zeros');
  t(`${VIS}.pos_embed.weight`, [2304, v.Hv]);
  for (let b = 0; b < visionDepth; b++) {
    const p = `${VIS}.blocks.${b}`;
    for (const n of ['norm1', 'norm2']) {
      t(`${p}.${n}.weight`, [v.Hv], 'ones');
      t(`${p}.${n}.bias`, [v.Hv], 'zeros');
    }
    t(`${p}.attn.qkv.weight`, [3 * v.Hv, v.Hv]);
    t(`${p}.attn.qkv.bias`, [3 * v.Hv], 'zeros');
    t(`${p}.attn.proj.weight`, [v.Hv, v.Hv]);
    t(`${p}.attn.proj.bias`, [v.Hv], 'zeros');
    t(`${p}.mlp.linear_fc1.weight`, [v.Iv, v.Hv]);
    t(`${p}.mlp.linear_fc1.bias`, [v.Iv], 'zeros');
    t(`${p}.mlp.linear_fc2.weight`, [v.Hv, v.Iv]);
    t(`${p}.mlp.linear_fc2.bias`, [v.Hv], 'zeros');
  }
  const merger = (p: string, normSize: number) => {
    t(`${p}.norm.weight`, [normSize], 'ones');
    t(`${p}.norm.bias`, [normSize], 'zeros');
    t(`${p}.linear_fc1.weight`, [M, M]);
    t(`${p}.linear_fc1.bias`, [M], 'zeros');
    t(`${p}.linear_fc2.weight`, [O, M]);
    t(`${p}.linear_fc2.bias`, [O], 'zeros');
  };
  merger(`${VIS}.merger`, v.Hv);
  v.deepstack.filter((d) => d < visionDepth).forEach((_, j) => merger(`${VIS}.deepstack_merger_list.${j}`, M));
  return out;
}

/** [24, 20, 20] for head_dim 128 (every published size); the same proportions for test shapes. */
function mropeSection(hd: number): number[] {
  const hw = Math.floor((hd / 2) * (20 / 64));
  return [hd / 2 - 2 * hw, hw, hw];
}

/** config.json of the spec's Hub layout for a shape. */
export function checkpointConfig(s: ModelShape, layers = s.layers, visionDepth = s.vision.depth): Record<string, unknown> {
  const moe = s.moe;
  const text: Record<string, unknown> = {
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151645,
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
    vocab_size: VOCAB,
    dtype: 'bfloat16',
    ...(moe
      ? { num_experts: moe.experts, num_experts_per_tok: moe.topK, moe_intermediate_size: moe.inter, decoder_sparse_step: 1, mlp_only_layers: [], norm_topk_prob: true, router_aux_loss_coef: 0.001 }
      : {}),
  };
  const v = s.vision;
  return {
    architectures: [moe ? 'Qwen3VLMoeForConditionalGeneration' : 'Qwen3VLForConditionalGeneration'],
    model_type: moe ? 'qwen3_vl_moe' : 'qwen3_vl',
    image_token_id: 151655,
    video_token_id: 151656,
    vision_start_token_id: 151652,
    vision_end_token_id: 151653,
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
      num_heads: 16,
      num_position_embeddings: 2304,
      out_hidden_size: v.outHidden ?? s.H,
      patch_size: 16,
      spatial_merge_size: 2,
      temporal_patch_size: 2,
    },
  };
}

/**
 * Fill `out` with bf16 bits of a roughly normal distribution with std ≈ 0.02 (the checkpoints' init range): a
 * 32-bit xorshift, the sum of two uniforms (triangular) as the shape. Fast enough to stream tens of GB.
 */
export function fillRandomBf16(out: Uint16Array, seed: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const a = (s & 0xffff) / 65536;
    const b = (s >>> 16) / 65536;
    f[0] = (a + b - 1) * 0.049; // std of a triangular on [-1, 1] is 1/√6; 0.049/√6 ≈ 0.02
    out[i] = (u[0] + 0x8000) >>> 16;
  }
  return s;
}

const ELEM = 2;

/** Random q8_0/q4_0 blocks whose values have std ≈ 0.02, like the bf16 init. */
function fillRandomBlocks(out: Uint8Array, fmt: QuantDType, seed: number): number {
  const words = new Uint32Array(out.buffer, out.byteOffset, out.byteLength >>> 2);
  let s = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s;
  }
  // Uniform 8-bit quants (std 73.6) or 4-bit nibbles (std 4.6) scaled to std 0.02.
  const scale = f32ToF16(fmt === 'q8_0' ? 0.02 / 73.6 : 0.02 / 4.6);
  const bb = QBLOCK_BYTES[fmt];
  for (let o = 0; o < out.length; o += bb) {
    out[o] = scale & 0xff;
    out[o + 1] = scale >>> 8;
    if (fmt === 'q8_0') for (let j = 2; j < bb; j++) if (out[o + j] === 0x80) out[o + j] = 0x81; // no −128
  }
  return s;
}

/** Write a random checkpoint; returns the files written and their total bytes. */
export async function genCheckpoint(opts: GenCheckpointOptions): Promise<{ files: string[]; bytes: number }> {
  const shape: ModelShape = typeof opts.shape === 'string' ? SHAPES[opts.shape] : opts.shape;
  if (!shape) throw new Error(`genCheckpoint: unknown shape '${String(opts.shape)}' (known: ${Object.keys(SHAPES).join(', ')})`);
  const layers = opts.layers ?? shape.layers;
  const depth = opts.visionDepth ?? shape.vision.depth;
  if (!(layers >= 1 && layers <= shape.layers)) throw new Error(`genCheckpoint: --layers ${layers} outside [1, ${shape.layers}]`);
  const plain = checkpointSpecs(shape, layers, depth);
  const plans = new Map<string, QuantizedTensorInfo>();
  const specs: Spec[] = plain.map((s) => {
    const p = opts.dtype && opts.dtype !== 'bf16' ? quantPlan(s.name, s.shape, opts.dtype) : null;
    if (!p) return s;
    plans.set(s.name, p);
    const numel = p.shape.reduce((a, b) => a * b, 1);
    return { ...s, dtype: 'U8', shape: [numel / p.k, (p.k / QBLOCK) * QBLOCK_BYTES[p.dtype]] };
  });
  const size = (s: Spec) => s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'U8' ? 1 : ELEM);
  const shardBytes = opts.shardBytes ?? 4 * 2 ** 30;
  const shards: Spec[][] = [[]];
  let cur = 0;
  for (const s of specs) {
    if (cur > 0 && cur + size(s) > shardBytes) {
      shards.push([]);
      cur = 0;
    }
    shards.at(-1)!.push(s);
    cur += size(s);
  }
  await mkdir(opts.out, { recursive: true });
  const names = shards.map((_, i) => (shards.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
  const totalBytes = specs.reduce((a, s) => a + size(s), 0);
  let writtenBytes = 0;
  let seed = (opts.seed ?? 1) * 2654435761;
  const weightMap: Record<string, string> = {};
  const chunk = new Uint16Array(1 << 24);
  for (let i = 0; i < shards.length; i++) {
    const quantized = Object.fromEntries(shards[i].filter((s) => plans.has(s.name)).map((s) => [s.name, plans.get(s.name)!]));
    const meta: Record<string, string> = { format: 'pt' };
    if (plans.size) meta[QUANT_META_KEY] = JSON.stringify({ version: 1, tensors: quantized });
    const w = await SafetensorsWriter.create(path.join(opts.out, names[i]), shards[i], meta);
    for (const s of shards[i]) {
      const p = plans.get(s.name);
      if (p) {
        const data = new Uint8Array(size(s));
        seed = fillRandomBlocks(data, p.dtype, seed);
        await w.write(s.name, data);
      } else {
        const n = size(s) / ELEM;
        const buf = n <= chunk.length ? chunk.subarray(0, n) : new Uint16Array(n);
        if (s.init === 'normal') seed = fillRandomBf16(buf, seed);
        else buf.fill(s.init === 'ones' ? 0x3f80 : 0);
        await w.write(s.name, buf);
      }
      weightMap[s.name] = names[i];
      writtenBytes += size(s);
      opts.onProgress?.({ tensor: s.name, writtenBytes, totalBytes });
    }
    await w.close();
  }
  if (shards.length > 1) {
    await writeFile(path.join(opts.out, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));
  }
  await writeFile(path.join(opts.out, 'config.json'), JSON.stringify(checkpointConfig(shape, layers, depth), null, 2));
  await writeFile(path.join(opts.out, 'generation_config.json'), JSON.stringify({ bos_token_id: 151643, eos_token_id: [151645, 151643], do_sample: false }, null, 2));
  return { files: [...names, ...(shards.length > 1 ? ['model.safetensors.index.json'] : []), 'config.json', 'generation_config.json'], bytes: totalBytes };
}

/** Command-line entry: `genCheckpoint OUT --shape 2B [--layers N] [--vision-depth N] [--seed S]`. */
export async function genCheckpointMain(args: readonly string[]): Promise<void> {
  const argv = args.filter((a) => a !== '--');
  const opt = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const out = argv.find((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--')));
  if (!out) throw new Error('usage: genCheckpoint OUT --shape 2B|4B|8B|30B-A3B [--layers N] [--vision-depth N] [--seed S] [--dtype bf16|q8_0|q4_0]');
  const t0 = Date.now();
  const r = await genCheckpoint({
    out,
    shape: (opt('shape') ?? '2B') as ShapeName,
    layers: opt('layers') ? Number(opt('layers')) : undefined,
    visionDepth: opt('vision-depth') ? Number(opt('vision-depth')) : undefined,
    seed: opt('seed') ? Number(opt('seed')) : undefined,
    dtype: opt('dtype') as GenCheckpointOptions['dtype'],
  });
  console.log(`wrote ${r.files.length} files, ${(r.bytes / 2 ** 30).toFixed(2)} GiB in ${((Date.now() - t0) / 1000).toFixed(1)} s to ${out}`);
}

// Script entry (node dist/tools/genCheckpoint.js …); from sources use bench/gen.ts.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await genCheckpointMain(process.argv.slice(2));

// Typed, validated Qwen3-VL configuration from `config.json` (Hub legacy `rope_scaling` + `rope_theta`, or the
// transformers 5 `rope_parameters` layout), dense and MoE. Defaults follow spec §1; inconsistencies are errors.

import { type SourceLike, openSource, readJson } from '../../io/source.js';
import { ConfigError } from '../../errors.js';

export { ConfigError, readJson };

export interface MoeConfig {
  readonly numExperts: number;
  readonly numExpertsPerTok: number;
  readonly moeIntermediateSize: number;
  readonly decoderSparseStep: number;
  readonly mlpOnlyLayers: readonly number[];
}

export interface TextConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly mropeSection: readonly [number, number, number];
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  /** Present for `qwen3_vl_moe`. */
  readonly moe: MoeConfig | null;
}

export interface VisionConfig {
  readonly depth: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHeads: number;
  readonly inChannels: number;
  readonly patchSize: number;
  readonly temporalPatchSize: number;
  readonly spatialMergeSize: number;
  readonly outHiddenSize: number;
  readonly numPositionEmbeddings: number;
  readonly deepstackVisualIndexes: readonly number[];
  readonly ropeTheta: number;
}

export interface ModelConfig {
  readonly modelType: 'qwen3_vl' | 'qwen3_vl_moe';
  readonly architecture: string;
  readonly imageTokenId: number;
  readonly videoTokenId: number;
  readonly visionStartTokenId: number;
  readonly visionEndTokenId: number;
  readonly tieWordEmbeddings: boolean;
  readonly text: TextConfig;
  readonly vision: VisionConfig;
}

type Json = Record<string, unknown>;

/** Reads fields of one JSON object with type checks that name the field on failure. */
class Fields {
  constructor(
    private readonly o: Json,
    private readonly where: string,
    private readonly file: string,
  ) {}

  private fail(key: string, want: string): never {
    throw new ConfigError(`${this.where}${key} must be ${want} (got ${JSON.stringify(this.o[key])})`, this.file);
  }

  has(key: string): boolean {
    return this.o[key] !== undefined && this.o[key] !== null;
  }

  int(key: string, def?: number, min = 1): number {
    const v = this.o[key] ?? def;
    if (v === undefined) throw new ConfigError(`${this.where}${key} is required`, this.file);
    if (!Number.isSafeInteger(v) || (v as number) < min) this.fail(key, `an integer ≥ ${min}`);
    return v as number;
  }

  num(key: string, def?: number): number {
    const v = this.o[key] ?? def;
    if (v === undefined) throw new ConfigError(`${this.where}${key} is required`, this.file);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(key, 'a positive number');
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.o[key] ?? def;
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  str(key: string, def?: string): string {
    const v = this.o[key] ?? def;
    if (typeof v !== 'string') this.fail(key, 'a string');
    return v;
  }

  ints(key: string, def: number[], min = 0): number[] {
    const v = this.o[key] ?? def;
    if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= min)) this.fail(key, `a list of integers ≥ ${min}`);
    return v as number[];
  }

  optInt(key: string): number | null {
    const v = this.o[key];
    if (v === undefined || v === null) return null;
    if (Array.isArray(v)) return Number.isSafeInteger(v[0]) ? (v[0] as number) : this.fail(key, 'an integer');
    return Number.isSafeInteger(v) ? (v as number) : this.fail(key, 'an integer');
  }

  obj(key: string): Json | null {
    const v = this.o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, 'an object');
    return v as Json;
  }
}

const SUPPORTED = ['qwen3_vl', 'qwen3_vl_moe'] as const;

/** Parse a `config.json` object. `file` only names the source in errors. */
export function parseConfig(raw: unknown, file = 'config.json'): ModelConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('not a JSON object', file);
  const top = new Fields(raw as Json, '', file);
  const modelType = top.str('model_type');
  if (!(SUPPORTED as readonly string[]).includes(modelType)) {
    throw new ConfigError(`model_type '${modelType}' is not supported (expected ${SUPPORTED.join(' or ')})`, file);
  }
  const isMoe = modelType === 'qwen3_vl_moe';
  const tj = top.obj('text_config');
  const vj = top.obj('vision_config');
  if (!tj) throw new ConfigError('text_config is required', file);
  if (!vj) throw new ConfigError('vision_config is required', file);
  const t = new Fields(tj, 'text_config.', file);
  const v = new Fields(vj, 'vision_config.', file);

  // Rope: v4.57 layout keeps `rope_theta` beside `rope_scaling`; v5 folds both into `rope_parameters`.
  const ropeObj = t.obj('rope_parameters') ?? t.obj('rope_scaling') ?? {};
  const rope = new Fields(ropeObj, `text_config.${t.has('rope_parameters') ? 'rope_parameters' : 'rope_scaling'}.`, file);
  const ropeType = rope.str('rope_type', rope.has('type') ? rope.str('type') : 'default');
  if (ropeType !== 'default') throw new ConfigError(`rope_type '${ropeType}' is not supported (only 'default', as all published Qwen3-VL checkpoints use)`, file);
  const ropeTheta = rope.has('rope_theta') ? rope.num('rope_theta') : t.num('rope_theta', 5_000_000);
  const section = rope.ints('mrope_section', [24, 20, 20], 0);
  if (section.length !== 3) throw new ConfigError(`mrope_section must have 3 entries (t, h, w), got [${section}]`, file);

  const hiddenSize = t.int('hidden_size', isMoe ? 2048 : 4096);
  const heads = t.int('num_attention_heads', isMoe ? 16 : 32);
  const kvHeads = t.has('num_key_value_heads') ? t.int('num_key_value_heads') : heads;
  const headDim = t.has('head_dim') ? t.int('head_dim') : isMoe ? hiddenSize / heads : 128;
  if (!Number.isInteger(headDim)) throw new ConfigError(`head_dim is missing and hidden_size ${hiddenSize} is not divisible by ${heads} heads`, file);
  if (heads % kvHeads) throw new ConfigError(`num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`, file);
  if (headDim % 2) throw new ConfigError(`head_dim ${headDim} must be even`, file);
  if (section[0] + section[1] + section[2] !== headDim / 2) {
    throw new ConfigError(`mrope_section [${section}] sums to ${section[0] + section[1] + section[2]}, but head_dim/2 is ${headDim / 2}`, file);
  }
  if (section[1] > section[0] || section[2] > section[0]) {
    // Interleaving takes h and w frequencies from j%3 == 1, 2 below 3·section; t must cover the rest.
    throw new ConfigError(`mrope_section [${section}]: h and w sections may not exceed the t section`, file);
  }
  const tie = top.bool('tie_word_embeddings', t.bool('tie_word_embeddings', false)) || t.bool('tie_word_embeddings', false);
  const act = t.str('hidden_act', 'silu');
  if (act !== 'silu') throw new ConfigError(`text_config.hidden_act '${act}' is not supported (Qwen3 uses silu)`, file);
  if (t.bool('attention_bias', false)) throw new ConfigError('text_config.attention_bias true is not supported (Qwen3-VL has no attention bias)', file);
  const numLayers = t.int('num_hidden_layers', isMoe ? 24 : 32);

  let moe: MoeConfig | null = null;
  if (isMoe) {
    const numExperts = t.has('num_experts') ? t.int('num_experts', 60, 0) : t.int('num_local_experts', 60, 0);
    const topk = t.int('num_experts_per_tok', 4);
    if (numExperts > 0 && topk > numExperts) throw new ConfigError(`num_experts_per_tok ${topk} exceeds num_experts ${numExperts}`, file);
    const mlpOnly = t.ints('mlp_only_layers', []);
    for (const l of mlpOnly) if (l >= numLayers) throw new ConfigError(`mlp_only_layers names layer ${l}, but there are ${numLayers}`, file);
    moe = {
      numExperts,
      numExpertsPerTok: topk,
      moeIntermediateSize: t.int('moe_intermediate_size', 1408),
      decoderSparseStep: t.int('decoder_sparse_step', 1),
      mlpOnlyLayers: mlpOnly,
    };
  }

  const text: TextConfig = {
    vocabSize: t.int('vocab_size', 151936),
    hiddenSize,
    intermediateSize: t.int('intermediate_size', isMoe ? 5632 : 22016),
    numHiddenLayers: numLayers,
    numAttentionHeads: heads,
    numKeyValueHeads: kvHeads,
    headDim,
    rmsNormEps: t.num('rms_norm_eps', 1e-6),
    ropeTheta,
    mropeSection: [section[0], section[1], section[2]],
    maxPositionEmbeddings: t.int('max_position_embeddings', 128000),
    tieWordEmbeddings: tie,
    bosTokenId: t.optInt('bos_token_id'),
    eosTokenId: t.optInt('eos_token_id'),
    moe,
  };

  const vHidden = v.int('hidden_size', 1152);
  const vHeads = v.int('num_heads', 16);
  if (vHidden % vHeads) throw new ConfigError(`vision_config.hidden_size ${vHidden} is not divisible by num_heads ${vHeads}`, file);
  if ((vHidden / vHeads) % 4) throw new ConfigError(`vision head dim ${vHidden / vHeads} must be a multiple of 4 for 2-D rotary`, file);
  const depth = v.int('depth', 27);
  const deepstack = v.ints('deepstack_visual_indexes', [8, 16, 24]);
  for (const d of deepstack) if (d >= depth) throw new ConfigError(`vision_config.deepstack_visual_indexes names block ${d}, but depth is ${depth}`, file);
  if (deepstack.length > numLayers) throw new ConfigError(`${deepstack.length} DeepStack levels but only ${numLayers} decoder layers`, file);
  const numPos = v.int('num_position_embeddings', 2304);
  if (!Number.isInteger(Math.sqrt(numPos))) throw new ConfigError(`vision_config.num_position_embeddings ${numPos} is not a square`, file);
  const outHidden = v.int('out_hidden_size', 3584);
  if (outHidden !== hiddenSize) throw new ConfigError(`vision_config.out_hidden_size ${outHidden} must equal text hidden_size ${hiddenSize}`, file);
  const vAct = v.str('hidden_act', 'gelu_pytorch_tanh');
  if (vAct !== 'gelu_pytorch_tanh') throw new ConfigError(`vision_config.hidden_act '${vAct}' is not supported (Qwen3-VL uses gelu_pytorch_tanh)`, file);
  const vRope = v.obj('rope_parameters');
  const vision: VisionConfig = {
    depth,
    hiddenSize: vHidden,
    intermediateSize: v.int('intermediate_size', 4304),
    numHeads: vHeads,
    inChannels: v.int('in_channels', 3),
    patchSize: v.int('patch_size', 16),
    temporalPatchSize: v.int('temporal_patch_size', 2),
    spatialMergeSize: v.int('spatial_merge_size', 2),
    outHiddenSize: outHidden,
    numPositionEmbeddings: numPos,
    deepstackVisualIndexes: deepstack,
    ropeTheta: vRope ? new Fields(vRope, 'vision_config.rope_parameters.', file).num('rope_theta', 10000) : 10000,
  };

  const arch = Array.isArray((raw as Json).architectures) ? String(((raw as Json).architectures as unknown[])[0]) : '';
  return {
    modelType: modelType as ModelConfig['modelType'],
    architecture: arch || (isMoe ? 'Qwen3VLMoeForConditionalGeneration' : 'Qwen3VLForConditionalGeneration'),
    imageTokenId: top.int('image_token_id', 151655, 0),
    videoTokenId: top.int('video_token_id', 151656, 0),
    visionStartTokenId: top.int('vision_start_token_id', 151652, 0),
    visionEndTokenId: top.int('vision_end_token_id', 151653, 0),
    tieWordEmbeddings: tie,
    text,
    vision,
  };
}

export async function loadConfig(dir: SourceLike): Promise<ModelConfig> {
  const src = await openSource(dir);
  return deepFreeze(parseConfig(await readJson(src, 'config.json'), src.resolve('config.json')));
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Layer l uses the MoE block (spec §1.3). */
export function isMoeLayer(t: TextConfig, l: number): boolean {
  const m = t.moe;
  return !!m && m.numExperts > 0 && !m.mlpOnlyLayers.includes(l) && (l + 1) % m.decoderSparseStep === 0;
}

// The one mapping from Qwen3-VL checkpoint tensor names to model fields. Binding is strict: every expected tensor
// must exist with its shape, and every tensor in the checkpoint must be used; errors name the tensors.

import type { Backend } from '../../backend/backend.js';
import { WeightError } from '../../errors.js';
import { LM, VIS, checkpointTensors } from './checkpoint.js';
import { type ModelConfig, isMoeLayer } from './config.js';
import type { Checkpoint, RawTensor, StDType } from '../../io/safetensors.js';
import type { DType } from '../../tensor/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import { keep } from '../../tensor/tensor.js';
import { type QuantizedTensorInfo, readQuantization } from '../../weights/quantized.js';
import { type Combine, type WeightFormat, type Role, UPLOAD_CHUNK_BYTES, concatRows, convertWeight, formatFor, transposeLast2 } from '../../weights/convert.js';

export { WeightError };

export interface LinearWeights {
  readonly weight: Tensor; // [out, in]
  readonly bias?: Tensor; // [out]
}
export interface NormWeights {
  readonly weight: Tensor;
  readonly bias?: Tensor;
}
export type MlpWeights =
  | { readonly kind: 'dense'; readonly gateUp: Tensor /* [2I, H]: gate rows then up rows */; readonly down: Tensor /* [H, I] */ }
  | { readonly kind: 'moe'; readonly router: Tensor /* [E, H] */; readonly gateUp: Tensor /* [E, 2I, H] */; readonly down: Tensor /* [E, H, I] */ };

export interface TextLayerWeights {
  readonly inputLayernorm: Tensor;
  readonly postAttentionLayernorm: Tensor;
  /** q_proj, k_proj and v_proj rows stacked: [(nh + 2·nkv)·hd, H], one matmul for all three. */
  readonly qkvProj: Tensor;
  readonly oProj: Tensor;
  readonly qNorm: Tensor;
  readonly kNorm: Tensor;
  readonly mlp: MlpWeights;
}

export interface TextWeights {
  readonly embedTokens: Tensor; // [V, H]
  readonly layers: readonly TextLayerWeights[];
  readonly norm: Tensor;
  readonly lmHead: Tensor; // [V, H]; the same tensor as embedTokens when tied
}

export interface MergerWeights {
  readonly norm: NormWeights;
  readonly linearFc1: LinearWeights;
  readonly linearFc2: LinearWeights;
}

export interface VisionBlockWeights {
  readonly norm1: NormWeights;
  readonly norm2: NormWeights;
  /** The checkpoint's fused qkv, split into its q, k and v rows. */
  readonly q: LinearWeights;
  readonly k: LinearWeights;
  readonly v: LinearWeights;
  readonly proj: LinearWeights;
  readonly linearFc1: LinearWeights;
  readonly linearFc2: LinearWeights;
}

export interface VisionWeights {
  readonly patchEmbed: LinearWeights; // Conv3d flattened to [Hv, C·T·P·P]
  readonly posEmbed: Tensor; // [numPos, Hv]
  readonly blocks: readonly VisionBlockWeights[];
  readonly merger: MergerWeights;
  readonly deepstackMergers: readonly MergerWeights[];
}

/** Makers of the vision tower's parts, for models built without a checkpoint (random weights in tests and benches). */
export interface VisionMakers {
  lin(rows: number, cols: number): LinearWeights;
  nrm(n: number): NormWeights;
  merger(hidden: number): MergerWeights;
}

/** The vision tower's structure for config `v`, from the given makers (patch embedding and positions made by the caller). */
export function buildVisionWeights(v: ModelConfig['vision'], make: VisionMakers, patchEmbed: LinearWeights, posEmbed: Tensor): VisionWeights {
  const { lin, nrm } = make;
  const h = v.hiddenSize;
  return {
    patchEmbed,
    posEmbed,
    blocks: Array.from({ length: v.depth }, () => ({
      norm1: nrm(h),
      norm2: nrm(h),
      q: lin(h, h),
      k: lin(h, h),
      v: lin(h, h),
      proj: lin(h, h),
      linearFc1: lin(v.intermediateSize, h),
      linearFc2: lin(h, v.intermediateSize),
    })),
    merger: make.merger(h),
    deepstackMergers: v.deepstackVisualIndexes.map(() => make.merger(h * v.spatialMergeSize ** 2)),
  };
}

export interface Qwen3VLWeights {
  readonly text: TextWeights;
  readonly vision: VisionWeights;
}

export interface LoadWeightsOptions {
  /** Target weight format of the large matrices; default keeps the checkpoint's bf16. */
  readonly dtype?: WeightFormat;
  readonly onProgress?: (p: { loadedBytes: number; totalBytes: number; tensor: string }) => void;
  /** Bytes per chunk where the backend uploads in chunks (webgpu): bounds JS memory during load. Default ≈ 8 MiB. */
  readonly uploadChunkBytes?: number;
}

/** One field to fill: the checkpoint tensors it reads and how they become one backend tensor. */
interface Slot {
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly role: Role;
  /** Shape of the uploaded tensor. */
  readonly shape: readonly number[];
  /** Host-side layout change from the checkpoint tensors (concatenation, transposition); f32 in, f32 out. */
  readonly combine?: Combine;
}

/** Build the weight tree: validate every name and shape first, then read and upload tensor by tensor. */
export async function loadQwen3VLWeights(ckpt: Checkpoint, cfg: ModelConfig, backend: Backend, opts: LoadWeightsOptions = {}): Promise<Qwen3VLWeights> {
  const tied = cfg.tieWordEmbeddings || !ckpt.has('lm_head.weight');
  // Names, checkpoint shapes and roles come from the one tensor table; the slots say how tensors become fields.
  const table = new Map(checkpointTensors(cfg, tied).map((x) => [x.name, x]));
  const spec = (name: string) => {
    const x = table.get(name);
    if (!x) throw new Error(`internal: ${name} is not in the Qwen3-VL tensor table`);
    return x;
  };
  const slots = new Map<string, Slot>();
  const add = (key: string, names: string[], shape: readonly number[], combine?: Combine) => {
    const parts = names.map(spec);
    slots.set(key, { names, shapes: parts.map((x) => x.shape), role: parts[0].role, shape, combine });
  };
  const single = (key: string, name: string) => add(key, [name], spec(name).shape);

  const t = cfg.text;
  const [H, hd] = [t.hiddenSize, t.headDim];
  single('embed', `${LM}.embed_tokens.weight`);
  if (!tied) single('lmHead', 'lm_head.weight');
  single('norm', `${LM}.norm.weight`);
  for (let l = 0; l < t.numHiddenLayers; l++) {
    const p = `${LM}.layers.${l}`;
    single(`l${l}.in`, `${p}.input_layernorm.weight`);
    single(`l${l}.post`, `${p}.post_attention_layernorm.weight`);
    // q, k and v rows stacked: one matmul for all three.
    add(`l${l}.qkv`, ['q_proj', 'k_proj', 'v_proj'].map((n) => `${p}.self_attn.${n}.weight`), [(t.numAttentionHeads + 2 * t.numKeyValueHeads) * hd, H], concatRows);
    single(`l${l}.o`, `${p}.self_attn.o_proj.weight`);
    single(`l${l}.qn`, `${p}.self_attn.q_norm.weight`);
    single(`l${l}.kn`, `${p}.self_attn.k_norm.weight`);
    if (isMoeLayer(t, l)) {
      const { numExperts: E, moeIntermediateSize: I } = t.moe!;
      single(`l${l}.router`, `${p}.mlp.gate.weight`);
      // Hub layout is input-major ([E, H, 2I], x @ W); store output-major rows so `linear`-style kernels apply.
      add(`l${l}.gateUp`, [`${p}.mlp.experts.gate_up_proj`], [E, 2 * I, H], (([w]) => transposeLast2(w, E, H, 2 * I)) as Combine);
      add(`l${l}.down`, [`${p}.mlp.experts.down_proj`], [E, H, I], (([w]) => transposeLast2(w, E, I, H)) as Combine);
    } else {
      // gate and up share one matmul: rows [0, I) gate, [I, 2I) up.
      add(`l${l}.gateUp`, [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`], [2 * t.intermediateSize, H], concatRows);
      single(`l${l}.down`, `${p}.mlp.down_proj.weight`);
    }
  }

  const v = cfg.vision;
  const Hv = v.hiddenSize;
  const patchIn = v.inChannels * v.temporalPatchSize * v.patchSize * v.patchSize;
  add('patch.w', [`${VIS}.patch_embed.proj.weight`], [Hv, patchIn]); // Conv3d kernel flattened
  single('patch.b', `${VIS}.patch_embed.proj.bias`);
  single('pos', `${VIS}.pos_embed.weight`);
  const pair = (key: string, name: string) => {
    single(`${key}.w`, `${name}.weight`);
    single(`${key}.b`, `${name}.bias`);
  };
  for (let b = 0; b < v.depth; b++) {
    const p = `${VIS}.blocks.${b}`;
    pair(`b${b}.n1`, `${p}.norm1`);
    pair(`b${b}.n2`, `${p}.norm2`);
    (['q', 'k', 'v'] as const).forEach((part, i) => {
      const rows = <T extends Float32Array | Uint16Array>(w: T, width: number) => w.slice(i * Hv * width, (i + 1) * Hv * width) as T;
      add(`b${b}.${part}.w`, [`${p}.attn.qkv.weight`], [Hv, Hv], (([w]) => rows(w, Hv)) as Combine);
      add(`b${b}.${part}.b`, [`${p}.attn.qkv.bias`], [Hv], (([w]) => rows(w, 1)) as Combine);
    });
    pair(`b${b}.proj`, `${p}.attn.proj`);
    pair(`b${b}.fc1`, `${p}.mlp.linear_fc1`);
    pair(`b${b}.fc2`, `${p}.mlp.linear_fc2`);
  }
  const merger = (key: string, name: string) => {
    pair(`${key}.n`, `${name}.norm`);
    pair(`${key}.fc1`, `${name}.linear_fc1`);
    pair(`${key}.fc2`, `${name}.linear_fc2`);
  };
  merger('merger', `${VIS}.merger`);
  v.deepstackVisualIndexes.forEach((_, j) => merger(`ds${j}`, `${VIS}.deepstack_merger_list.${j}`));
  const bound = new Set([...slots.values()].flatMap((x) => x.names));
  const unbound = [...table.keys()].filter((n) => !bound.has(n));
  if (unbound.length) throw new Error(`internal: tensor table entries with no field: ${unbound.join(', ')}`);

  // [cpu backend: pre-quantized checkpoints, src/weights/quantized.ts] tensors stored as q8_0/q4_0 blocks load as is.
  const quant = await readQuantization(ckpt);
  validate(ckpt, slots, tied, quant);

  // Read in file order so shards stream sequentially.
  const order = [...slots.entries()].sort(([, a], [, b]) => {
    const ia = ckpt.info(a.names[0]);
    const ib = ckpt.info(b.names[0]);
    return ia.file === ib.file ? ia.offset - ib.offset : ia.file < ib.file ? -1 : 1;
  });
  const totalBytes = ckpt.byteLength;
  let loadedBytes = 0;
  const out = new Map<string, Tensor>();
  // The vision qkv feeds six adjacent slots: read it (and count its bytes) once.
  let last: RawTensor | null = null;
  const read = async (n: string): Promise<RawTensor> => {
    if (last?.info.name !== n) {
      last = await ckpt.read(n);
      loadedBytes += last.bytes.byteLength;
    }
    return last;
  };
  const chunked = backend.uploadChunks;
  const chunkBytes = Math.max(612, Math.floor((opts.uploadChunkBytes ?? UPLOAD_CHUNK_BYTES) / 612) * 612);
  // Parts stored in the upload format and concatenated by rows (or alone) stream to the GPU chunk by chunk.
  const streamFormat = (slot: Slot): DType | null => {
    if (!chunked) return null;
    const infos = slot.names.map((n) => ckpt.info(n));
    if (infos.reduce((a, i) => a + i.byteLength, 0) <= chunkBytes) return null;
    const q = quant.get(slot.names[0]);
    if (q) return q.layout === 'hub' && (slot.names.length === 1 || slot.combine === concatRows) ? q.dtype : null;
    if (slot.combine && slot.combine !== concatRows) return null;
    const st = infos[0].dtype;
    if (infos.some((i) => i.dtype !== st) || !['BF16', 'F16', 'F32'].includes(st)) return null;
    const src = st.toLowerCase() as 'bf16' | 'f16' | 'f32';
    if (!backend.capabilities().weightDTypes.includes(src)) return null;
    return formatFor(slot.role, slot.shape, opts.dtype, src) === src ? src : null;
  };
  async function* chunksOf(names: readonly string[], tensor: string): AsyncGenerator<Uint8Array> {
    for (const n of names) {
      for await (const c of ckpt.chunks(n, chunkBytes)) {
        yield c;
        loadedBytes += c.byteLength;
        opts.onProgress?.({ loadedBytes, totalBytes, tensor });
      }
    }
  }
  // The vision tower's linear weights only ever meet many rows (the patches): packed for the GEMM where the backend
  // can, so no call re-gathers and transposes them (the text model's weights also serve decode's matrix-vector path).
  const packVision = (key: string, t: Tensor): Tensor => {
    if (!backend.packWeight || !VISION_LINEAR.test(key)) return t;
    const p = backend.packWeight(t);
    if (p !== t) t.dispose();
    return p;
  };
  try {
    for (const [key, slot] of order) {
      const sf = streamFormat(slot);
      if (sf) {
        out.set(key, keep(await chunked!.call(backend, slot.shape, sf, chunksOf(slot.names, slot.names[0]))));
        continue;
      }
      const raws: RawTensor[] = [];
      for (const n of slot.names) raws.push(await read(n));
      const q = quant.get(slot.names[0]);
      if (q) {
        // Quantized rows concatenate as bytes (gate+up); MoE experts are stored output-major already.
        const bytes = raws.length === 1 ? raws[0].bytes : concatBytes(raws.map((r) => r.bytes));
        out.set(key, keep(backend.upload(bytes, slot.shape, q.dtype)));
        opts.onProgress?.({ loadedBytes, totalBytes, tensor: slot.names[0] });
        continue;
      }
      const src = raws[0].dtype === 'F32' ? 'f32' : raws[0].dtype === 'F16' ? 'f16' : 'bf16';
      const fmt = formatFor(slot.role, slot.shape, opts.dtype, backend.capabilities().weightDTypes.includes(src) ? src : 'f32');
      out.set(key, keep(packVision(key, convertWeight(backend, raws, slot.shape, fmt, slot.combine))));
      opts.onProgress?.({ loadedBytes, totalBytes, tensor: slot.names[0] });
    }
  } catch (e) {
    for (const x of out.values()) x.dispose();
    throw e;
  }

  const g = (k: string) => out.get(k)!;
  const lin = (k: string): LinearWeights => ({ weight: g(`${k}.w`), bias: g(`${k}.b`) });
  const nrm = (k: string): NormWeights => ({ weight: g(`${k}.w`), bias: g(`${k}.b`) });
  const mergerW = (k: string): MergerWeights => ({ norm: nrm(`${k}.n`), linearFc1: lin(`${k}.fc1`), linearFc2: lin(`${k}.fc2`) });
  return {
    text: {
      embedTokens: g('embed'),
      lmHead: tied ? g('embed') : g('lmHead'),
      norm: g('norm'),
      layers: Array.from({ length: t.numHiddenLayers }, (_, l) => ({
        inputLayernorm: g(`l${l}.in`),
        postAttentionLayernorm: g(`l${l}.post`),
        qkvProj: g(`l${l}.qkv`),
        oProj: g(`l${l}.o`),
        qNorm: g(`l${l}.qn`),
        kNorm: g(`l${l}.kn`),
        mlp: out.has(`l${l}.router`)
          ? { kind: 'moe' as const, router: g(`l${l}.router`), gateUp: g(`l${l}.gateUp`), down: g(`l${l}.down`) }
          : { kind: 'dense' as const, gateUp: g(`l${l}.gateUp`), down: g(`l${l}.down`) },
      })),
    },
    vision: {
      patchEmbed: { weight: g('patch.w'), bias: g('patch.b') },
      posEmbed: g('pos'),
      blocks: Array.from({ length: v.depth }, (_, b) => ({
        norm1: nrm(`b${b}.n1`),
        norm2: nrm(`b${b}.n2`),
        q: lin(`b${b}.q`),
        k: lin(`b${b}.k`),
        v: lin(`b${b}.v`),
        proj: lin(`b${b}.proj`),
        linearFc1: lin(`b${b}.fc1`),
        linearFc2: lin(`b${b}.fc2`),
      })),
      merger: mergerW('merger'),
      deepstackMergers: v.deepstackVisualIndexes.map((_, j) => mergerW(`ds${j}`)),
    },
  };
}

/** Slot keys of the vision tower's linear weights (patch embedding, blocks, mergers). */
const VISION_LINEAR = /^(patch|b\d+\.(q|k|v|proj|fc1|fc2)|(merger|ds\d+)\.fc[12])\.w$/;

const FLOAT_TYPES: readonly StDType[] = ['BF16', 'F16', 'F32'];

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function validate(ckpt: Checkpoint, slots: ReadonlyMap<string, Slot>, tied: boolean, quant: ReadonlyMap<string, QuantizedTensorInfo>): void {
  const missing: string[] = [];
  const misshapen: string[] = [];
  const used = new Set<string>();
  for (const s of slots.values()) {
    s.names.forEach((n, i) => {
      used.add(n);
      if (!ckpt.has(n)) return void missing.push(n);
      const info = ckpt.info(n);
      const q = quant.get(n);
      const want = q?.layout === 'output-major' ? s.shape : s.shapes[i];
      const have = q ? q.shape : info.shape;
      if (have.length !== want.length || have.some((d, j) => d !== want[j])) misshapen.push(`${n}: [${have}] in the checkpoint, expected [${want}]`);
      else if (!q && !FLOAT_TYPES.includes(info.dtype)) misshapen.push(`${n}: dtype ${info.dtype}, expected BF16, F16 or F32`);
      else if (q && s.names.some((m) => quant.get(m)?.dtype !== q.dtype)) misshapen.push(`${n}: parts of one weight are stored in different formats`);
    });
  }
  // A tied checkpoint may still carry a copy of the embedding as lm_head.weight.
  if (tied && ckpt.has('lm_head.weight')) used.add('lm_head.weight');
  const unused = [...ckpt.tensors.keys()].filter((n) => !used.has(n));
  const list = (xs: string[]) => xs.slice(0, 8).join('; ') + (xs.length > 8 ? `; … (${xs.length} in all)` : '');
  if (missing.length) throw new WeightError(`checkpoint ${ckpt.dir} lacks ${missing.length} tensor(s): ${list(missing)}`, missing);
  if (misshapen.length) throw new WeightError(`checkpoint ${ckpt.dir} has misshapen tensor(s): ${list(misshapen)}`, misshapen);
  if (unused.length) throw new WeightError(`checkpoint ${ckpt.dir} has ${unused.length} tensor(s) this model does not use: ${list(unused)}`, unused);
}

// A small streaming GGUF (v3) writer and the Qwen3 text model export: the same random weights as our checkpoint,
// in the same weight format, as llama.cpp's `qwen3` architecture, so both engines run identical math side by side.

import { open, type FileHandle } from 'node:fs/promises';
import { Checkpoint } from '../src/io/safetensors.js';
import { checkpointTensors, VIS } from '../src/models/qwen3vl/checkpoint.js';
import { loadConfig } from '../src/models/qwen3vl/config.js';
import { quantize } from '../src/tensor/quant.js';
import { widen } from '../src/tensor/dtype.js';
import { byteLevelAlphabet } from '../src/tokenizer/byteLevel.js';

/** ggml tensor types we write. */
export const GGML = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
export type GgmlType = (typeof GGML)[keyof typeof GGML];
const BLOCK: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 8: [32, 34], 30: [1, 2] };

export type Value =
  | { t: 'u32'; v: number }
  | { t: 'f32'; v: number }
  | { t: 'str'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'strs'; v: string[] }
  | { t: 'i32s'; v: Int32Array }
  | { t: 'f32s'; v: Float32Array }
  | { t: 'bools'; v: boolean[] };

export interface GgufTensor {
  name: string;
  /** Row-major shape as in PyTorch ([out, in]); written reversed (ggml's ne[0] is the innermost). */
  shape: number[];
  type: GgmlType;
  /** Produces the tensor's bytes when it is its turn (so only one tensor is in memory). */
  data: () => Promise<Uint8Array>;
}

export const ALIGN = 32;

class Bytes {
  private parts: Buffer[] = [];
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.parts.push(b);
  }
  raw(b: Buffer) {
    this.parts.push(b);
  }
  get(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeValue(o: Bytes, v: Value): void {
  switch (v.t) {
    case 'u32':
      o.u32(4);
      o.u32(v.v);
      break;
    case 'f32': {
      o.u32(6);
      const b = Buffer.alloc(4);
      b.writeFloatLE(v.v);
      o.raw(b);
      break;
    }
    case 'bool':
      o.u32(7);
      o.raw(Buffer.from([v.v ? 1 : 0]));
      break;
    case 'str':
      o.u32(8);
      o.str(v.v);
      break;
    case 'strs':
      o.u32(9);
      o.u32(8);
      o.u64(v.v.length);
      for (const s of v.v) o.str(s);
      break;
    case 'i32s':
      o.u32(9);
      o.u32(5);
      o.u64(v.v.length);
      o.raw(Buffer.from(v.v.buffer, v.v.byteOffset, v.v.byteLength));
      break;
    case 'f32s':
      o.u32(9);
      o.u32(6);
      o.u64(v.v.length);
      o.raw(Buffer.from(v.v.buffer, v.v.byteOffset, v.v.byteLength));
      break;
    case 'bools':
      o.u32(9);
      o.u32(7);
      o.u64(v.v.length);
      o.raw(Buffer.from(v.v.map((b) => (b ? 1 : 0))));
      break;
  }
}

export async function writeGguf(file: string, kv: [string, Value][], tensors: GgufTensor[]): Promise<void> {
  const h = new Bytes();
  h.u32(0x46554747); // "GGUF"
  h.u32(3);
  h.u64(tensors.length);
  h.u64(kv.length);
  for (const [k, v] of kv) {
    h.str(k);
    writeValue(h, v);
  }
  let off = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    h.str(t.name);
    h.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) h.u64(d);
    h.u32(t.type);
    h.u64(off);
    offsets.push(off);
    const [bs, bb] = BLOCK[t.type];
    off += Math.ceil(((t.shape.reduce((a, b) => a * b, 1) / bs) * bb) / ALIGN) * ALIGN;
  }
  const head = h.get();
  const dataStart = Math.ceil(head.length / ALIGN) * ALIGN;
  const fh: FileHandle = await open(file, 'w');
  try {
    await fh.write(head, 0, head.length, 0);
    for (let i = 0; i < tensors.length; i++) {
      const bytes = await tensors[i].data();
      let done = 0;
      while (done < bytes.length) done += (await fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30), dataStart + offsets[i] + done)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
}

/** Checkpoint tensor names of the Qwen3 text model -> llama.cpp `qwen3` names. */
const GGUF_NAMES: [RegExp, string][] = [
  [/^model\.language_model\.embed_tokens\.weight$/, 'token_embd.weight'],
  [/^model\.language_model\.norm\.weight$/, 'output_norm.weight'],
  [/^lm_head\.weight$/, 'output.weight'],
  [/^model\.language_model\.layers\.(\d+)\.input_layernorm\.weight$/, 'blk.$1.attn_norm.weight'],
  [/^model\.language_model\.layers\.(\d+)\.post_attention_layernorm\.weight$/, 'blk.$1.ffn_norm.weight'],
  [/^model\.language_model\.layers\.(\d+)\.self_attn\.([qkv])_proj\.weight$/, 'blk.$1.attn_$2.weight'],
  [/^model\.language_model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, 'blk.$1.attn_output.weight'],
  [/^model\.language_model\.layers\.(\d+)\.self_attn\.([qk])_norm\.weight$/, 'blk.$1.attn_$2_norm.weight'],
  [/^model\.language_model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight$/, 'blk.$1.ffn_$2.weight'],
];

function ggufName(name: string): string {
  for (const [re, to] of GGUF_NAMES) if (re.test(name)) return name.replace(re, to);
  throw new Error(`exportQwen3Gguf: no llama.cpp name for ${name}`);
}

export type WeightType = 'bf16' | 'q8_0' | 'q4_0' | 'f32';

/**
 * Export the text model of a Qwen3-VL checkpoint as a llama.cpp `qwen3vl` (or `qwen3`) GGUF: 2-D weights in `wtype` (as our
 * backend stores them), norms f32, a placeholder vocabulary (we feed token ids, never text).
 */
export type Converter = (bits: Uint16Array, rows: number, cols: number, t: WeightType) => Promise<Uint8Array>;

export async function exportQwen3Gguf(dir: string, file: string, wtype: WeightType, convert?: Converter, arch: 'qwen3' | 'qwen3vl' = 'qwen3vl'): Promise<void> {
  const cfg = await loadConfig(dir);
  const t = cfg.text;
  if (t.moe) throw new Error('exportQwen3Gguf: MoE text models are not exported (llama.cpp would need qwen3moe)');
  const ck = await Checkpoint.open(dir);
  try {
    const tied = cfg.tieWordEmbeddings || !ck.has('lm_head.weight');
    const ty = { bf16: GGML.BF16, q8_0: GGML.Q8_0, q4_0: GGML.Q4_0, f32: GGML.F32 }[wtype];
    const mat = (name: string, src: string): GgufTensor => {
      const info = ck.info(src);
      const [rows, cols] = info.shape;
      return {
        name,
        shape: [rows, cols],
        type: ty,
        data: async () => {
          const raw = await ck.read(src);
          if (wtype === 'bf16') return raw.bytes;
          if (convert) return convert(raw.u16(), rows, cols, wtype);
          const f = widen(raw.u16(), 'bf16');
          if (wtype === 'f32') return new Uint8Array(f.buffer);
          return quantize(f, cols, wtype);
        },
      };
    };
    const vec = (name: string, src: string): GgufTensor => ({
      name,
      shape: [ck.info(src).shape[0]],
      type: GGML.F32,
      data: async () => new Uint8Array(widen((await ck.read(src)).u16(), 'bf16').buffer),
    });
    // The model's tensor table, text side, renamed to llama.cpp's; norms go as f32 vectors, the rest as matrices.
    const tensors: GgufTensor[] = checkpointTensors(cfg, tied)
      .filter((x) => !x.name.startsWith(`${VIS}.`))
      .map((x) => (x.role === 'norm' ? vec : mat)(ggufName(x.name), x.name));
    const bytes = byteLevelAlphabet(); // so the 256 byte tokens exist, incl. the newline Ċ
    const tokens = Array.from({ length: t.vocabSize }, (_, i) => (i < 256 ? bytes[i] : `<t${i}>`));
    // `qwen3vl` (interleaved M-RoPE, deepstack inputs) so llama-mtmd-cli accepts it beside our mmproj; for text
    // tokens all three M-RoPE positions are equal, which is plain RoPE, the same function as `qwen3`.
    const A = arch;
    const sec = cfg.text.mropeSection;
    const kv: [string, Value][] = [
      ['general.architecture', { t: 'str', v: A }],
      ['general.name', { t: 'str', v: `qwen3-vl-text-${wtype}` }],
      ['general.alignment', { t: 'u32', v: ALIGN }],
      [`${A}.context_length`, { t: 'u32', v: 4096 }],
      [`${A}.embedding_length`, { t: 'u32', v: t.hiddenSize }],
      [`${A}.block_count`, { t: 'u32', v: t.numHiddenLayers }],
      [`${A}.feed_forward_length`, { t: 'u32', v: t.intermediateSize }],
      [`${A}.attention.head_count`, { t: 'u32', v: t.numAttentionHeads }],
      [`${A}.attention.head_count_kv`, { t: 'u32', v: t.numKeyValueHeads }],
      [`${A}.attention.key_length`, { t: 'u32', v: t.headDim }],
      [`${A}.attention.value_length`, { t: 'u32', v: t.headDim }],
      [`${A}.rope.freq_base`, { t: 'f32', v: t.ropeTheta }],
      [`${A}.attention.layer_norm_rms_epsilon`, { t: 'f32', v: t.rmsNormEps }],
      ...(A === 'qwen3vl'
        ? ([
            [`${A}.rope.dimension_sections`, { t: 'i32s', v: Int32Array.from([...sec, ...Array(4 - sec.length).fill(0)]) }],
            [`${A}.n_deepstack_layers`, { t: 'u32', v: cfg.vision.deepstackVisualIndexes.length }],
          ] as [string, Value][])
        : []),
      ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }],
      ['tokenizer.ggml.pre', { t: 'str', v: 'qwen2' }],
      ['tokenizer.ggml.tokens', { t: 'strs', v: tokens }],
      ['tokenizer.ggml.token_type', { t: 'i32s', v: new Int32Array(t.vocabSize).fill(1) }],
      ['tokenizer.ggml.merges', { t: 'strs', v: [] }],
      ['tokenizer.ggml.bos_token_id', { t: 'u32', v: 300 }],
      ['tokenizer.ggml.eos_token_id', { t: 'u32', v: 301 }],
      ['tokenizer.ggml.add_bos_token', { t: 'bool', v: false }],
    ];
    await writeGguf(file, kv, tensors);
  } finally {
    await ck.close();
  }
}

/** The GGUF of a checkpoint in `wtype` at `file`, written once (weights converted by the native backend). */
export async function ensureGguf(dir: string, file: string, wtype: WeightType, threads: number): Promise<string> {
  const { existsSync, renameSync } = await import('node:fs');
  if (existsSync(file)) return file;
  console.error(`writing ${file} …`);
  const { CpuBackend } = await import('../src/backend/cpu/index.js');
  const b = new CpuBackend({ threads });
  await exportQwen3Gguf(dir, file + '.tmp', wtype, async (bits, rows, cols, t) => {
    const x = b.uploadConvert(bits, 'bf16', [rows, cols], t);
    const out = await b.readRaw(x);
    x.dispose();
    return out;
  });
  b.destroy();
  renameSync(file + '.tmp', file);
  return file;
}

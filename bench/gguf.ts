// A small streaming GGUF (v3) writer and the Qwen3 text model export: the same random weights as our checkpoint,
// in the same weight format, as llama.cpp's `qwen3` architecture, so both engines run identical math side by side.

import { open, type FileHandle } from 'node:fs/promises';
import { Checkpoint } from '../src/io/safetensors.js';
import { loadConfig } from '../src/config/config.js';
import { quantize } from '../src/tensor/quant.js';
import { widen } from '../src/tensor/dtype.js';

/** ggml tensor types we write. */
export const GGML = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
type GgmlType = (typeof GGML)[keyof typeof GGML];
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

/** GPT-2 byte-level BPE's byte → printable character table (so the 256 byte tokens exist, incl. the newline Ċ). */
function byteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (bs.includes(b)) continue;
    bs.push(b);
    cs.push(256 + n++);
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
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
    const LM = 'model.language_model';
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
    const tensors: GgufTensor[] = [mat('token_embd.weight', `${LM}.embed_tokens.weight`), vec('output_norm.weight', `${LM}.norm.weight`)];
    if (!tied) tensors.push(mat('output.weight', 'lm_head.weight'));
    for (let l = 0; l < t.numHiddenLayers; l++) {
      const p = `${LM}.layers.${l}`;
      tensors.push(
        vec(`blk.${l}.attn_norm.weight`, `${p}.input_layernorm.weight`),
        mat(`blk.${l}.attn_q.weight`, `${p}.self_attn.q_proj.weight`),
        mat(`blk.${l}.attn_k.weight`, `${p}.self_attn.k_proj.weight`),
        mat(`blk.${l}.attn_v.weight`, `${p}.self_attn.v_proj.weight`),
        mat(`blk.${l}.attn_output.weight`, `${p}.self_attn.o_proj.weight`),
        vec(`blk.${l}.attn_q_norm.weight`, `${p}.self_attn.q_norm.weight`),
        vec(`blk.${l}.attn_k_norm.weight`, `${p}.self_attn.k_norm.weight`),
        vec(`blk.${l}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`),
        mat(`blk.${l}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight`),
        mat(`blk.${l}.ffn_up.weight`, `${p}.mlp.up_proj.weight`),
        mat(`blk.${l}.ffn_down.weight`, `${p}.mlp.down_proj.weight`),
      );
    }
    const bytes = byteChars();
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

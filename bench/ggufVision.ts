// The vision tower of a Qwen3-VL checkpoint as llama.cpp's mmproj GGUF (projector `qwen3vl_merger`), named and laid
// out as llama.cpp's own converter writes it (conversion/qwen3vl.py), so llama-mtmd-cli encodes images with the same
// random weights as ours. Matrices and the patch kernels F16 (matrices Q8_0 or Q4_0 on request, quantized as our loader
// quantizes them, so both engines read the same blocks); norms, biases and the position table F32.

import { Checkpoint } from '../src/io/safetensors.js';
import { loadConfig } from '../src/models/qwen3vl/config.js';
import { quantize } from '../src/tensor/quant.js';
import { f32ToF16, widen } from '../src/tensor/dtype.js';
import { GGML, writeGguf, type GgmlType, type GgufTensor, type Value } from './gguf.js';

export type MmprojType = 'f16' | 'q8_0' | 'q4_0';

/** GGML tensor type and `general.file_type` (llama_ftype: MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7) per mmproj type. */
const MMPROJ: Record<MmprojType, { type: GgmlType; ftype: number }> = {
  f16: { type: GGML.F16, ftype: 1 },
  q8_0: { type: GGML.Q8_0, ftype: 7 },
  q4_0: { type: GGML.Q4_0, ftype: 2 },
};

function toF16(f: Float32Array): Uint8Array {
  const o = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) o[i] = f32ToF16(f[i]);
  return new Uint8Array(o.buffer);
}

export async function exportMmprojGguf(dir: string, file: string, wtype: MmprojType = 'f16'): Promise<void> {
  const cfg = await loadConfig(dir);
  const v = cfg.vision;
  const ck = await Checkpoint.open(dir);
  try {
    const VIS = ck.has('model.visual.pos_embed.weight') ? 'model.visual' : 'visual';
    const read = async (src: string) => widen((await ck.read(src)).u16(), 'bf16');
    const mat = (name: string, src: string): GgufTensor => {
      const [rows, cols] = ck.info(src).shape;
      const q = wtype !== 'f16' && cols % 32 === 0;
      return {
        name,
        shape: [rows, cols],
        type: q ? MMPROJ[wtype].type : GGML.F16,
        data: async () => (q ? quantize(await read(src), cols, wtype as 'q8_0' | 'q4_0') : toF16(await read(src))),
      };
    };
    const vec = (name: string, src: string): GgufTensor => ({
      name,
      shape: [ck.info(src).shape[0]],
      type: GGML.F32,
      data: async () => new Uint8Array((await read(src)).buffer),
    });
    // Conv3d [C, 3, 2, p, p] → two Conv2d kernels [C, 3, p, p], one per temporal slice (as llama.cpp splits it).
    const patchSrc = `${VIS}.patch_embed.proj.weight`;
    const [C, inC, kt, ph, pw] = ck.info(patchSrc).shape;
    if (kt !== 2) throw new Error(`exportMmprojGguf: temporal patch size ${kt}; llama.cpp supports 2`);
    const patchSlice = (t: number): GgufTensor => ({
      name: t === 0 ? 'v.patch_embd.weight' : 'v.patch_embd.weight.1',
      shape: [C, inC, ph, pw],
      type: GGML.F16,
      data: async () => {
        const all = await read(patchSrc);
        const hw = ph * pw;
        const out = new Float32Array(C * inC * hw);
        for (let c = 0; c < C * inC; c++) out.set(all.subarray((c * kt + t) * hw, (c * kt + t + 1) * hw), c * hw);
        return toF16(out);
      },
    });
    const tensors: GgufTensor[] = [
      patchSlice(0),
      patchSlice(1),
      vec('v.patch_embd.bias', `${VIS}.patch_embed.proj.bias`),
      // F32: llama.cpp interpolates the position table with ggml_interpolate, which takes F32 only.
      { ...mat('v.position_embd.weight', `${VIS}.pos_embed.weight`), type: GGML.F32, data: async () => new Uint8Array((await read(`${VIS}.pos_embed.weight`)).buffer) },
    ];
    for (let b = 0; b < v.depth; b++) {
      const p = `${VIS}.blocks.${b}`;
      const o = `v.blk.${b}`;
      tensors.push(
        vec(`${o}.ln1.weight`, `${p}.norm1.weight`),
        vec(`${o}.ln1.bias`, `${p}.norm1.bias`),
        mat(`${o}.attn_qkv.weight`, `${p}.attn.qkv.weight`),
        vec(`${o}.attn_qkv.bias`, `${p}.attn.qkv.bias`),
        mat(`${o}.attn_out.weight`, `${p}.attn.proj.weight`),
        vec(`${o}.attn_out.bias`, `${p}.attn.proj.bias`),
        vec(`${o}.ln2.weight`, `${p}.norm2.weight`),
        vec(`${o}.ln2.bias`, `${p}.norm2.bias`),
        mat(`${o}.ffn_up.weight`, `${p}.mlp.linear_fc1.weight`),
        vec(`${o}.ffn_up.bias`, `${p}.mlp.linear_fc1.bias`),
        mat(`${o}.ffn_down.weight`, `${p}.mlp.linear_fc2.weight`),
        vec(`${o}.ffn_down.bias`, `${p}.mlp.linear_fc2.bias`),
      );
    }
    tensors.push(
      vec('v.post_ln.weight', `${VIS}.merger.norm.weight`),
      vec('v.post_ln.bias', `${VIS}.merger.norm.bias`),
      mat('mm.0.weight', `${VIS}.merger.linear_fc1.weight`),
      vec('mm.0.bias', `${VIS}.merger.linear_fc1.bias`),
      mat('mm.2.weight', `${VIS}.merger.linear_fc2.weight`),
      vec('mm.2.bias', `${VIS}.merger.linear_fc2.bias`),
    );
    v.deepstackVisualIndexes.forEach((layer, j) => {
      const p = `${VIS}.deepstack_merger_list.${j}`;
      const o = `v.deepstack.${layer}`;
      tensors.push(
        vec(`${o}.norm.weight`, `${p}.norm.weight`),
        vec(`${o}.norm.bias`, `${p}.norm.bias`),
        mat(`${o}.fc1.weight`, `${p}.linear_fc1.weight`),
        vec(`${o}.fc1.bias`, `${p}.linear_fc1.bias`),
        mat(`${o}.fc2.weight`, `${p}.linear_fc2.weight`),
        vec(`${o}.fc2.bias`, `${p}.linear_fc2.bias`),
      );
    });
    const side = Math.round(Math.sqrt(v.numPositionEmbeddings)) * v.patchSize;
    const kv: [string, Value][] = [
      ['general.architecture', { t: 'str', v: 'clip' }],
      ['general.name', { t: 'str', v: `qwen3-vl-mmproj-${wtype}` }],
      ['general.file_type', { t: 'u32', v: MMPROJ[wtype].ftype }],
      ['clip.projector_type', { t: 'str', v: 'qwen3vl_merger' }],
      ['clip.has_vision_encoder', { t: 'bool', v: true }],
      ['clip.use_gelu', { t: 'bool', v: true }],
      ['clip.vision.projection_dim', { t: 'u32', v: cfg.text.hiddenSize }],
      ['clip.vision.image_size', { t: 'u32', v: side }],
      ['clip.vision.patch_size', { t: 'u32', v: v.patchSize }],
      ['clip.vision.embedding_length', { t: 'u32', v: v.hiddenSize }],
      ['clip.vision.feed_forward_length', { t: 'u32', v: v.intermediateSize }],
      ['clip.vision.block_count', { t: 'u32', v: v.depth }],
      ['clip.vision.attention.head_count', { t: 'u32', v: v.numHeads }],
      ['clip.vision.attention.layer_norm_epsilon', { t: 'f32', v: cfg.text.rmsNormEps }],
      ['clip.vision.image_mean', { t: 'f32s', v: Float32Array.from([0.5, 0.5, 0.5]) }],
      ['clip.vision.image_std', { t: 'f32s', v: Float32Array.from([0.5, 0.5, 0.5]) }],
      ['clip.vision.spatial_merge_size', { t: 'u32', v: v.spatialMergeSize }],
      ['clip.vision.is_deepstack_layers', { t: 'bools', v: Array.from({ length: v.depth }, (_, i) => v.deepstackVisualIndexes.includes(i)) }],
    ];
    await writeGguf(file, kv, tensors);
  } finally {
    await ck.close();
  }
}

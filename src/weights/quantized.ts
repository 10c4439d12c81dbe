// Pre-quantized checkpoints (written by src/tools/quantize.ts; format in docs/quantized-format.md): the
// per-shard metadata that says which U8 tensors hold q8_0/q4_0 blocks, read from already-open shard headers.

import type { Checkpoint } from '../io/safetensors.js';
import { type QuantDType, QBLOCK, QBLOCK_BYTES } from '../tensor/dtype.js';

export const QUANT_META_KEY = 'qwen3vl.quantization';

/** How one quantized tensor is stored. */
export interface QuantizedTensorInfo {
  readonly dtype: QuantDType;
  /** Logical shape of the values (the checkpoint's own, or the transposed one for layout 'output-major'). */
  readonly shape: readonly number[];
  /** Values per quantized row (the product of the trailing dims after the first for conv weights). */
  readonly k: number;
  /** 'hub': the checkpoint's layout; 'output-major': fused MoE experts transposed to [E, out, in] rows. */
  readonly layout: 'hub' | 'output-major';
}

/** The quantized tensors of a checkpoint (empty for plain checkpoints), read from the shard headers. */
export async function readQuantization(ckpt: Checkpoint): Promise<Map<string, QuantizedTensorInfo>> {
  const out = new Map<string, QuantizedTensorInfo>();
  for (const [f, metadata] of ckpt.metadata) {
    const raw = metadata[QUANT_META_KEY];
    if (!raw) continue;
    let meta: { version?: number; tensors?: Record<string, QuantizedTensorInfo> };
    try {
      meta = JSON.parse(raw);
    } catch (e) {
      throw new Error(`${f}: ${QUANT_META_KEY} metadata is not JSON (${(e as Error).message})`);
    }
    if (meta.version !== 1 || !meta.tensors) throw new Error(`${f}: unsupported ${QUANT_META_KEY} version ${meta.version}`);
    for (const [n, q] of Object.entries(meta.tensors)) {
      const info = ckpt.has(n) ? ckpt.info(n) : null;
      const numel = q.shape.reduce((a, b) => a * b, 1);
      if (!info || info.dtype !== 'U8' || !(q.dtype in QBLOCK_BYTES) || q.k % QBLOCK || numel % q.k || info.byteLength !== (numel / QBLOCK) * QBLOCK_BYTES[q.dtype]) {
        throw new Error(`${f}: quantized tensor ${n} does not match its description ${JSON.stringify(q)}`);
      }
      out.set(n, q);
    }
  }
  return out;
}


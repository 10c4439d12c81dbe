// Host data to GPU layout: f32/i32 as is, bf16/f16 bits as is (two per word), and q8_0/q4_0 repacked from ggml's
// 34/18-byte blocks (not 4-byte aligned) into f16 scales followed by word-aligned quants.

import { type DType, QBLOCK, QBLOCK_BYTES, isQuant } from '../../tensor/dtype.js';
import type { HostData } from '../backend.js';

export interface Packed {
  readonly bytes: ArrayBufferView;
  /** Word offset of quant data (quantized formats), else 0. */
  readonly qoff: number;
}

export function packForGpu(data: HostData, shape: readonly number[], dtype: DType): Packed {
  const n = shape.reduce((a, b) => a * b, 1);
  const want = (what: string, ok: boolean, got: number, need: number) => {
    if (!ok) throw new Error(`webgpu.upload: ${dtype} data for shape [${shape}] must be ${what} of ${need} values, got ${got}`);
  };
  switch (dtype) {
    case 'f32':
      want('a Float32Array', data instanceof Float32Array && data.length === n, data.length, n);
      return { bytes: data, qoff: 0 };
    case 'i32':
      want('an Int32Array', data instanceof Int32Array && data.length === n, data.length, n);
      return { bytes: data, qoff: 0 };
    case 'bf16':
    case 'f16':
      want('a Uint16Array (bits)', data instanceof Uint16Array && data.length === n, data.length, n);
      return { bytes: data, qoff: 0 };
    default:
      if (!isQuant(dtype)) throw new Error(`webgpu.upload: unknown dtype ${String(dtype)}`);
      return repackQuant(data, shape, dtype);
  }
}

function repackQuant(data: HostData, shape: readonly number[], fmt: 'q8_0' | 'q4_0'): Packed {
  const k = shape[shape.length - 1];
  const n = shape.reduce((a, b) => a * b, 1);
  if (k % QBLOCK) throw new Error(`webgpu.upload: ${fmt} rows must be whole ${QBLOCK}-value blocks, shape [${shape}]`);
  const blocks = n / QBLOCK;
  const bb = QBLOCK_BYTES[fmt];
  if (!(data instanceof Uint8Array) || data.length !== blocks * bb) {
    throw new Error(`webgpu.upload: ${fmt} data for shape [${shape}] must be a Uint8Array of ${blocks * bb} bytes, got ${data.length}`);
  }
  const qwords = bb === 34 ? 8 : 4;
  const qoff = Math.ceil(Math.ceil(blocks / 2) / 4) * 4;
  const out = new Uint32Array(qoff + blocks * qwords);
  const scales = new Uint16Array(out.buffer, 0, blocks);
  const q8 = new Uint8Array(out.buffer, qoff * 4, blocks * qwords * 4);
  const qb = qwords * 4;
  for (let b = 0; b < blocks; b++) {
    const o = b * bb;
    scales[b] = data[o] | (data[o + 1] << 8);
    q8.set(data.subarray(o + 2, o + bb), b * qb);
  }
  return { bytes: out, qoff };
}

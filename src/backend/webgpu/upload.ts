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

/** Word offset of the quants after `blocks` f16 scales (kept 16-byte aligned). */
const quantOffset = (blocks: number) => Math.ceil(Math.ceil(blocks / 2) / 4) * 4;

/** Source chunks for chunkWriter must be a multiple of this (4-byte writes; whole pairs of q8_0 and q4_0 blocks). */
export const CHUNK_ALIGN = 612; // lcm(4, 2·34, 2·18)

/** GPU bytes and quant offset of a tensor uploaded in chunks. */
export function gpuLayout(shape: readonly number[], dtype: DType): { bytes: number; qoff: number } {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'f32' || dtype === 'i32') return { bytes: n * 4, qoff: 0 };
  if (dtype === 'bf16' || dtype === 'f16') return { bytes: n * 2, qoff: 0 };
  if (!isQuant(dtype)) throw new Error(`webgpu.upload: unknown dtype ${String(dtype)}`);
  const k = shape[shape.length - 1];
  if (k % QBLOCK) throw new Error(`webgpu.upload: ${dtype} rows must be whole ${QBLOCK}-value blocks, shape [${shape}]`);
  const blocks = n / QBLOCK;
  const qoff = quantOffset(blocks);
  return { bytes: (qoff + blocks * (dtype === 'q8_0' ? 8 : 4)) * 4, qoff };
}

/**
 * Host bytes in the checkpoint's layout arriving in chunks (each ending on a CHUNK_ALIGN-compatible boundary but the last), written to
 * GPU memory as they come: at most one chunk (plus its repacked copy for quants) is ever held in JS memory.
 */
export function chunkWriter(shape: readonly number[], dtype: DType, write: (data: ArrayBufferView, byteOffset: number) => void): { push(chunk: Uint8Array): void; end(): void } {
  const n = shape.reduce((a, b) => a * b, 1);
  const quant = isQuant(dtype);
  const srcBytes = quant ? (n / QBLOCK) * QBLOCK_BYTES[dtype] : n * (dtype === 'bf16' || dtype === 'f16' ? 2 : 4);
  const { qoff } = gpuLayout(shape, dtype);
  let done = 0;
  return {
    push(chunk) {
      // Writes land on 4-byte words (quants: whole block pairs, so the f16 scales are whole words too).
      if (done % (quant ? 2 * QBLOCK_BYTES[dtype] : 4)) throw new Error(`webgpu.upload: a chunk of ${chunk.byteLength} bytes follows a misaligned one`);
      if (done + chunk.byteLength > srcBytes) throw new Error(`webgpu.upload: [${shape}] ${dtype} takes ${srcBytes} bytes, got more`);
      if (!quant) write(chunk, done);
      else {
        const bb = QBLOCK_BYTES[dtype];
        const b0 = done / bb;
        const p = repackQuant(chunk, [chunk.byteLength / bb, QBLOCK], dtype);
        const blocks = chunk.byteLength / bb;
        const qb = (bb === 34 ? 8 : 4) * 4;
        write(new Uint8Array(p.bytes.buffer, 0, blocks * 2), b0 * 2);
        write(new Uint8Array(p.bytes.buffer, p.qoff * 4, blocks * qb), qoff * 4 + b0 * qb);
      }
      done += chunk.byteLength;
    },
    end() {
      if (done !== srcBytes) throw new Error(`webgpu.upload: [${shape}] ${dtype} takes ${srcBytes} bytes, got ${done}`);
    },
  };
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
  const qoff = quantOffset(blocks);
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

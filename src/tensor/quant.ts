// Host-side block quantization (q8_0, q4_0) of row-major [rows, K] weights; K must be a multiple of 32.
// These functions define the formats' semantics: every backend's quantized kernels must agree with them.

import { QBLOCK, QBLOCK_BYTES, type QuantDType, f16ToF32, f32ToF16 } from './dtype.js';

export function quantizable(k: number): boolean {
  return k > 0 && k % QBLOCK === 0;
}

/** Quantize `x` ([rows, k], f32) into blocks; each row is k/32 consecutive blocks. */
export function quantize(x: Float32Array, k: number, fmt: QuantDType): Uint8Array {
  if (!quantizable(k)) throw new Error(`cannot quantize rows of ${k} values to ${fmt}: need a multiple of ${QBLOCK}`);
  const nBlocks = x.length / QBLOCK;
  const bb = QBLOCK_BYTES[fmt];
  const out = new Uint8Array(nBlocks * bb);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nBlocks; b++) {
    const base = b * QBLOCK;
    const o = b * bb;
    if (fmt === 'q8_0') {
      let amax = 0;
      for (let i = 0; i < QBLOCK; i++) amax = Math.max(amax, Math.abs(x[base + i]));
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      dv.setUint16(o, f32ToF16(d), true);
      for (let i = 0; i < QBLOCK; i++) dv.setInt8(o + 2 + i, Math.round(x[base + i] * id));
    } else {
      // Scale from the signed value of largest magnitude so that it maps exactly to -8 (as ggml does).
      let amax = 0;
      let max = 0;
      for (let i = 0; i < QBLOCK; i++) {
        const v = x[base + i];
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = max / -8;
      const id = d ? 1 / d : 0;
      dv.setUint16(o, f32ToF16(d), true);
      for (let i = 0; i < QBLOCK / 2; i++) {
        const lo = Math.min(15, Math.trunc(x[base + i] * id + 8.5));
        const hi = Math.min(15, Math.trunc(x[base + i + QBLOCK / 2] * id + 8.5));
        out[o + 2 + i] = lo | (hi << 4);
      }
    }
  }
  return out;
}

/** Dequantize row `row` (k values) of a quantized matrix into `out` (length >= k). */
export function dequantizeRow(q: Uint8Array, row: number, k: number, fmt: QuantDType, out: Float32Array): void {
  const bb = QBLOCK_BYTES[fmt];
  const perRow = k / QBLOCK;
  const dv = new DataView(q.buffer, q.byteOffset, q.byteLength);
  for (let b = 0; b < perRow; b++) {
    const o = (row * perRow + b) * bb;
    const d = f16ToF32(dv.getUint16(o, true));
    const base = b * QBLOCK;
    if (fmt === 'q8_0') {
      for (let i = 0; i < QBLOCK; i++) out[base + i] = d * dv.getInt8(o + 2 + i);
    } else {
      for (let i = 0; i < QBLOCK / 2; i++) {
        const byte = q[o + 2 + i];
        out[base + i] = d * ((byte & 15) - 8);
        out[base + i + QBLOCK / 2] = d * ((byte >> 4) - 8);
      }
    }
  }
}

export function dequantize(q: Uint8Array, rows: number, k: number, fmt: QuantDType): Float32Array {
  const out = new Float32Array(rows * k);
  const row = new Float32Array(k);
  for (let r = 0; r < rows; r++) {
    dequantizeRow(q, r, k, fmt, row);
    out.set(row, r * k);
  }
  return out;
}

// Element types and their host encodings: bf16/f16 bit conversions and the block-quantized formats.
// Quantized layouts follow ggml's Q8_0/Q4_0 (32 weights per block, f16 scale) so bits per weight match llama.cpp.

export type FloatDType = 'f32' | 'bf16' | 'f16';
export type QuantDType = 'q8_0' | 'q4_0';
export type DType = FloatDType | QuantDType | 'i32';

/**
 * The numeric code of each dtype across the native boundary: the one table. native/common.h's `enum DType` must
 * spell the same numbers (DT_F32 = 0, …); test/unit/dtypeCodes.test.ts fails when they differ.
 */
export const DTYPE_CODE = { f32: 0, bf16: 1, f16: 2, q8_0: 3, q4_0: 4, i32: 5 } as const satisfies Record<DType, number>;

/** Weights per quantization block. */
export const QBLOCK = 32;
/** Bytes per block: f16 scale + 32 int8 (q8_0) or 16 bytes of nibbles (q4_0). */
export const QBLOCK_BYTES: Record<QuantDType, number> = { q8_0: 34, q4_0: 18 };

export function isQuant(d: DType): d is QuantDType {
  return d === 'q8_0' || d === 'q4_0';
}

/** Bytes used by `numel` elements of `d` (rows of length `rowLen` for quantized types). */
export function byteSize(d: DType, numel: number): number {
  switch (d) {
    case 'f32':
    case 'i32':
      return numel * 4;
    case 'bf16':
    case 'f16':
      return numel * 2;
    case 'q8_0':
    case 'q4_0':
      return (numel / QBLOCK) * QBLOCK_BYTES[d];
  }
}

const cvtBuf = new ArrayBuffer(4);
const cvtF32 = new Float32Array(cvtBuf);
const cvtU32 = new Uint32Array(cvtBuf);

export function bf16ToF32(bits: number): number {
  cvtU32[0] = bits << 16;
  return cvtF32[0];
}

/** f32 -> bf16 bits, round to nearest even (as torch does); NaN stays NaN. */
export function f32ToBf16(x: number): number {
  cvtF32[0] = x;
  const u = cvtU32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 -> f16 bits, round to nearest even, overflow to infinity. */
export function f32ToF16(x: number): number {
  cvtF32[0] = x;
  const u = cvtU32[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  const rest = mant & 0x1fff;
  let h = (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  e = h >>> 10;
  return sign | (e >= 31 ? 0x7c00 : h);
}

/** Widen a bf16 or f16 array to f32. */
export function widen(src: Uint16Array, d: 'bf16' | 'f16'): Float32Array {
  const out = new Float32Array(src.length);
  if (d === 'bf16') {
    const o32 = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) o32[i] = src[i] << 16;
  } else {
    for (let i = 0; i < src.length; i++) out[i] = f16ToF32(src[i]);
  }
  return out;
}

/** Narrow f32 to bf16 bits (round to nearest even). */
export function toBf16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16(src[i]);
  return out;
}

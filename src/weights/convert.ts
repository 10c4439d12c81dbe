// Weight format policy (which tensors may be quantized) and host-side conversion of checkpoint tensors to the
// chosen format before upload. Layout changes (fusing, transposing) work on the raw 16-bit bits when possible.

import type { Backend } from '../backend/backend.js';
import type { RawTensor } from '../io/safetensors.js';
import { type DType, isQuant, toBf16 } from '../tensor/dtype.js';
import { quantizable, quantize } from '../tensor/quant.js';
import type { Tensor } from '../tensor/tensor.js';

/** A format weights may be stored in: any dtype but i32. */
export type WeightFormat = Exclude<DType, 'i32'>;
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'bf16', 'f16', 'q8_0', 'q4_0'];

/** What a tensor is for; decides how far it may be compressed. */
export type Role = 'linear' | 'embedding' | 'lmHead' | 'norm' | 'bias' | 'router' | 'table';

/**
 * Norms, biases and the position table stay f32 (tiny, and exact from bf16). The MoE router stays at bf16 or better:
 * a small error there flips expert choices. Matrices whose rows are not whole 32-value blocks stay bf16.
 * Everything else takes the requested format (default: the checkpoint's own 16-bit format).
 */
export function formatFor(role: Role, shape: readonly number[], requested: WeightFormat | undefined, source: DType = 'bf16'): DType {
  if (role === 'norm' || role === 'bias' || role === 'table') return 'f32';
  const want: DType = requested ?? source;
  if (role === 'router') return isQuant(want) ? 'bf16' : want;
  if (isQuant(want) && !quantizable(shape[shape.length - 1])) return 'bf16';
  return want;
}

type Bits = Float32Array | Uint16Array;

/** Chunk size of chunked uploads (Backend.uploadChunks): a multiple of 612 bytes (whole 4-byte words and q8_0/q4_0 block pairs). */
export const UPLOAD_CHUNK_BYTES = 612 * 13_700; // ≈ 8 MiB
export type Combine = <T extends Bits>(parts: T[]) => T;

/** Convert checkpoint tensor(s) to `fmt` (applying `combine` to the parts first) and upload. */
export function convertWeight(backend: Backend, raws: RawTensor[], shape: readonly number[], fmt: DType, combine?: Combine): Tensor {
  const sameSrc = raws.every((r) => r.dtype === raws[0].dtype);
  // Native conversion off the JS thread when the backend offers it (bit-identical to quantize()).
  const nativeConvert = backend.uploadConvert;
  if (nativeConvert && sameSrc && fmt !== 'f16' && fmt !== 'i32' && ['BF16', 'F16', 'F32'].includes(raws[0].dtype)) {
    const src = raws[0].dtype === 'F32' ? 'f32' : raws[0].dtype === 'F16' ? 'f16' : 'bf16';
    const parts = src === 'f32' ? raws.map((r) => r.f32()) : raws.map((r) => r.u16());
    return nativeConvert.call(backend, combine ? (combine as Combine)(parts as Bits[]) : parts[0], src, shape, fmt);
  }
  // Fast path: 16-bit source kept as is, only rearranged.
  if (sameSrc && ((raws[0].dtype === 'BF16' && fmt === 'bf16') || (raws[0].dtype === 'F16' && fmt === 'f16'))) {
    const parts = raws.map((r) => r.u16());
    return backend.upload(combine ? combine(parts) : parts[0], shape, fmt);
  }
  const parts = raws.map((r) => r.f32());
  const x = combine ? combine(parts) : parts[0];
  switch (fmt) {
    case 'f32':
      return backend.upload(x, shape, 'f32');
    case 'bf16':
      return backend.upload(toBf16(x), shape, 'bf16');
    case 'q8_0':
    case 'q4_0':
      return backend.upload(quantize(x, shape[shape.length - 1], fmt), shape, fmt);
    default:
      // f16 target from a non-f16 source: round through bf16 would lose bits; widen to f32 instead.
      return backend.upload(x, shape, 'f32');
  }
}

/** Concatenate along the first axis. */
export function concatRows<T extends Bits>(parts: T[]): T {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = (parts[0] instanceof Float32Array ? new Float32Array(n) : new Uint16Array(n)) as T;
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** [B, R, C] -> [B, C, R]. */
export function transposeLast2<T extends Bits>(w: T, b: number, r: number, c: number): T {
  const out = (w instanceof Float32Array ? new Float32Array(w.length) : new Uint16Array(w.length)) as T;
  for (let e = 0; e < b; e++) {
    const base = e * r * c;
    for (let i = 0; i < r; i++) {
      const src = base + i * c;
      for (let j = 0; j < c; j++) out[base + j * r + i] = w[src + j];
    }
  }
  return out;
}

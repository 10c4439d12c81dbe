// What op files see of the backend: tensor storage, output allocation, f32 views of small parameters, launch helpers.

import type { DType } from '../../tensor/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { GpuBuf, Program, Runtime } from './runtime.js';

/** GPU storage of one tensor. Quantized weights hold f16 scales first, quant words from word `qoff`. */
export interface Store {
  readonly gb: GpuBuf;
  readonly qoff: number;
  /** Host copy of small i32 uploads, so index ops can reject bad indices with a clear error. */
  readonly host?: Int32Array;
  /** A KV pool from kvAlloc (its q8_0 rows keep the cpu backend's 34-byte blocks, not the weights' repacked layout). */
  readonly kvPool?: boolean;
}

export interface Ctx {
  readonly rt: Runtime;
  store(t: Tensor): Store;
  /** A fresh pooled f32 (or i32) output tensor. */
  make(shape: readonly number[], dtype?: 'f32' | 'i32'): Tensor;
  /** The f32 buffer of an activation (an error names the op if the tensor is not f32). */
  act(t: Tensor, op: string): GpuBuf;
  /** An f32 buffer for a small parameter (norm weight, bias), widening bf16/f16 on the GPU when needed. */
  vec(t: Tensor, op: string): GpuBuf;
  /** Scratch buffer for the current op; returned to the pool by `done`. */
  scratch(bytes: number): GpuBuf;
  /** Scratch buffer holding host data (written at queue time, so it is taken from buffers no pending work uses). */
  scratchFrom(data: ArrayBufferView): GpuBuf;
  /** A small buffer for unused bindings. */
  readonly dummy: GpuBuf;
  run(p: Program, bufs: readonly GpuBuf[], params: readonly number[], grid: number | readonly [number, number, number?]): void;
  /** Release scratch buffers of the op just recorded (GPU order makes immediate reuse safe). */
  done(): void;
}

/** Workgroups for an elementwise kernel of 256 threads over n items. */
export const wg256 = (n: number): number => Math.ceil(n / 256);

export function weightFormat(d: DType): string {
  if (d === 'i32') throw new Error('webgpu: an i32 tensor cannot be used as weights');
  return d;
}

// Loading the native addon (build/Release/qwen3vl_cpu.node, or QWEN3VL_CPU_ADDON) and the typed surface it exposes.
// Handles are opaque native buffers; every op returns its output handle at once and runs later, in order.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** An opaque native buffer. */
export type Handle = { readonly __cpuHandle: unique symbol };
/** A dtype code; linear weights packed by packWeight add 64 (native/common.h DT_PACKED). */
export type DtCode = 0 | 1 | 2 | 3 | 4 | 5 | 64 | 65;

export interface EngineInfo {
  isa: string;
  isaChoice: string;
  cpuFeatures: string;
  threads: number;
  actQuant: boolean;
  precision: 'exact' | 'fast';
  /** Whether this CPU has the bf16 products precision 'fast' uses (AMX-BF16 enabled by the OS, or AVX512-BF16). */
  bf16Products: boolean;
}

export interface NativeEngine {
  info(): EngineInfo;
  alloc(bytes: number, zero: boolean): Handle;
  upload(data: ArrayBufferView): Handle;
  convert(data: ArrayBufferView, srcDt: DtCode, rows: number, cols: number, dstDt: DtCode): Handle;
  free(h: Handle): void;
  read(h: Handle, byteOffset: number, bytes: number): Promise<ArrayBuffer>;
  sync(): Promise<void>;
  stats(): { liveBytes: number; peakBytes: number };
  destroy(): void;
  readBandwidth(bytes: number, reps: number): number;
  fmaPeak(iters: number, reps: number, kind?: number): number;
  linear(x: Handle, w: Handle, bias: Handle | null, m: number, n: number, k: number, wdt: DtCode): Handle;
  packWeight(w: Handle, dt: DtCode, n: number, k: number): Handle;
  gather(table: Handle, dt: DtCode, rows: number, cols: number, idx: Handle, n: number, k: number, weights: Handle | null): Handle;
  add(a: Handle, b: Handle, n: number): Handle;
  rmsNorm(x: Handle, w: Handle, rows: number, d: number, eps: number): Handle;
  layerNorm(x: Handle, w: Handle, b: Handle, rows: number, d: number, eps: number): Handle;
  swiglu(x: Handle, rows: number, inter: number): Handle;
  gelu(x: Handle, n: number, tanh: boolean): Handle;
  rope(x: Handle, cos: Handle, sin: Handle, t: number, width: number, hd: number): Handle;
  attention(
    q: Handle, k: Handle, v: Handle, t: number, nh: number, nkv: number, hd: number,
    kvLen: number, qStart: number, scale: number, causal: boolean, segments: Int32Array | null,
  ): Handle;
  pagedAttention(
    q: Handle, kPool: Handle, vPool: Handle, dt: DtCode, nh: number, nkv: number, hd: number, scale: number, blockSize: number,
    poolBytes: number, cuQ: Int32Array, kvLen: Int32Array, tblPtr: Int32Array, tbl: Int32Array,
  ): Handle;
  kvWrite(pool: Handle, dt: DtCode, width: number, poolRows: number, slots: Handle, src: Handle, n: number): void;
  writeRows(dst: Handle, byteOffset: number, src: Handle, bytes: number): void;
  sliceRows(x: Handle, byteOffset: number, bytes: number): Handle;
  scatterRows(dst: Handle, rows: Handle, src: Handle, n: number, cols: number, dstRows: number, accumulate: boolean): void;
  routerTopk(logits: Handle, t: number, e: number, k: number): [Handle, Handle];
  moe(x: Handle, ids: Handle, weights: Handle, gateUp: Handle, down: Handle, gateUpDt: DtCode, t: number, h: number, i: number, k: number, e: number, downDt: DtCode): Handle;
  argmax(x: Handle, m: number, n: number): Handle;
  linearEx(
    x: Handle, w: Handle, bias: Handle | null, residual: Handle | null, normW: Handle | null, eps: number, swiglu: boolean,
    m: number, n: number, k: number, wdt: DtCode, act: 0 | 1 | 2,
  ): Handle;
  qkvPost(
    qkv: Handle, qNorm: Handle, kNorm: Handle, cos: Handle, sin: Handle, eps: number, kCache: Handle, vCache: Handle,
    row0: number, t: number, nh: number, nkv: number, hd: number,
  ): Handle;
}

export interface EngineOptions {
  threads?: number;
  isa?: string;
  actQuant?: boolean;
  /**
   * 'exact' (default): bf16/f32 weights compute with f32 activations. 'fast': GEMMs (more than 4 rows: prefill, the
   * vision tower) against bf16 weights round the activations to bf16 and use AMX-BF16 (or AVX512-BF16) products with f32 sums, where
   * the CPU has them (elsewhere the same as 'exact'). Quantized weights follow actQuant either way.
   */
  precision?: 'exact' | 'fast';
}

interface Addon {
  CpuEngine: new (opts: EngineOptions) => NativeEngine;
}

let cached: Addon | Error | undefined;

/** The addon, or an Error saying why it cannot be loaded (not built, wrong platform, …). */
export function loadAddon(): Addon | Error {
  if (cached) return cached;
  const path = process.env.QWEN3VL_CPU_ADDON ?? fileURLToPath(new URL('../../../build/Release/qwen3vl_cpu.node', import.meta.url));
  if (!existsSync(path)) {
    cached = new Error(`native addon not built (${path} is missing; run \`npm run build:native\`)`);
    return cached;
  }
  try {
    cached = createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    cached = new Error(`native addon ${path} failed to load: ${(e as Error).message}`);
  }
  return cached;
}

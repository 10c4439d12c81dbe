// The backend contract: memory (upload, read, dispose), a capability probe and the op set the model needs.
// Ops record work and return handles at once; only `read` waits. `ref/` defines each op's semantics.

import type { DType, FloatDType } from '../tensor/dtype.js';
import type { Tensor, TensorOwner } from '../tensor/tensor.js';

/** Host data for upload: f32 -> Float32Array, bf16/f16 -> Uint16Array (bits), i32 -> Int32Array, q* -> block bytes. */
export type HostData = Float32Array | Uint16Array | Int32Array | Uint8Array;

export interface Capabilities {
  /** Weight formats `linear`/`gatherRows`/`moe` accept. */
  readonly weightDTypes: readonly DType[];
  /** Free-form facts for diagnostics (ISA, adapter, limits). */
  readonly info: Readonly<Record<string, string | number | boolean>>;
}

/**
 * Numeric mode of a backend: 'exact' (f32 activations and accumulation; the default, golden parity at 1e-4) or
 * 'fast' (WebGPU: f16 tensor-core matmuls and attention for prefill and the vision tower, f32 accumulation; CPU:
 * GEMMs against bf16 weights on bf16-rounded activations with AMX-BF16 or AVX512-BF16, f32 accumulation; not on ref).
 */
export type Precision = 'exact' | 'fast';

export interface AttentionOptions {
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  /** Softmax scale, usually headDim^-0.5. */
  readonly scale: number;
  /** Rows of k/v that hold keys (a KV cache may be larger). */
  readonly kvLen: number;
  /**
   * Causal: query row i sits at absolute key index qStart + i and sees keys [0, qStart + i].
   * qStart defaults to kvLen - T. Non-causal: every query sees all kvLen keys (or its segment).
   */
  readonly causal: boolean;
  readonly qStart?: number;
  /**
   * Block-diagonal attention for the vision tower: cumulative segment bounds [0, ..., T] over rows (cu_seqlens);
   * a row attends only to keys of its own segment. Requires T == kvLen and causal false.
   */
  readonly segments?: readonly number[];
}

/** Storage formats of the paged KV cache: f32 (exact), f16, q8_0 (32-value blocks, as llama.cpp's `-ctk q8_0`). */
export type KvDType = 'f32' | 'f16' | 'q8_0';

/**
 * A ragged batch over a paged KV pool (rows of the pool are slots; slot = block·blockSize + offset). Sequence s owns
 * query rows [cuQ[s], cuQ[s+1]) and keys [0, kvLen[s]); its query rows are its last keys, so row r of s sits at key
 * index kvLen[s] − (cuQ[s+1] − r) and (causal) sees keys [0, that index]. Key j of s lives in slot
 * tbl[tblPtr[s] + ⌊j / blockSize⌋]·blockSize + j mod blockSize. Host arrays: backends upload (and may cache) them.
 */
export interface PagedBatch {
  readonly blockSize: number;
  readonly cuQ: Int32Array; // [B+1]
  readonly kvLen: Int32Array; // [B]
  readonly tblPtr: Int32Array; // [B+1]
  readonly tbl: Int32Array;
}

export interface PagedAttentionOptions {
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly scale: number;
}

export interface LinearExOptions {
  /** Apply RMSNorm(x) with this weight first. */
  readonly norm?: { readonly w: Tensor; readonly eps: number };
  /** x is [M, 2K]: use silu(x[:, :K]) ⊙ x[:, K:] as the input. */
  readonly swiglu?: boolean;
  readonly bias?: Tensor;
  /**
   * GELU of w · f(x) + bias, before the residual (the vision MLP's fc1): `approximate` as in `gelu` (PyTorch's naming),
   * 'tanh' the tanh approximation, 'none' the exact erf form (not "no GELU"; leave the option out for that).
   */
  readonly gelu?: 'tanh' | 'none';
  /** y += residual ([M, N]). */
  readonly residual?: Tensor;
}

export interface QkvHeads {
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
}

/**
 * Activations are f32 `[rows, cols]`; weights are `[out, in]` in any format of `capabilities().weightDTypes`.
 * Ops never modify their inputs, except the three documented in-place ops (writeRows, scatterRows).
 */
export interface Backend extends TensorOwner {
  readonly name: string;
  capabilities(): Capabilities;

  upload(data: HostData, shape: readonly number[], dtype: DType): Tensor;
  /** A zero-filled f32 tensor. */
  zeros(shape: readonly number[]): Tensor;
  /** Wait for all recorded work (for timing); reads imply it. */
  sync(): Promise<void>;
  /** Release every resource of the backend. */
  destroy(): void;

  /** y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]). */
  linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor;
  /** out[n] = Σ_j weights[n·k+j] · table[idx[n·k+j]] (k = 1 and no weights: plain row gather). table is [R, D]. */
  gatherRows(table: Tensor, idx: Tensor, k?: number, weights?: Tensor): Tensor;
  /** Elementwise a + b (same element count). */
  add(a: Tensor, b: Tensor): Tensor;
  /** y = w ⊙ x / sqrt(mean(x²) + eps), per row of length w.size. x may hold several heads per row: [T, n·D]. */
  rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor;
  /** y = (x − mean) / sqrt(var + eps) ⊙ w + b, per row (biased variance). */
  layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor;
  /** [M, 2I] -> [M, I]: silu(x[:, :I]) ⊙ x[:, I:]. */
  swiglu(x: Tensor): Tensor;
  /** GELU, exact (erf) or tanh-approximate. */
  gelu(x: Tensor, approximate: 'tanh' | 'none'): Tensor;
  /**
   * Rotate-half RoPE over x [T, n·hd] with per-row tables cos/sin [T, hd]:
   * y[d] = x[d]·cos[d] − x[d+hd/2]·sin[d];  y[d+hd/2] = x[d+hd/2]·cos[d+hd/2] + x[d]·sin[d+hd/2]  (d < hd/2).
   */
  rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor;
  /** Softmax attention; q [T, nh·hd], k/v [≥kvLen, nkv·hd] → [T, nh·hd]. GQA: kv head g serves q heads g·nh/nkv… */
  attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor;
  /** In place: dst[row0 + i] = src[i]. */
  writeRows(dst: Tensor, row0: number, src: Tensor): void;
  /** Copy of rows [start, start + n). */
  sliceRows(x: Tensor, start: number, n: number): Tensor;
  /** In place: dst[rows[i]] = src[i] (or += when accumulate). rows is i32 and holds distinct row ids. */
  scatterRows(dst: Tensor, rows: Tensor, src: Tensor, accumulate: boolean): void;
  /** Router: softmax over each row of logits [T, E], top-k (ties: lower id first), weights renormalised to sum 1. */
  routerTopk(logits: Tensor, k: number): { ids: Tensor; weights: Tensor };
  /**
   * Sparse MoE: out[t] = Σ_j weights[t,j] · down[e] · swiglu(gateUp[e] · x[t]) with e = ids[t,j];
   * gateUp [E, 2I, H] (gate rows first), down [E, H, I]. Only routed experts are read.
   */
  moe(x: Tensor, ids: Tensor, weights: Tensor, gateUp: Tensor, down: Tensor): Tensor;
  /** Index of the largest value of each row (first on ties), i32 [M]. */
  argmax(x: Tensor): Tensor;

  // Paged KV cache (the serving scheduler's batches). A backend without them gets the compositions of
  // `backend/paged.ts` over f32 pools.

  /** A zero-filled KV pool [slots, width] in `dtype` (q8_0: width a multiple of 32). */
  kvAlloc?(slots: number, width: number, dtype: KvDType): Tensor;
  /** In place: pool[slots[i]] = src[i], rounded to the pool's format (f16: nearest even; q8_0: as tensor/quant.ts). */
  kvWrite?(pool: Tensor, slots: Int32Array, src: Tensor): void;
  /**
   * Causal GQA attention of a ragged batch, q [N, nh·hd] against keys/values in the pools → [N, nh·hd]. Never builds
   * [T, T]. Each row's result depends only on its own sequence (never on the rest of the batch).
   */
  pagedAttention?(q: Tensor, kPool: Tensor, vPool: Tensor, batch: PagedBatch, opts: PagedAttentionOptions): Tensor;

  // Optional fused ops: a backend that launches kernels per op implements them to cut launches in decoding.
  // Their meaning is the composition in `backend/fused.ts`, which runs when a backend lacks them.

  /** y = [residual +] act(w · f(x) (+ bias)); f = RMSNorm, SwiGLU of a [M, 2K] x, or identity; act GELU or none. */
  linearEx?(x: Tensor, w: Tensor, opts: LinearExOptions): Tensor;
  /**
   * Attention prologue from fused rows qkv [T, (nh + 2·nkv)·hd]: returns q = RoPE(RMSNorm(q, qNorm)) [T, nh·hd];
   * writes RoPE(RMSNorm(k, kNorm)) and v into kCache / vCache rows [row0, row0 + T).
   */
  qkvPost?(qkv: Tensor, qNorm: Tensor, kNorm: Tensor, cos: Tensor, sin: Tensor, eps: number, kCache: Tensor, vCache: Tensor, row0: number, heads: QkvHeads): Tensor;

  // Optional services: a backend is complete without them; callers check for them and fall back.

  /**
   * Upload 16/32-bit float data (`src` says which; bf16/f16 as bits), converting to `dtype` natively, off the JS
   * thread; q8_0/q4_0 output is bit-identical to tensor/quant.ts `quantize()`, and needs rows of whole 32-value
   * blocks. The data is copied at once. The weight loader uses it when present (cpu: quantize while loading).
   */
  uploadConvert?(data: Float32Array | Uint16Array, src: FloatDType, shape: readonly number[], dtype: DType): Tensor;
  /**
   * Optional (webgpu): upload bytes in the checkpoint's layout (bf16/f16/f32, or q8_0/q4_0 blocks) chunk by chunk as
   * they are read, so JS memory never holds the whole tensor. Each chunk is consumed before the next is asked for.
   */
  uploadChunks?(shape: readonly number[], dtype: DType, chunks: AsyncIterable<Uint8Array>): Promise<Tensor>;
  /** The tensor's bytes as stored (any dtype, e.g. quantized blocks), after all recorded work. */
  readRaw?(t: Tensor): Promise<Uint8Array>;
  /**
   * A weight [N, K] laid out once for many-row products (cpu: the GEMM's panels; no per-call transposition), to use
   * in place of `w` as the weight of `linear`/`linearEx` only: it cannot be read or gathered. Returns `w` itself
   * where packing does not apply; `w` stays valid either way. The loader packs the vision tower's linear weights.
   */
  packWeight?(w: Tensor): Tensor;
  /** Best-of-`reps` read bandwidth (GB/s) of a plain pass over `bytes` of host memory: the benches' roofline. */
  measureReadBandwidth?(bytes?: number, reps?: number): number;
  /** Bytes held by this backend's tensors now, and the high-water mark. */
  memoryStats?(): { liveBytes: number; peakBytes: number };
  /** Submit recorded work now without waiting (backends that batch launches into command buffers). */
  flush?(): void;
}

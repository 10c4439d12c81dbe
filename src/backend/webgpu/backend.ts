// The WebGPU backend: tensors live in GPU buffers, every op records a dispatch into the runtime's open command
// encoder and returns at once; `read` and `sync` submit and wait. The same code runs on Dawn (Node) and browsers.

import type { AttentionOptions, Backend, Capabilities, HostData, KvDType, LinearExOptions, PagedAttentionOptions, PagedBatch, QkvHeads } from '../backend.js';
import { type DType, isQuant, widen } from '../../tensor/dtype.js';
import { Tensor } from '../../tensor/tensor.js';
import type { Ctx, Store } from './ctx.js';
import { type Acquired } from './device.js';
import { type GpuBuf, type Program, Runtime, f32bits } from './runtime.js';
import { f32ToF16 } from '../../tensor/dtype.js';
import { chunkWriter, gpuLayout, packForGpu } from './upload.js';
import { wg256 } from './ctx.js';
import { linear } from './ops/linear.js';
import { gatherRows } from './ops/gatherRows.js';
import { add } from './ops/add.js';
import { rmsNorm } from './ops/rmsNorm.js';
import { layerNorm } from './ops/layerNorm.js';
import { swiglu } from './ops/swiglu.js';
import { gelu } from './ops/gelu.js';
import { rope } from './ops/rope.js';
import { attention } from './ops/attention.js';
import { pagedAttention } from './ops/pagedAttention.js';
import { kvAlloc, kvWrite } from './ops/kvCache.js';
import { scatterRows, sliceRows, writeRows } from './ops/rows.js';
import { routerTopk } from './ops/routerTopk.js';
import { moe } from './ops/moe.js';
import { argmax } from './ops/argmax.js';
import { linearEx, qkvPost } from './ops/fused.js';

/** Uploads at least this large get their own buffer (weights); smaller ones come from the pool. */
const DEDICATED_BYTES = 1 << 20;
/** i32 uploads up to this many values keep a host copy for index validation. */
const HOST_INDEX_COPY = 1 << 16;

export class WebGpuBackend implements Backend, Ctx {
  readonly name = 'webgpu';
  readonly rt: Runtime;
  readonly dummy: GpuBuf;
  private temps: GpuBuf[] = [];

  constructor(acq: Acquired, wgsl: Readonly<Record<string, string>>) {
    this.rt = new Runtime(acq, wgsl);
    this.dummy = this.rt.create(256, false);
  }

  capabilities(): Capabilities {
    return { weightDTypes: ['f32', 'bf16', 'f16', 'q8_0', 'q4_0'], info: { kind: 'webgpu', ...this.rt.info } };
  }

  // ---- Ctx ----

  store(t: Tensor): Store {
    if (t.owner !== this) throw new Error(`webgpu: tensor [${t.shape}] belongs to backend '${t.owner.name}'`);
    return t.storage as Store;
  }

  make(shape: readonly number[], dtype: 'f32' | 'i32' = 'f32'): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const st: Store = { gb: this.rt.acquire(n * 4), qoff: 0 };
    return new Tensor(this, shape, dtype, st);
  }

  act(t: Tensor, op: string): GpuBuf {
    if (t.dtype !== 'f32') throw new Error(`webgpu.${op}: expected an f32 activation, got ${t.dtype} [${t.shape}]`);
    return this.store(t).gb;
  }

  vec(t: Tensor, op: string): GpuBuf {
    if (t.dtype === 'f32') return this.store(t).gb;
    if (t.dtype === 'i32') throw new Error(`webgpu.${op}: expected float values, got i32 [${t.shape}]`);
    const out = this.scratch(t.size * 4);
    this.widenInto(t, out);
    return out;
  }

  scratch(bytes: number): GpuBuf {
    const b = this.rt.acquire(bytes);
    this.temps.push(b);
    return b;
  }

  scratchFrom(data: ArrayBufferView): GpuBuf {
    const b = this.rt.acquire(data.byteLength, true);
    this.rt.write(b, data);
    this.temps.push(b);
    return b;
  }

  run(p: Program, bufs: readonly GpuBuf[], params: readonly number[], grid: number | readonly [number, number, number?]): void {
    this.rt.dispatch(p, bufs, params, grid);
  }

  done(): void {
    for (const b of this.temps) this.rt.release(b);
    this.temps = [];
  }

  private widenInto(t: Tensor, out: GpuBuf): void {
    const s = this.store(t);
    const k = t.cols;
    this.run({ shader: 'widen', fmt: t.dtype, bindings: ['r', 'w'] }, [s.gb, out], [t.size, k, s.qoff], wg256(t.size));
  }

  // ---- memory ----

  upload(data: HostData, shape: readonly number[], dtype: DType): Tensor {
    const p = packForGpu(data, shape, dtype);
    const bytes = p.bytes.byteLength;
    if (bytes > this.rt.maxBinding) {
      throw new Error(`webgpu.upload: [${shape}] ${dtype} takes ${bytes} bytes, over this device's maxStorageBufferBindingSize (${this.rt.maxBinding})`);
    }
    const gb = bytes >= DEDICATED_BYTES ? this.rt.create(bytes, false) : this.rt.acquire(bytes, true);
    this.rt.write(gb, p.bytes);
    const host = dtype === 'i32' && data.length <= HOST_INDEX_COPY ? Int32Array.from(data as Int32Array) : undefined;
    if (dtype === 'bf16' && this.rt.fast) return this.toF16(new Tensor(this, shape, dtype, { gb, qoff: p.qoff } satisfies Store));
    return new Tensor(this, shape, dtype, { gb, qoff: p.qoff, host } satisfies Store);
  }

  /** Upload from chunks of checkpoint-layout bytes (see chunkWriter): the whole tensor is never in JS memory. */
  async uploadChunks(shape: readonly number[], dtype: DType, chunks: AsyncIterable<Uint8Array>): Promise<Tensor> {
    const { bytes, qoff } = gpuLayout(shape, dtype);
    if (bytes > this.rt.maxBinding) {
      throw new Error(`webgpu.upload: [${shape}] ${dtype} takes ${bytes} bytes, over this device's maxStorageBufferBindingSize (${this.rt.maxBinding})`);
    }
    const gb = bytes >= DEDICATED_BYTES ? this.rt.create(bytes, false) : this.rt.acquire(bytes, true);
    try {
      const w = chunkWriter(shape, dtype, (data, off) => this.rt.write(gb, data, off));
      for await (const c of chunks) w.push(c);
      w.end();
    } catch (e) {
      this.rt.release(gb);
      throw e;
    }
    const t = new Tensor(this, shape, dtype, { gb, qoff } satisfies Store);
    // Precision 'fast' keeps bf16 weights as f16, as upload() does.
    return dtype === 'bf16' && this.rt.fast ? this.toF16(t) : t;
  }

  zeros(shape: readonly number[]): Tensor {
    const out = this.make(shape);
    this.fill(this.store(out).gb, out.size, 0);
    return out;
  }

  private fill(gb: GpuBuf, n: number, bits: number): void {
    this.run({ shader: 'fill', bindings: ['w'] }, [gb], [n, bits], wg256(n));
  }

  /** Random weights made on the GPU (benchmarks): uniform in [offset − scale, offset + scale), f32 or bf16. */
  random(shape: readonly number[], dtype: 'f32' | 'bf16', seed: number, scale: number, offset = 0): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = dtype === 'f32' ? n * 4 : Math.ceil(n / 2) * 4;
    if (bytes > this.rt.maxBinding) throw new Error(`webgpu.random: [${shape}] ${dtype} exceeds maxStorageBufferBindingSize`);
    const gb = this.rt.create(bytes, false);
    const words = dtype === 'f32' ? n : Math.ceil(n / 2);
    this.run({ shader: 'random', bindings: ['w'], consts: { BF16: dtype === 'bf16' } }, [gb], [words, seed, f32bits(scale), f32bits(offset)], wg256(words));
    const t = new Tensor(this, shape, dtype, { gb, qoff: 0 } satisfies Store);
    return dtype === 'bf16' && this.rt.fast ? this.toF16(t) : t;
  }

  /**
   * Random quantized weights (benchmarks of the 4-bit MoE models): random quant words, and every block scale set
   * to `scale` (an f16), so values stay finite and of the size the real weights have.
   */
  randomQuant(shape: readonly number[], dtype: 'q4_0' | 'q8_0', seed: number, scale: number): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n % 32) throw new Error(`webgpu.randomQuant: [${shape}] is not whole 32-value blocks`);
    const blocks = n / 32;
    const qoff = Math.ceil(Math.ceil(blocks / 2) / 4) * 4;
    const words = qoff + blocks * (dtype === 'q4_0' ? 4 : 8);
    if (words * 4 > this.rt.maxBinding) throw new Error(`webgpu.randomQuant: [${shape}] ${dtype} exceeds maxStorageBufferBindingSize`);
    const gb = this.rt.create(words * 4, false);
    this.run({ shader: 'random', bindings: ['w'], consts: { BF16: false } }, [gb], [words, seed, f32bits(1), f32bits(0)], wg256(words));
    const h = f32ToF16(scale);
    this.fill(gb, qoff, (h | (h << 16)) >>> 0);
    return new Tensor(this, shape, dtype, { gb, qoff } satisfies Store);
  }

  /** Precision 'fast': a bf16 tensor's words rewritten as f16 in place (bf16_f16.wgsl). */
  private toF16(t: Tensor): Tensor {
    const s = this.store(t);
    const words = Math.ceil(t.size / 2);
    this.run({ shader: 'bf16_f16', bindings: ['w'] }, [s.gb], [words], wg256(words));
    return new Tensor(this, t.shape, 'f16', { gb: s.gb, qoff: 0 } satisfies Store);
  }

  /** Rows of same-format tensors [n_i, K] stacked into one [Σ n_i, K] (e.g. q|k|v projections fused at load). */
  concatRows(parts: readonly Tensor[]): Tensor {
    const d = parts[0].dtype;
    const k = parts[0].cols;
    if (isQuant(d) || d === 'i32') throw new Error(`webgpu.concatRows: ${d} tensors are not supported`);
    const el = d === 'f32' ? 4 : 2;
    for (const p of parts) {
      if (p.dtype !== d || p.cols !== k || (p.size * el) % 4) throw new Error(`webgpu.concatRows: [${p.shape}] ${p.dtype} does not stack with [${parts[0].shape}] ${d}`);
    }
    const rows = parts.reduce((a, p) => a + p.rows, 0);
    const gb = this.rt.create(rows * k * el, false);
    let off = 0;
    for (const p of parts) {
      this.rt.copy(this.store(p).gb, 0, gb, off, p.size * el);
      off += p.size * el;
    }
    return new Tensor(this, [rows, k], d, { gb, qoff: 0 } satisfies Store);
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    if (isQuant(t.dtype)) throw new Error('webgpu: reading a quantized tensor is not supported; dequantize on the host');
    const s = this.store(t);
    if (t.dtype === 'bf16' || t.dtype === 'f16') {
      const raw = await this.rt.readBytes(s.gb, t.size * 2);
      return widen(new Uint16Array(raw), t.dtype);
    }
    const raw = await this.rt.readBytes(s.gb, t.size * 4);
    return t.dtype === 'i32' ? new Int32Array(raw) : new Float32Array(raw);
  }

  free(storage: unknown): void {
    this.rt.release((storage as Store).gb);
  }

  sync(): Promise<void> {
    return this.rt.sync();
  }

  /** Submit what is recorded without waiting (lets the GPU start while the host records more). */
  flush(): void {
    this.rt.flush();
  }

  destroy(): void {
    this.rt.destroy();
  }

  // ---- ops ----

  linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
    return linear(this, x, w, bias);
  }
  gatherRows(table: Tensor, idx: Tensor, k = 1, weights?: Tensor): Tensor {
    return gatherRows(this, table, idx, k, weights);
  }
  add(a: Tensor, b: Tensor): Tensor {
    return add(this, a, b);
  }
  rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
    return rmsNorm(this, x, w, eps);
  }
  layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
    return layerNorm(this, x, w, b, eps);
  }
  swiglu(x: Tensor): Tensor {
    return swiglu(this, x);
  }
  gelu(x: Tensor, approximate: 'tanh' | 'none'): Tensor {
    return gelu(this, x, approximate);
  }
  rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    return rope(this, x, cos, sin);
  }
  attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
    return attention(this, q, k, v, opts);
  }
  kvAlloc(slots: number, width: number, dtype: KvDType): Tensor {
    return kvAlloc(this, this, slots, width, dtype);
  }
  kvWrite(pool: Tensor, slots: Int32Array, src: Tensor): void {
    kvWrite(this, pool, slots, src);
  }
  pagedAttention(q: Tensor, kPool: Tensor, vPool: Tensor, batch: PagedBatch, opts: PagedAttentionOptions): Tensor {
    return pagedAttention(this, q, kPool, vPool, batch, opts);
  }
  writeRows(dst: Tensor, row0: number, src: Tensor): void {
    writeRows(this, dst, row0, src);
  }
  sliceRows(x: Tensor, start: number, n: number): Tensor {
    return sliceRows(this, x, start, n);
  }
  scatterRows(dst: Tensor, rows: Tensor, src: Tensor, accumulate: boolean): void {
    scatterRows(this, dst, rows, src, accumulate);
  }
  routerTopk(logits: Tensor, k: number): { ids: Tensor; weights: Tensor } {
    return routerTopk(this, logits, k);
  }
  moe(x: Tensor, ids: Tensor, weights: Tensor, gateUp: Tensor, down: Tensor): Tensor {
    return moe(this, x, ids, weights, gateUp, down);
  }
  argmax(x: Tensor): Tensor {
    return argmax(this, x);
  }

  // ---- the contract's optional fused ops ----

  /** y = [residual +] w · f(x) (+ bias) with f = RMSNorm (opts.norm), SwiGLU of a [M, 2K] x (opts.swiglu) or identity. */
  linearEx(x: Tensor, w: Tensor, opts: LinearExOptions): Tensor {
    return linearEx(this, x, w, opts);
  }
  /** Attention prologue from fused qkv rows: returns normed, rotated q; writes normed, rotated k and v into the caches. */
  qkvPost(qkv: Tensor, qNorm: Tensor, kNorm: Tensor, cos: Tensor, sin: Tensor, eps: number, kCache: Tensor, vCache: Tensor, row0: number, heads: QkvHeads): Tensor {
    return qkvPost(this, qkv, qNorm, kNorm, cos, sin, eps, kCache, vCache, row0, heads);
  }
}

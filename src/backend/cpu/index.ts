// The native CPU backend: shapes and dtypes are checked here, then each op is recorded on the addon's queue and its
// output handle returned at once; `read` resolves when the queue reaches it. Weights stay in their format (f32, bf16,
// q8_0, q4_0) and kernels run on the widest ISA the CPU has (QWEN3VL_CPU_ISA=avx512|avx2|scalar forces one).

import type { AttentionOptions, Backend, Capabilities, HostData, KvDType, LinearExOptions, PagedAttentionOptions, PagedBatch, QkvHeads } from '../backend.js';
import { checkPagedBatch, checkSlots } from '../paged.js';
import { type DType, DTYPE_CODE, type FloatDType, byteSize, isQuant, QBLOCK } from '../../tensor/dtype.js';
import { Tensor } from '../../tensor/tensor.js';
import { type DtCode, type EngineOptions, type Handle, type NativeEngine, loadAddon } from './native.js';

const CODE: Record<DType, DtCode> = DTYPE_CODE;
const WEIGHT_TYPES: readonly DType[] = ['f32', 'bf16', 'q8_0', 'q4_0'];

/** What a cpu tensor's storage is: a native buffer and its byte size. */
export class CpuStorage {
  constructor(
    readonly h: Handle,
    readonly bytes: number,
    /** Laid out in GEMM panels by `packWeight`: a linear weight only. */
    readonly packed = false,
  ) {}
}

/** The flag a packed weight's dtype code carries across to the addon, and its panel height (native/common.h). */
const DT_PACKED = 64;
const PANEL_ROWS = 32;

export type CpuBackendOptions = EngineOptions;

/** Source formats `uploadConvert` accepts. */
export type ConvertSource = FloatDType;

let fastWarned = false;

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private readonly e: NativeEngine;
  private destroyed = false;

  /** Throws (with the reason) when the addon is unavailable; `createBackend('cpu')` turns that into a fallback. */
  constructor(opts: CpuBackendOptions = {}) {
    const addon = loadAddon();
    if (addon instanceof Error) throw addon;
    const env = process.env;
    const threads = opts.threads ?? (env.QWEN3VL_CPU_THREADS ? Number(env.QWEN3VL_CPU_THREADS) : undefined);
    const actQuant = opts.actQuant ?? env.QWEN3VL_CPU_ACTQ !== '0';
    const precision = opts.precision ?? (env.QWEN3VL_CPU_PRECISION === 'fast' ? 'fast' : 'exact');
    if (precision !== 'exact' && precision !== 'fast') throw new Error(`cpu: precision must be 'exact' or 'fast', got '${String(precision)}'`);
    this.e = new addon.CpuEngine({ threads, isa: opts.isa ?? env.QWEN3VL_CPU_ISA ?? '', actQuant, precision });
    // Said once, not an error (the same code must run on every CPU), as the WebGPU backend does without tensor cores.
    if (precision === 'fast' && !this.e.info().bf16Products && !fastWarned) {
      fastWarned = true;
      console.warn("qwen3-vl: cpu precision 'fast' needs AMX-BF16 or AVX512-BF16 (and the AVX-512 kernels), which this CPU or ISA choice does not offer; running 'exact'");
    }
  }

  capabilities(): Capabilities {
    const i = this.e.info();
    return {
      weightDTypes: WEIGHT_TYPES,
      info: { kind: 'native CPU', isa: i.isa, isaChoice: i.isaChoice, cpuFeatures: i.cpuFeatures, threads: i.threads, actQuant: i.actQuant, precision: i.precision, bf16Products: i.bf16Products },
    };
  }

  /** Native memory now held by tensors and the high-water mark (bytes). */
  memoryStats(): { liveBytes: number; peakBytes: number } {
    return this.e.stats();
  }

  /** Best-of-`reps` read bandwidth (GB/s) of a plain multi-threaded pass over `bytes` (waits for queued work). */
  measureReadBandwidth(bytes = 1 << 30, reps = 5): number {
    return this.e.readBandwidth(bytes, reps);
  }

  /** Best-of-`reps` FP32 FMA roof (GFLOP/s) of the selected ISA on every pool thread (waits for queued work). */
  measureFmaPeak(iters = 20_000_000, reps = 5): number {
    return this.e.fmaPeak(iters, reps);
  }

  /**
   * Best-of-`reps` roof (GOP/s, 2 ops per 8-bit product) of the int8 GEMM's instruction sequence for `weights` on
   * every pool thread: VNNI dpbusd, or AVX2's i16 madd (q8_0) or maddubs (q4_0) sequence; 0 without an int8 GEMM.
   */
  measureInt8Peak(weights: 'q8_0' | 'q4_0', iters = 20_000_000, reps = 5): number {
    return this.e.fmaPeak(iters, reps, weights === 'q8_0' ? 1 : 2);
  }

  private make(shape: readonly number[], h: Handle, bytes: number, dtype: DType = 'f32'): Tensor {
    return new Tensor(this, shape, dtype, new CpuStorage(h, bytes));
  }

  private st(t: Tensor): CpuStorage {
    if (t.owner !== this) throw new Error(`cpu: tensor #${t.id} [${t.shape}] belongs to backend '${t.owner.name}'`);
    return t.storage as CpuStorage;
  }

  private f32(t: Tensor, op: string, what: string): Handle {
    if (t.dtype !== 'f32') throw new Error(`cpu.${op}: ${what} [${t.shape}] is ${t.dtype}; this op takes f32`);
    return this.st(t).h;
  }

  private i32(t: Tensor, op: string, what: string): Handle {
    if (t.dtype !== 'i32') throw new Error(`cpu.${op}: ${what} [${t.shape}] is ${t.dtype}; expected i32`);
    return this.st(t).h;
  }

  private weight(t: Tensor, op: string): Handle {
    if (!WEIGHT_TYPES.includes(t.dtype)) throw new Error(`cpu.${op}: weight [${t.shape}] has format ${t.dtype}; supported: ${WEIGHT_TYPES.join(', ')}`);
    if (this.st(t).packed) throw new Error(`cpu.${op}: weight [${t.shape}] is packed for linear (packWeight) and serves only as a linear weight`);
    return this.st(t).h;
  }

  /** A linear weight's handle and dtype code (packed panels flagged). */
  private linearWeight(t: Tensor, op: string): [Handle, DtCode] {
    const s = this.st(t);
    if (!s.packed) return [this.weight(t, op), CODE[t.dtype]];
    return [s.h, (CODE[t.dtype] | DT_PACKED) as DtCode];
  }

  /**
   * The f32/bf16 weight [N, K] repacked once into the GEMM's panels (32 rows, k-major; bf16 stays bf16 so memory
   * does not grow): no gather, decode or transposition per call. Valid only as the weight of `linear`/`linearEx`,
   * which then always take the GEMM (the vision tower's weights, never decoded row by row). Other formats: `w` itself.
   */
  packWeight(w: Tensor): Tensor {
    if ((w.dtype !== 'f32' && w.dtype !== 'bf16') || w.shape.length !== 2 || this.st(w).packed) return w;
    const h = this.e.packWeight(this.weight(w, 'packWeight'), CODE[w.dtype], w.rows, w.cols);
    const k = w.dtype === 'bf16' ? Math.ceil(w.cols / 2) * 2 : w.cols;
    return new Tensor(this, w.shape, w.dtype, new CpuStorage(h, Math.ceil(w.rows / PANEL_ROWS) * PANEL_ROWS * k * (w.dtype === 'bf16' ? 2 : 4), true));
  }

  private out(shape: readonly number[], h: Handle, dtype: DType = 'f32'): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.make(shape, h, n * 4, dtype);
  }

  upload(data: HostData, shape: readonly number[], dtype: DType): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const cols = shape[shape.length - 1] ?? 1;
    const expect = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`cpu.upload: ${what} for ${dtype} [${shape}]`);
    };
    switch (dtype) {
      case 'f32':
        expect(data instanceof Float32Array && data.length === n, `${data.constructor.name}(${data.length}) given`);
        break;
      case 'i32':
        expect(data instanceof Int32Array && data.length === n, `${data.constructor.name}(${data.length}) given`);
        break;
      case 'bf16':
        expect(data instanceof Uint16Array && data.length === n, `${data.constructor.name}(${data.length}) given`);
        break;
      case 'f16':
        // Kernels take f16 weights widened (rare in checkpoints; f32 keeps them exact).
        expect(data instanceof Uint16Array && data.length === n, `${data.constructor.name}(${data.length}) given`);
        return this.uploadConvert(data as Uint16Array, 'f16', shape, 'f32');
      case 'q8_0':
      case 'q4_0':
        expect(cols % QBLOCK === 0, `rows of ${cols} values are not whole ${QBLOCK}-value blocks`);
        expect(data instanceof Uint8Array && data.length === byteSize(dtype, n), `${data.length} bytes given, ${byteSize(dtype, n)} needed`);
        break;
    }
    return this.make(shape, this.e.upload(data), byteSize(dtype, n), dtype);
  }

  /**
   * Upload f32/bf16/f16 data converting natively (in parallel, off the JS thread) to `dtype` (f32, bf16, q8_0, q4_0):
   * the quantize-while-loading path. The source is copied at once, so the caller may reuse it; quantized output is
   * bit-identical to `quantize()` in src/tensor/quant.ts.
   */
  uploadConvert(data: Float32Array | Uint16Array, src: ConvertSource, shape: readonly number[], dtype: DType): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const cols = shape[shape.length - 1] ?? 1;
    if (data.length !== n) throw new Error(`cpu.uploadConvert: ${data.length} values for shape [${shape}]`);
    if ((src === 'f32') !== data instanceof Float32Array) throw new Error(`cpu.uploadConvert: ${src} source given as ${data.constructor.name}`);
    if (dtype === 'f16' || dtype === 'i32') throw new Error(`cpu.uploadConvert: cannot convert to ${dtype}`);
    if (isQuant(dtype) && cols % QBLOCK) throw new Error(`cpu.uploadConvert: cannot quantize rows of ${cols} values to ${dtype}: need a multiple of ${QBLOCK}`);
    const h = this.e.convert(data, CODE[src], n / cols, cols, CODE[dtype]);
    return this.make(shape, h, byteSize(dtype, n), dtype);
  }

  zeros(shape: readonly number[]): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.make(shape, this.e.alloc(n * 4, true), n * 4);
  }

  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    if (isQuant(t.dtype)) throw new Error('cpu: reading a quantized tensor is not supported; dequantize on the host');
    const s = this.st(t);
    if (s.packed) throw new Error(`cpu: tensor [${t.shape}] is packed for linear (packWeight) and cannot be read`);
    const ab = await this.e.read(s.h, 0, t.dtype === 'bf16' || t.dtype === 'f16' ? t.size * 2 : t.size * 4);
    if (t.dtype === 'i32') return new Int32Array(ab);
    if (t.dtype === 'f32') return new Float32Array(ab);
    const bits = new Uint16Array(ab);
    const out = new Float32Array(bits.length);
    new Uint32Array(out.buffer).set(Uint32Array.from(bits, (b) => b << 16));
    return out;
  }

  /** The tensor's bytes as stored (any dtype, e.g. quantized blocks), after all recorded work. */
  async readRaw(t: Tensor): Promise<Uint8Array> {
    const s = this.st(t);
    if (s.packed) throw new Error(`cpu: tensor [${t.shape}] is packed for linear (packWeight) and cannot be read`);
    return new Uint8Array(await this.e.read(s.h, 0, s.bytes));
  }

  free(storage: unknown): void {
    if (!this.destroyed && storage instanceof CpuStorage) this.e.free(storage.h);
  }

  sync(): Promise<void> {
    return this.e.sync();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.e.destroy();
  }

  linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
    const [n, k] = [w.rows, w.cols];
    if (x.cols !== k) throw new Error(`cpu.linear: x [${x.shape}] vs w [${w.shape}]`);
    if (bias && bias.size !== n) throw new Error(`cpu.linear: bias [${bias.shape}] for ${n} outputs`);
    const m = x.rows;
    const [wh, wdt] = this.linearWeight(w, 'linear');
    const h = this.e.linear(this.f32(x, 'linear', 'x'), wh, bias ? this.f32(bias, 'linear', 'bias') : null, m, n, k, wdt);
    return this.out([...x.shape.slice(0, -1), n], h);
  }

  gatherRows(table: Tensor, idx: Tensor, k = 1, weights?: Tensor): Tensor {
    const d = table.cols;
    if (!Number.isInteger(k) || k < 1 || idx.size % k) throw new Error(`cpu.gatherRows: ${idx.size} indices in groups of ${k}`);
    const n = idx.size / k;
    if (weights && weights.size !== idx.size) throw new Error(`cpu.gatherRows: ${weights.size} weights for ${idx.size} indices`);
    const h = this.e.gather(this.weight(table, 'gatherRows'), CODE[table.dtype], table.rows, d, this.i32(idx, 'gatherRows', 'idx'), n, k, weights ? this.f32(weights, 'gatherRows', 'weights') : null);
    return this.out([n, d], h);
  }

  add(a: Tensor, b: Tensor): Tensor {
    if (a.size !== b.size) throw new Error(`cpu.add: [${a.shape}] + [${b.shape}]`);
    return this.out(a.shape, this.e.add(this.f32(a, 'add', 'a'), this.f32(b, 'add', 'b'), a.size));
  }

  rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
    const d = w.size;
    if (x.size % d) throw new Error(`cpu.rmsNorm: x [${x.shape}] is not rows of ${d}`);
    return this.out(x.shape, this.e.rmsNorm(this.f32(x, 'rmsNorm', 'x'), this.f32(w, 'rmsNorm', 'weight'), x.size / d, d, eps));
  }

  layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
    const d = w.size;
    if (x.size % d || b.size !== d) throw new Error(`cpu.layerNorm: x [${x.shape}], weight [${w.shape}], bias [${b.shape}]`);
    const h = this.e.layerNorm(this.f32(x, 'layerNorm', 'x'), this.f32(w, 'layerNorm', 'weight'), this.f32(b, 'layerNorm', 'bias'), x.size / d, d, eps);
    return this.out(x.shape, h);
  }

  swiglu(x: Tensor): Tensor {
    if (x.cols % 2) throw new Error(`cpu.swiglu: x [${x.shape}] has an odd last dimension`);
    const inter = x.cols / 2;
    return this.out([...x.shape.slice(0, -1), inter], this.e.swiglu(this.f32(x, 'swiglu', 'x'), x.rows, inter));
  }

  gelu(x: Tensor, approximate: 'tanh' | 'none'): Tensor {
    return this.out(x.shape, this.e.gelu(this.f32(x, 'gelu', 'x'), x.size, approximate === 'tanh'));
  }

  rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const hd = cos.cols;
    const t = x.rows;
    if (cos.rows !== t || sin.rows !== t || sin.cols !== hd || x.cols % hd || hd % 2) {
      throw new Error(`cpu.rope: x [${x.shape}] vs cos [${cos.shape}], sin [${sin.shape}]`);
    }
    const h = this.e.rope(this.f32(x, 'rope', 'x'), this.f32(cos, 'rope', 'cos'), this.f32(sin, 'rope', 'sin'), t, x.cols, hd);
    return this.out(x.shape, h);
  }

  attention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): Tensor {
    const { nHeads: nh, nKvHeads: nkv, headDim: hd, kvLen } = o;
    const t = q.rows;
    const qStart = o.qStart ?? kvLen - t;
    const bad = (why: string) => new Error(`cpu.attention: ${why} (q [${q.shape}], k [${k.shape}], v [${v.shape}])`);
    if (nh % nkv || q.cols !== nh * hd) throw bad(`${nh} heads of ${hd} with ${nkv} kv heads`);
    if (k.cols !== nkv * hd || v.cols !== nkv * hd || k.rows < kvLen || v.rows < kvLen) throw bad(`kvLen ${kvLen}`);
    if (o.causal && (qStart < 0 || qStart + t > kvLen)) throw bad(`causal rows [${qStart}, ${qStart + t}) outside ${kvLen} keys`);
    let seg: Int32Array | null = null;
    if (o.segments) {
      const s = o.segments;
      if (o.causal || t !== kvLen || s[0] !== 0 || s[s.length - 1] !== t || s.some((x, i) => i > 0 && x < s[i - 1])) {
        throw bad(`segments [${s.slice(0, 8)}${s.length > 8 ? ', …' : ''}] must rise from 0 to T = kvLen, non-causal`);
      }
      seg = Int32Array.from(s);
    }
    const h = this.e.attention(this.f32(q, 'attention', 'q'), this.f32(k, 'attention', 'k'), this.f32(v, 'attention', 'v'), t, nh, nkv, hd, kvLen, qStart, o.scale, o.causal, seg);
    return this.out([t, nh * hd], h);
  }

  kvAlloc(slots: number, width: number, dtype: KvDType): Tensor {
    if (dtype === 'q8_0' && width % QBLOCK) throw new Error(`cpu.kvAlloc: q8_0 rows need a multiple of ${QBLOCK} values (got ${width})`);
    const bytes = byteSize(dtype, slots * width);
    return this.make([slots, width], this.e.alloc(bytes, true), bytes, dtype);
  }

  private kvPool(t: Tensor, op: string): Handle {
    if (t.dtype !== 'f32' && t.dtype !== 'f16' && t.dtype !== 'q8_0') throw new Error(`cpu.${op}: pool [${t.shape}] is ${t.dtype}; KV pools are f32, f16 or q8_0`);
    return this.st(t).h;
  }

  kvWrite(pool: Tensor, slots: Int32Array, src: Tensor): void {
    checkSlots('cpu', pool, slots, src);
    if (slots.length === 0) return;
    const idx = this.e.upload(slots);
    this.e.kvWrite(this.kvPool(pool, 'kvWrite'), CODE[pool.dtype], pool.cols, pool.rows, idx, this.f32(src, 'kvWrite', 'src'), slots.length);
    this.e.free(idx); // the queued write holds its own reference
  }

  pagedAttention(q: Tensor, kPool: Tensor, vPool: Tensor, p: PagedBatch, o: PagedAttentionOptions): Tensor {
    checkPagedBatch('cpu', q, kPool, vPool, p, o);
    if (kPool.dtype !== vPool.dtype) throw new Error(`cpu.pagedAttention: key pool ${kPool.dtype} vs value pool ${vPool.dtype}`);
    const h = this.e.pagedAttention(
      this.f32(q, 'pagedAttention', 'q'), this.kvPool(kPool, 'pagedAttention'), this.kvPool(vPool, 'pagedAttention'), CODE[kPool.dtype],
      o.nHeads, o.nKvHeads, o.headDim, o.scale, p.blockSize, byteSize(kPool.dtype, kPool.size), p.cuQ, p.kvLen, p.tblPtr, p.tbl,
    );
    return this.out([q.rows, q.cols], h);
  }

  writeRows(dst: Tensor, row0: number, src: Tensor): void {
    if (src.cols !== dst.cols || row0 < 0 || row0 + src.rows > dst.rows) throw new Error(`cpu.writeRows: [${src.shape}] at row ${row0} into [${dst.shape}]`);
    this.e.writeRows(this.f32(dst, 'writeRows', 'dst'), row0 * dst.cols * 4, this.f32(src, 'writeRows', 'src'), src.size * 4);
  }

  sliceRows(x: Tensor, start: number, n: number): Tensor {
    if (start < 0 || n < 0 || start + n > x.rows) throw new Error(`cpu.sliceRows: [${start}, ${start + n}) of [${x.shape}]`);
    const c = x.cols;
    const bytes = x.dtype === 'i32' || x.dtype === 'f32' ? 4 : 0;
    if (!bytes) throw new Error(`cpu.sliceRows: ${x.dtype} tensors are not sliceable`);
    return this.out([n, c], this.e.sliceRows(this.st(x).h, start * c * bytes, n * c * bytes), x.dtype);
  }

  scatterRows(dst: Tensor, rows: Tensor, src: Tensor, accumulate: boolean): void {
    const c = dst.cols;
    if (src.cols !== c || src.rows !== rows.size) throw new Error(`cpu.scatterRows: [${src.shape}] by ${rows.size} rows into [${dst.shape}]`);
    this.e.scatterRows(this.f32(dst, 'scatterRows', 'dst'), this.i32(rows, 'scatterRows', 'rows'), this.f32(src, 'scatterRows', 'src'), rows.size, c, dst.rows, accumulate);
  }

  routerTopk(logits: Tensor, k: number): { ids: Tensor; weights: Tensor } {
    const [e, t] = [logits.cols, logits.rows];
    if (!Number.isInteger(k) || k < 1 || k > e) throw new Error(`cpu.routerTopk: k = ${k} of ${e} experts`);
    const [ids, w] = this.e.routerTopk(this.f32(logits, 'routerTopk', 'logits'), t, e, k);
    return { ids: this.out([t, k], ids, 'i32'), weights: this.out([t, k], w) };
  }

  moe(x: Tensor, ids: Tensor, weights: Tensor, gateUp: Tensor, down: Tensor): Tensor {
    const [nE, i2, h] = gateUp.shape;
    const inter = i2 / 2;
    if (gateUp.shape.length !== 3 || x.cols !== h || down.shape[0] !== nE || down.shape[1] !== h || down.shape[2] !== inter) {
      throw new Error(`cpu.moe: x [${x.shape}], gateUp [${gateUp.shape}], down [${down.shape}]`);
    }
    const t = x.rows;
    const k = ids.cols;
    if (ids.rows !== t || weights.size !== ids.size) throw new Error(`cpu.moe: ids [${ids.shape}], weights [${weights.shape}] for ${t} tokens`);
    const out = this.e.moe(
      this.f32(x, 'moe', 'x'), this.i32(ids, 'moe', 'ids'), this.f32(weights, 'moe', 'weights'),
      this.weight(gateUp, 'moe'), this.weight(down, 'moe'), CODE[gateUp.dtype], t, h, inter, k, nE, CODE[down.dtype],
    );
    return this.out([t, h], out);
  }

  argmax(x: Tensor): Tensor {
    return this.out([x.rows], this.e.argmax(this.f32(x, 'argmax', 'x'), x.rows, x.cols), 'i32');
  }

  // Fused decoder ops (meaning: src/backend/fused.ts). Natively one queued command each instead of two to fourteen:
  // at decode the per-command cost (a queue hop, a dispatcher wake-up, a buffer) is comparable to the small ops.

  linearEx(x: Tensor, w: Tensor, o: LinearExOptions): Tensor {
    const [n, k] = [w.rows, w.cols];
    if (o.norm && o.swiglu) throw new Error('cpu.linearEx: norm and swiglu are exclusive');
    if (x.cols !== (o.swiglu ? 2 * k : k)) throw new Error(`cpu.linearEx: x [${x.shape}] vs w [${w.shape}]${o.swiglu ? ' (swiglu input)' : ''}`);
    if (o.norm && o.norm.w.size !== k) throw new Error(`cpu.linearEx: norm weight [${o.norm.w.shape}] for rows of ${k}`);
    if (o.bias && o.bias.size !== n) throw new Error(`cpu.linearEx: bias [${o.bias.shape}] for ${n} outputs`);
    const m = x.rows;
    if (o.residual && o.residual.size !== m * n) throw new Error(`cpu.linearEx: residual [${o.residual.shape}] for [${m}, ${n}]`);
    const [wh, wdt] = this.linearWeight(w, 'linearEx');
    const h = this.e.linearEx(
      this.f32(x, 'linearEx', 'x'), wh, o.bias ? this.f32(o.bias, 'linearEx', 'bias') : null,
      o.residual ? this.f32(o.residual, 'linearEx', 'residual') : null, o.norm ? this.f32(o.norm.w, 'linearEx', 'norm weight') : null,
      o.norm?.eps ?? 0, !!o.swiglu, m, n, k, wdt, o.gelu === 'tanh' ? 1 : o.gelu === 'none' ? 2 : 0,
    );
    return this.out([...x.shape.slice(0, -1), n], h);
  }

  qkvPost(qkv: Tensor, qNorm: Tensor, kNorm: Tensor, cos: Tensor, sin: Tensor, eps: number, kCache: Tensor, vCache: Tensor, row0: number, heads: QkvHeads): Tensor {
    const { nHeads: nh, nKvHeads: nkv, headDim: hd } = heads;
    const t = qkv.rows;
    const bad = (why: string) => new Error(`cpu.qkvPost: ${why} (qkv [${qkv.shape}], ${nh}+2·${nkv} heads of ${hd})`);
    if (qkv.cols !== (nh + 2 * nkv) * hd) throw bad('row width');
    if (qNorm.size !== hd || kNorm.size !== hd) throw bad(`norm weights [${qNorm.shape}], [${kNorm.shape}]`);
    if (cos.rows !== t || sin.rows !== t || cos.cols !== hd || sin.cols !== hd || hd % 2) throw bad(`cos [${cos.shape}], sin [${sin.shape}]`);
    for (const c of [kCache, vCache]) {
      if (c.cols !== nkv * hd || !Number.isInteger(row0) || row0 < 0 || row0 + t > c.rows) throw bad(`cache [${c.shape}] rows [${row0}, ${row0 + t})`);
    }
    const h = this.e.qkvPost(
      this.f32(qkv, 'qkvPost', 'qkv'), this.f32(qNorm, 'qkvPost', 'qNorm'), this.f32(kNorm, 'qkvPost', 'kNorm'),
      this.f32(cos, 'qkvPost', 'cos'), this.f32(sin, 'qkvPost', 'sin'), eps,
      this.f32(kCache, 'qkvPost', 'kCache'), this.f32(vCache, 'qkvPost', 'vCache'), row0, t, nh, nkv, hd,
    );
    return this.out([t, nh * hd], h);
  }
}

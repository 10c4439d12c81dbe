// The GPU runtime under the WebGPU backend: buffer pool, pipeline cache keyed by program, one uniform arena per
// submission, and a single command encoder (one compute pass) that every op records into until a read or sync.

/// <reference types="@webgpu/types" />

import type { Acquired } from './device.js';

/** GPUBufferUsage / GPUMapMode values, spelled out so no global needs to be installed in Node. */
export const U = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ_MODE = 1;

export interface GpuBuf {
  readonly buf: GPUBuffer;
  readonly size: number;
  readonly id: number;
  /** Pool buffers go back to the pool; others (weights) are destroyed when freed. */
  readonly pooled: boolean;
}

/** A program: a shader file, its binding kinds after the uniform ('r' read-only, 'w' read-write) and constants. */
export interface Program {
  readonly shader: string;
  readonly bindings: readonly ('r' | 'w')[];
  readonly consts?: Readonly<Record<string, number | boolean>>;
  /** Weight-format snippet (w_<fmt>.wgsl) prepended to the shader. */
  readonly fmt?: string;
}

interface Pipe {
  readonly id: number;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

interface FreeEntry {
  readonly gb: GpuBuf;
  readonly epoch: number;
}

/** Bytes per uniform struct (the largest Params any shader declares must fit). */
const PARAM_BYTES = 128;
const ARENA_SLOTS = 512;
const MAX_BIND_GROUPS = 50_000;

/** Round pool sizes so that buffers of similar size are shared: powers of two, then eighths of the next. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

export class Runtime {
  readonly device: GPUDevice;
  /** Keeps the GPU instance and adapter alive as long as the device (see Acquired.gpu). */
  private readonly keepAlive: readonly unknown[];
  readonly info: Record<string, string | number | boolean>;
  readonly features: ReadonlySet<string>;
  readonly maxWorkgroupStorage: number;
  readonly maxInvocations: number;
  readonly maxBinding: number;
  private readonly slot: number;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly free = new Map<number, FreeEntry[]>();
  private readonly staging = new Map<number, GPUBuffer[]>();
  private readonly pipes = new Map<string, Pipe>();
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly arenas: { buf: GPUBuffer; cpu: ArrayBuffer }[] = [];
  private used = 0; // uniform slots used in the open submission
  private deferred: GPUBuffer[] = [];
  private nextId = 1;
  /** Submissions so far; a freed pool buffer may take queue writes once its epoch is over. */
  epoch = 0;
  /** Dispatches recorded since creation (for bench reports). */
  dispatches = 0;
  /** Host-side cost counters (ms) for bench reports: recording dispatches, submitting, bind groups made. */
  readonly stats = { recordMs: 0, submitMs: 0, bindGroups: 0, submits: 0 };
  /** Tiled matmul: fit the tile height to M (128, 96 or 64 rows of 8×8 per thread) instead of 128/64 by grid size. */
  matmulFit = true;
  /** Head dims up to which many-row attention takes attn_rows.wgsl (a row's q and output fit in registers). */
  attnRowsMaxHd = 80;
  /** Large matmuls run on f16 subgroup matrices (opt-in, see WebGpuOptions.subgroupMatrix). */
  subgroupMatrix = false;
  /** Precision 'fast' (WebGpuOptions.precision): f16 weights, many-row matmuls and attention on f16 tensor cores. */
  fast = false;
  /** Fast matmul tiling: subgroups (m × n) per workgroup and 16×16 results (m × n) per subgroup (bench sweeps these). */
  fastTile: readonly [number, number, number, number] = [2, 2, 4, 4];
  /**
   * Fast matmul operands: loaded by each subgroup from storage (matmul_h, measured on the H200) or staged in
   * workgroup memory (matmul_hs: opt-in, not yet run on a GPU; bench/gpu sweeps both where it runs).
   */
  fastMatmul: 'direct' | 'staged' = 'direct';
  /** Fast attention K/V operands (heads ≤ 80): from storage (attn_h) or staged in workgroup memory (attn_hs, as above). */
  fastAttn: 'direct' | 'staged' = 'direct';
  /** Submit automatically after this many dispatches (0: only on read/sync), so the GPU starts while the host records. */
  flushEvery = 0;
  private sinceFlush = 0;
  private lastPipe: Pipe | null = null;
  private lastPass: GPUComputePassEncoder | null = null;
  private readonly offset = new Uint32Array(1);
  bytesAllocated = 0;
  private error: Error | null = null;
  /** Per-kernel GPU time (ms) and launch count while profiling (each dispatch then gets its own timed pass). */
  profile: Map<string, { ms: number; n: number }> | null = null;
  private prof: { qs: GPUQuerySet; names: string[] } | null = null;
  private profPending: Promise<void>[] = [];
  /** A pending GPU-time measurement of the next submission's first compute pass (timestamp-query). */
  private timing: { qs: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer; started: boolean; done(ns: number): void } | null = null;
  private destroyed = false;

  constructor(
    acq: Acquired,
    private readonly wgsl: Readonly<Record<string, string>>,
  ) {
    this.device = acq.device;
    this.keepAlive = [acq.gpu, acq.adapter];
    this.info = acq.info;
    this.features = acq.features;
    const lim = this.device.limits;
    this.maxWorkgroupStorage = lim.maxComputeWorkgroupStorageSize;
    this.maxInvocations = lim.maxComputeInvocationsPerWorkgroup;
    this.maxBinding = lim.maxStorageBufferBindingSize;
    this.slot = Math.max(PARAM_BYTES, lim.minUniformBufferOffsetAlignment);
    const onError = (ev: Event) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.error ??= new Error(`webgpu: ${e.constructor?.name ?? 'GPUError'}: ${e.message}`);
    };
    // Dawn for Node has had only the on-property at times; browsers have both.
    if (typeof this.device.addEventListener === 'function') this.device.addEventListener('uncapturederror', onError);
    else this.device.onuncapturederror = onError;
    void this.device.lost.then((l) => {
      if (!this.destroyed) this.error ??= new Error(`webgpu: device lost (${l.reason}): ${l.message}`);
    });
  }

  /** Throw the first asynchronous GPU error (validation, out of memory, device lost) with its message. */
  check(): void {
    if (this.error) throw this.error;
  }

  // ---- memory ----

  /** A buffer of at least `bytes` from the pool. `forQueueWrite`: it must not be in use by unsubmitted work. */
  acquire(bytes: number, forQueueWrite = false): GpuBuf {
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    if (list?.length) {
      if (!forQueueWrite || !this.encoder) return list.pop()!.gb;
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i].epoch < this.epoch) return list.splice(i, 1)[0].gb;
      }
    }
    return this.create(cls, true);
  }

  create(bytes: number, pooled: boolean, mapped = false): GpuBuf {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.device.limits.maxBufferSize) {
      throw new Error(`webgpu: a buffer of ${size} bytes exceeds this device's maxBufferSize (${this.device.limits.maxBufferSize})`);
    }
    const buf = this.device.createBuffer({ size, usage: U.STORAGE | U.COPY_SRC | U.COPY_DST, mappedAtCreation: mapped });
    this.bytesAllocated += size;
    return { buf, size, id: this.nextId++, pooled };
  }

  release(gb: GpuBuf): void {
    if (this.destroyed) return;
    if (!gb.pooled) {
      // Destroying now would invalidate unsubmitted commands that use it; wait for the next submit.
      this.deferred.push(gb.buf);
      this.bytesAllocated -= gb.size;
      if (!this.encoder) this.flush();
      return;
    }
    let list = this.free.get(gb.size);
    if (!list) this.free.set(gb.size, (list = []));
    list.push({ gb, epoch: this.epoch });
  }

  /** Write host data into a buffer at queue time (ordered before the open submission's commands). */
  write(gb: GpuBuf, data: ArrayBufferView, byteOffset = 0): void {
    const bytes = data.byteLength & ~3;
    if (bytes) this.device.queue.writeBuffer(gb.buf, byteOffset, data.buffer, data.byteOffset, bytes);
    const rest = data.byteLength - bytes;
    if (rest) {
      const tail = new Uint8Array(4);
      tail.set(new Uint8Array(data.buffer, data.byteOffset + bytes, rest));
      this.device.queue.writeBuffer(gb.buf, byteOffset + bytes, tail);
    }
  }

  // ---- programs ----

  private pipe(p: Program): Pipe {
    // Keyed without JSON: this runs for every dispatch.
    let key = p.shader + '|' + (p.fmt ?? '') + '|' + p.bindings.length;
    if (p.consts) for (const k in p.consts) key += '|' + k + '=' + p.consts[k];
    let pp = this.pipes.get(key);
    if (pp) return pp;
    const src = this.wgsl[p.shader];
    if (src === undefined) throw new Error(`webgpu: no shader '${p.shader}.wgsl'`);
    const fmt = p.fmt ? this.wgsl[`w_${p.fmt}`] : '';
    if (fmt === undefined) throw new Error(`webgpu: no weight-format snippet 'w_${p.fmt}.wgsl'`);
    const head = Object.entries(p.consts ?? {})
      .map(([k, v]) => (typeof v === 'boolean' ? `const ${k}: bool = ${v};` : `const ${k}: u32 = ${v}u;`))
      .join('\n');
    // Directives must precede every declaration: the shader's own `enable`/`diagnostic` lines go first.
    const directive = /^(?:enable|diagnostic)\b[^;]*;$/gm;
    const own = src.match(directive) ?? [];
    const body = own.length ? src.replace(directive, '') : src;
    const enables = (this.features.has('subgroups') && /subgroup/.test(src) ? 'enable subgroups;\n' : '') + own.map((l) => l + '\n').join('');
    const code = `${enables}${head}\n${fmt}\n${body}`;
    const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PARAM_BYTES } }];
    p.bindings.forEach((b, i) => entries.push({ binding: i + 1, visibility: 4, buffer: { type: b === 'w' ? 'storage' : 'read-only-storage' } }));
    const layout = this.device.createBindGroupLayout({ entries });
    const module = this.device.createShaderModule({ code, label: p.shader });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
      label: key,
    });
    void module.getCompilationInfo?.().then((ci) => {
      const errs = ci.messages.filter((m) => m.type === 'error');
      if (errs.length) this.error ??= new Error(`webgpu: ${p.shader}.wgsl failed to compile: ${errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
    });
    pp = { id: this.pipes.size + 1, pipeline, layout };
    this.pipes.set(key, pp);
    return pp;
  }

  /** Uniform slot for one dispatch: [arena index, byte offset]. */
  private params(words: readonly number[]): [number, number] {
    if (words.length * 4 > PARAM_BYTES) throw new Error(`webgpu: ${words.length} parameter words exceed ${PARAM_BYTES / 4}`);
    const a = Math.floor(this.used / ARENA_SLOTS);
    const off = (this.used % ARENA_SLOTS) * this.slot;
    this.used++;
    if (a === this.arenas.length) {
      const size = ARENA_SLOTS * this.slot;
      this.arenas.push({ buf: this.device.createBuffer({ size, usage: U.UNIFORM | U.COPY_DST }), cpu: new ArrayBuffer(size) });
    }
    const u = new Uint32Array(this.arenas[a].cpu, off, words.length);
    for (let i = 0; i < words.length; i++) u[i] = words[i] >>> 0;
    return [a, off];
  }

  /** Record one dispatch. `grid` is in workgroups; a 1-D count above the per-dimension limit spills into y. */
  dispatch(p: Program, bufs: readonly GpuBuf[], words: readonly number[], grid: number | readonly [number, number, number?]): void {
    if (this.destroyed) throw new Error('webgpu: backend used after destroy()');
    const t0 = performance.now();
    if (bufs.length !== p.bindings.length) throw new Error(`webgpu: ${p.shader} takes ${p.bindings.length} buffers, got ${bufs.length}`);
    const pp = this.pipe(p);
    const [a, off] = this.params(words);
    const key = `${pp.id}:${a}:${bufs.map((b) => b.id).join(',')}`;
    let bg = this.groups.get(key);
    if (!bg) {
      if (this.groups.size > MAX_BIND_GROUPS) this.groups.clear();
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.arenas[a].buf, size: PARAM_BYTES } }];
      bufs.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.buf } }));
      bg = this.device.createBindGroup({ layout: pp.layout, entries });
      this.groups.set(key, bg);
      this.stats.bindGroups++;
    }
    const [x, y, z] = typeof grid === 'number' ? split(grid, this.device.limits.maxComputeWorkgroupsPerDimension) : [grid[0], grid[1], grid[2] ?? 1];
    if (x === 0 || y === 0 || z === 0) return;
    if (this.profile) this.profiled(p.shader, pp, bg, off, x, y, z);
    else this.record(pp, bg, off, x, y, z);
    this.dispatches++;
    this.stats.recordMs += performance.now() - t0;
    if (this.flushEvery && ++this.sinceFlush >= this.flushEvery) this.flush();
  }

  private record(pp: Pipe, bg: GPUBindGroup, off: number, x: number, y: number, z: number): void {
    const pass = this.openPass();
    if (this.lastPipe !== pp || this.lastPass !== pass) pass.setPipeline(pp.pipeline);
    this.lastPipe = pp;
    this.lastPass = pass;
    this.offset[0] = off;
    pass.setBindGroup(0, bg, this.offset, 0, 1);
    pass.dispatchWorkgroups(x, y, z);
  }

  /** Profiling: the dispatch in a pass of its own, bracketed by timestamps. */
  private profiled(name: string, pp: Pipe, bg: GPUBindGroup, off: number, x: number, y: number, z: number): void {
    if (this.prof && this.prof.names.length >= 2048) this.flush();
    const enc = this.openEncoder();
    this.prof ??= { qs: this.device.createQuerySet({ type: 'timestamp', count: 4096 }), names: [] };
    const i = this.prof.names.push(name) - 1;
    const pass = enc.beginComputePass({ timestampWrites: { querySet: this.prof.qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    pass.setPipeline(pp.pipeline);
    this.offset[0] = off;
    pass.setBindGroup(0, bg, this.offset, 0, 1);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
  }

  /** Wait for profiled submissions and return the per-kernel table (ms), largest first. */
  async profileReport(): Promise<{ kernel: string; ms: number; n: number }[]> {
    await this.sync();
    await Promise.all(this.profPending);
    this.profPending = [];
    return [...(this.profile ?? new Map()).entries()].map(([kernel, v]) => ({ kernel, ms: +v.ms.toFixed(3), n: v.n })).sort((a, b) => b.ms - a.ms);
  }

  private openPass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    if (!this.pass) {
      const t = this.timing;
      if (t && !t.started) {
        t.started = true;
        this.pass = this.encoder.beginComputePass({ timestampWrites: { querySet: t.qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
      } else {
        this.pass = this.encoder.beginComputePass();
      }
    }
    return this.pass;
  }

  /**
   * GPU time (ms) of the first compute pass recorded after this call, from timestamp queries; resolves after the
   * submission that holds it completes. Null without the timestamp-query feature.
   */
  gpuTimeOfNextPass(): Promise<number> | null {
    if (!this.features.has('timestamp-query')) return null;
    this.flush();
    return new Promise((done) => {
      const qs = this.device.createQuerySet({ type: 'timestamp', count: 2 });
      const resolve = this.device.createBuffer({ size: 16, usage: U.QUERY_RESOLVE | U.COPY_SRC });
      const read = this.device.createBuffer({ size: 16, usage: U.MAP_READ | U.COPY_DST });
      this.timing = { qs, resolve, read, started: false, done };
    });
  }

  private openEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  /** Record a buffer-to-buffer copy (ends the open compute pass; for load-time work). */
  copy(src: GpuBuf, srcOffset: number, dst: GpuBuf, dstOffset: number, bytes: number): void {
    this.openEncoder().copyBufferToBuffer(src.buf, srcOffset, dst.buf, dstOffset, bytes);
  }

  /** Submit everything recorded so far as one command buffer. */
  flush(): void {
    this.sinceFlush = 0;
    if (this.encoder) {
      const t0 = performance.now();
      const enc = this.openEncoder();
      const tm = this.timing?.started ? this.timing : null;
      const pr = this.prof;
      let prRead: GPUBuffer | null = null;
      if (pr) {
        const n = pr.names.length * 2;
        const res = this.device.createBuffer({ size: n * 8, usage: U.QUERY_RESOLVE | U.COPY_SRC });
        prRead = this.device.createBuffer({ size: n * 8, usage: U.MAP_READ | U.COPY_DST });
        enc.resolveQuerySet(pr.qs, 0, n, res, 0);
        enc.copyBufferToBuffer(res, 0, prRead, 0, n * 8);
        this.deferred.push(res);
        this.prof = null;
      }
      if (tm) {
        enc.resolveQuerySet(tm.qs, 0, 2, tm.resolve, 0);
        enc.copyBufferToBuffer(tm.resolve, 0, tm.read, 0, 16);
        this.timing = null;
      }
      const slots = this.used;
      for (let a = 0; a * ARENA_SLOTS < slots; a++) {
        const n = Math.min(ARENA_SLOTS, slots - a * ARENA_SLOTS);
        this.device.queue.writeBuffer(this.arenas[a].buf, 0, this.arenas[a].cpu, 0, n * this.slot);
      }
      this.device.queue.submit([enc.finish()]);
      this.encoder = null;
      this.used = 0;
      this.epoch++;
      this.stats.submitMs += performance.now() - t0;
      this.stats.submits++;
      if (pr && prRead) {
        const rd = prRead;
        this.profPending.push(
          rd.mapAsync(MAP_READ_MODE).then(() => {
            const v = new BigUint64Array(rd.getMappedRange());
            pr.names.forEach((name, i) => {
              const e = this.profile?.get(name) ?? { ms: 0, n: 0 };
              e.ms += Number(v[2 * i + 1] - v[2 * i]) / 1e6;
              e.n++;
              this.profile?.set(name, e);
            });
            rd.unmap();
            rd.destroy();
            pr.qs.destroy();
          }),
        );
      }
      if (tm) {
        void tm.read.mapAsync(MAP_READ_MODE).then(() => {
          const v = new BigUint64Array(tm.read.getMappedRange());
          tm.done(Number(v[1] - v[0]) / 1e6);
          tm.read.unmap();
          for (const b of [tm.read, tm.resolve]) b.destroy();
          tm.qs.destroy();
        });
      }
    }
    for (const b of this.deferred) b.destroy();
    if (this.deferred.length) this.groups.clear();
    this.deferred = [];
  }

  /** Snapshot `bytes` of a buffer: copy to a staging buffer inside the open submission, submit, map. */
  async readBytes(gb: GpuBuf, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const n = Math.ceil(bytes / 4) * 4;
    const cls = sizeClass(n);
    const st = this.staging.get(cls)?.pop() ?? this.device.createBuffer({ size: cls, usage: U.MAP_READ | U.COPY_DST });
    this.openEncoder().copyBufferToBuffer(gb.buf, offset, st, 0, n);
    this.flush();
    try {
      await st.mapAsync(MAP_READ_MODE, 0, n);
    } catch (e) {
      this.check();
      throw new Error(`webgpu: reading back ${bytes} bytes failed: ${(e as Error).message}`);
    }
    const out = st.getMappedRange(0, n).slice(0, bytes);
    st.unmap();
    let list = this.staging.get(cls);
    if (!list) this.staging.set(cls, (list = []));
    list.push(st);
    this.check();
    return out;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  /** Drop pooled buffers that are not in use (e.g. after a large prefill). */
  trim(): void {
    this.flush();
    for (const list of this.free.values()) {
      for (const e of list) {
        this.deferred.push(e.gb.buf);
        this.bytesAllocated -= e.gb.size;
      }
    }
    this.free.clear();
    this.flush();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pass = null;
    this.encoder = null;
    this.groups.clear();
    this.device.destroy();
  }
}

function split(n: number, max: number): [number, number, number] {
  if (n <= max) return [n, 1, 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y, 1];
}

/** f32 bits for a uniform word. */
const cvt = new DataView(new ArrayBuffer(4));
export function f32bits(x: number): number {
  cvt.setFloat32(0, x, true);
  return cvt.getUint32(0, true);
}

// The paged KV cache: a pool of fixed-size blocks (bookkeeping: reference counts, an LRU-ordered free queue, the null
// block 0) and, per layer, the key and value pools on the backend. Sequences hold block tables (`SeqBlocks`).

import type { Backend, KvDType, PagedAttentionOptions, PagedBatch } from '../backend/backend.js';
import { kvAlloc, kvDTypes, kvWrite, pagedAttention } from '../backend/paged.js';
import { keep, type Tensor } from '../tensor/tensor.js';
import type { KvBinding, KvTarget } from './kvBinding.js';

/** Tokens per block (small, so a prefix cache loses at most 15 tokens per turn). */
export const KV_BLOCK = 16;

/** Bytes one token's keys and values take in every layer. */
export function kvBytesPerToken(layers: number, width: number, dtype: KvDType): number {
  const perValue = dtype === 'f32' ? 4 : dtype === 'f16' ? 2 : 34 / 32;
  return layers * 2 * width * perValue;
}

/**
 * Block bookkeeping. Block 0 is the null block (never handed out). A block is free when its reference count is 0; the
 * free queue is ordered least recently freed first, and `allocate` takes from its head, so a later prefix cache can
 * revive recently freed blocks (and evict the oldest) without changing this structure.
 */
export class BlockPool {
  private readonly refs: Int32Array;
  /** Free block ids: a ring in LRU order. */
  private readonly ring: Int32Array;
  private head = 0;
  private count = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number = KV_BLOCK,
  ) {
    if (!Number.isInteger(numBlocks) || numBlocks < 2) throw new RangeError(`a KV block pool needs at least 2 blocks (got ${numBlocks})`);
    this.refs = new Int32Array(numBlocks);
    this.ring = new Int32Array(numBlocks);
    for (let id = 1; id < numBlocks; id++) this.push(id);
  }

  /** Blocks that can ever be allocated (all but the null block). */
  get capacity(): number {
    return this.numBlocks - 1;
  }

  get freeBlocks(): number {
    return this.count;
  }

  get usedBlocks(): number {
    return this.capacity - this.count;
  }

  /** Blocks needed to hold `tokens` tokens. */
  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockSize);
  }

  /** `n` fresh blocks (reference count 1), or null (nothing taken) when fewer than `n` are free. */
  allocate(n: number): number[] | null {
    if (n > this.count) return null;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.ring[this.head];
      this.head = (this.head + 1) % this.numBlocks;
      this.count--;
      this.refs[id] = 1;
      out.push(id);
    }
    return out;
  }

  /** One more holder of an allocated block (prefix sharing). */
  retain(id: number): void {
    if (id <= 0 || id >= this.numBlocks || this.refs[id] < 1) throw new Error(`KV pool: retain of block ${id}, which is not allocated`);
    this.refs[id]++;
  }

  /** Drop one reference to each block, last first (so a table's tail is reused first and its head stays cached longest). */
  free(ids: readonly number[]): void {
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i];
      if (id <= 0 || id >= this.numBlocks || this.refs[id] < 1) throw new Error(`KV pool: free of block ${id}, which is not allocated`);
      if (--this.refs[id] === 0) this.push(id);
    }
  }

  refCount(id: number): number {
    return this.refs[id];
  }

  /** Throws when the invariants do not hold: refs ≥ 0, free queue = exactly the ref-0 blocks, block 0 never free. */
  check(liveTables: readonly (readonly number[])[] = []): void {
    const want = new Int32Array(this.numBlocks);
    for (const t of liveTables) for (const id of t) want[id]++;
    const inRing = new Uint8Array(this.numBlocks);
    for (let i = 0; i < this.count; i++) {
      const id = this.ring[(this.head + i) % this.numBlocks];
      if (id === 0 || inRing[id]) throw new Error(`KV pool: block ${id} is in the free queue twice or is the null block`);
      inRing[id] = 1;
    }
    for (let id = 1; id < this.numBlocks; id++) {
      if (this.refs[id] < 0) throw new Error(`KV pool: block ${id} has ${this.refs[id]} references`);
      if (!!inRing[id] !== (this.refs[id] === 0)) throw new Error(`KV pool: block ${id} (refs ${this.refs[id]}) ${inRing[id] ? 'is' : 'is not'} in the free queue`);
      if (liveTables.length && want[id] !== this.refs[id]) throw new Error(`KV pool: block ${id} has ${this.refs[id]} references but ${want[id]} table entries`);
    }
  }

  private push(id: number): void {
    this.ring[(this.head + this.count) % this.numBlocks] = id;
    this.count++;
  }
}

/** A sequence's block table and how many of its tokens have keys/values in the pool. */
export class SeqBlocks {
  readonly ids: number[] = [];
  /** Tokens whose keys and values are written. */
  computed = 0;

  constructor(private readonly pool: BlockPool) {}

  /** Grow the table to hold `tokens` tokens; false (nothing taken) when the pool is short. */
  reserve(tokens: number): boolean {
    const need = this.pool.blocksFor(tokens) - this.ids.length;
    if (need <= 0) return true;
    const got = this.pool.allocate(need);
    if (!got) return false;
    this.ids.push(...got);
    return true;
  }

  /** Slot of token index j (its block must be reserved). */
  slot(j: number): number {
    const bs = this.pool.blockSize;
    return this.ids[Math.floor(j / bs)] * bs + (j % bs);
  }

  /** Free every block (preemption, finish, cancellation); the table is empty afterwards. */
  release(): void {
    this.pool.free(this.ids);
    this.ids.length = 0;
    this.computed = 0;
  }
}

export interface KvCacheOptions {
  /** Pool size in bytes (all layers, keys and values) … */
  readonly bytes?: number;
  /** … or in tokens. Default: the context size, at most 32768 tokens. */
  readonly tokens?: number;
  /** Storage format (default: f16 where the backend has paged kernels, f32 on ref and elsewhere). */
  readonly dtype?: KvDType;
}

/** The backend side: per layer, key and value pools of `numBlocks · blockSize` slots, plus their bookkeeping. */
export class PagedKv {
  readonly pool: BlockPool;
  readonly dtype: KvDType;
  private readonly k: Tensor[] = [];
  private readonly v: Tensor[] = [];

  constructor(
    private readonly backend: Backend,
    readonly layers: number,
    readonly width: number, // nkv·hd
    opts: KvCacheOptions & { readonly defaultTokens: number },
  ) {
    const dtypes = kvDTypes(backend);
    // f16 where the backend stores it (cpu); ref defines the semantics and stays exact (f32).
    this.dtype = opts.dtype ?? (backend.name !== 'ref' && dtypes.includes('f16') ? 'f16' : 'f32');
    if (!dtypes.includes(this.dtype)) throw new RangeError(`the KV cache dtype ${this.dtype} is not supported on the ${backend.name} backend (supported: ${dtypes.join(', ')})`);
    if (this.dtype === 'q8_0' && width % 32) throw new RangeError(`a q8_0 KV cache needs rows of a multiple of 32 values (this model has ${width})`);
    const perToken = kvBytesPerToken(layers, width, this.dtype);
    if (opts.bytes !== undefined && opts.tokens !== undefined) throw new RangeError('kvCache: give bytes or tokens, not both');
    const tokens = opts.bytes !== undefined ? Math.floor(opts.bytes / perToken) : (opts.tokens ?? opts.defaultTokens);
    if (!Number.isFinite(tokens) || tokens < KV_BLOCK) throw new RangeError(`kvCache: room for ${tokens} tokens is below one block of ${KV_BLOCK} (${perToken} bytes per token)`);
    // +1: the null block.
    this.pool = new BlockPool(Math.floor(tokens / KV_BLOCK) + 1, KV_BLOCK);
  }

  /** Tokens the pool can hold. */
  get capacityTokens(): number {
    return this.pool.capacity * this.pool.blockSize;
  }

  get bytes(): number {
    return kvBytesPerToken(this.layers, this.width, this.dtype) * this.pool.numBlocks * this.pool.blockSize;
  }

  /** Layer l's pools [slots, width] (allocated on first use). */
  layer(l: number): { k: Tensor; v: Tensor } {
    if (!this.k[l]) {
      const slots = this.pool.numBlocks * this.pool.blockSize;
      this.k[l] = keep(kvAlloc(this.backend, slots, this.width, this.dtype));
      this.v[l] = keep(kvAlloc(this.backend, slots, this.width, this.dtype));
    }
    return { k: this.k[l], v: this.v[l] };
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.length = 0;
    this.v.length = 0;
  }
}

/** One forward of a ragged batch over the pool: new tokens' keys/values go to `slots`, queries attend via the tables. */
export class PagedStep implements KvBinding {
  constructor(
    private readonly b: Backend,
    private readonly kv: PagedKv,
    readonly batch: PagedBatch,
    /** Slot of each new token, in batch row order. */
    readonly slots: Int32Array,
  ) {}

  begin(T: number): void {
    if (T !== this.slots.length) throw new Error(`paged step: ${T} rows for ${this.slots.length} slots`);
  }

  target(_l: number, T: number): KvTarget {
    // Scratch rows for qkvPost (freed with the layer's tidy scope); kvWrite converts them into the pool.
    return { k: this.b.zeros([T, this.kv.width]), v: this.b.zeros([T, this.kv.width]), row0: 0 };
  }

  attend(l: number, q: Tensor, t: KvTarget, o: PagedAttentionOptions): Tensor {
    const p = this.kv.layer(l);
    kvWrite(this.b, p.k, this.slots, t.k);
    kvWrite(this.b, p.v, this.slots, t.v);
    return pagedAttention(this.b, q, p.k, p.v, this.batch, o);
  }

  end(): void {}
}

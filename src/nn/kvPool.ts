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
 * Block bookkeeping and the prefix cache's index. Block 0 is the null block (never handed out). A block is free when
 * its reference count is 0; free blocks wait in one queue that `allocate` takes from the head: blocks holding no
 * cached prefix first (they are worth nothing), then cached ones least recently freed first (LRU eviction). A full
 * block whose keys and values are written may be registered under its chain hash (prefixKeys.ts `blockKeys`); freed,
 * it keeps the hash and can be revived by a later sequence with the same prefix (`share`), until it is reallocated,
 * which drops it from the index. Only full blocks are shared and tables only grow, so nothing is ever copied.
 */
export class BlockPool {
  private readonly refs: Int32Array;
  /** The free queue: a doubly linked list through prev/next with block 0 (never free) as its sentinel. */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private count = 0;
  /** Chain hash of each block (null: none), and hash → block for the blocks whose keys and values it names. */
  private readonly hashOf: (string | null)[];
  private readonly index = new Map<string, number>();
  /** Cached blocks dropped from the index because the pool needed them for new tokens. */
  evictions = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number = KV_BLOCK,
  ) {
    if (!Number.isInteger(numBlocks) || numBlocks < 2) throw new RangeError(`a KV block pool needs at least 2 blocks (got ${numBlocks})`);
    this.refs = new Int32Array(numBlocks);
    this.prev = new Int32Array(numBlocks);
    this.next = new Int32Array(numBlocks);
    this.hashOf = new Array<string | null>(numBlocks).fill(null);
    for (let id = 1; id < numBlocks; id++) this.pushTail(id);
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

  /** Blocks holding a registered prefix (in use or free and revivable). */
  get cachedBlocks(): number {
    return this.index.size;
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
      const id = this.next[0];
      this.unlink(id);
      this.drop(id);
      this.refs[id] = 1;
      out.push(id);
    }
    return out;
  }

  /** One more holder of an allocated block. */
  retain(id: number): void {
    if (id <= 0 || id >= this.numBlocks || this.refs[id] < 1) throw new Error(`KV pool: retain of block ${id}, which is not allocated`);
    this.refs[id]++;
  }

  /** One more holder of a cached block, reviving it from the free queue when no one holds it (a prefix hit). */
  share(id: number): void {
    if (id <= 0 || id >= this.numBlocks || this.hashOf[id] === null) throw new Error(`KV pool: share of block ${id}, which holds no cached prefix`);
    if (this.refs[id]++ === 0) this.unlink(id);
  }

  /** Drop one reference to each block, last first (so a table's tail is reused first and its head stays cached longest). */
  free(ids: readonly number[]): void {
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i];
      if (id <= 0 || id >= this.numBlocks || this.refs[id] < 1) throw new Error(`KV pool: free of block ${id}, which is not allocated`);
      if (--this.refs[id] === 0) {
        // A cached block goes to the back (evicted last); an uncached one to the front (reused first).
        if (this.hashOf[id] !== null) this.pushTail(id);
        else this.pushHead(id);
      }
    }
  }

  refCount(id: number): number {
    return this.refs[id];
  }

  /**
   * Name an allocated block's keys and values by its chain hash, once they are all written. False when another block
   * already holds that hash (two sequences computed the same prefix at once): this one stays unnamed.
   */
  register(id: number, hash: string): boolean {
    if (id <= 0 || id >= this.numBlocks || this.refs[id] < 1) throw new Error(`KV pool: register of block ${id}, which is not allocated`);
    const had = this.hashOf[id];
    if (had !== null) {
      if (had !== hash) throw new Error(`KV pool: block ${id} is already registered under another hash`);
      return true;
    }
    if (this.index.has(hash)) return false;
    this.hashOf[id] = hash;
    this.index.set(hash, id);
    return true;
  }

  /** The block registered under `hash`, if any. */
  lookup(hash: string): number | undefined {
    return this.index.get(hash);
  }

  hashOfBlock(id: number): string | null {
    return this.hashOf[id];
  }

  /** Blocks of the longest cached prefix of `keys` (chain hashes of consecutive blocks from block 0). Takes nothing. */
  longestHit(keys: readonly string[]): number[] {
    const out: number[] = [];
    for (const k of keys) {
      const id = this.index.get(k);
      if (id === undefined) break;
      out.push(id);
    }
    return out;
  }

  /** Whether sharing `hit` and allocating `fresh` more blocks can succeed now (revived blocks leave the free queue). */
  canTake(hit: readonly number[], fresh: number): boolean {
    let revived = 0;
    for (const id of hit) if (this.refs[id] === 0) revived++;
    return revived + fresh <= this.count;
  }

  /**
   * Throws when the invariants do not hold: refs ≥ 0, free queue = exactly the ref-0 blocks, block 0 never free, the
   * index and the blocks' hashes agree; with `liveTables`, every block's refs equal its table entries.
   */
  check(liveTables: readonly (readonly number[])[] = []): void {
    const want = new Int32Array(this.numBlocks);
    for (const t of liveTables) for (const id of t) want[id]++;
    const inQueue = new Uint8Array(this.numBlocks);
    let n = 0;
    for (let id = this.next[0]; id !== 0; id = this.next[id]) {
      if (inQueue[id] || n > this.numBlocks) throw new Error(`KV pool: block ${id} is in the free queue twice`);
      if (this.next[this.prev[id]] !== id) throw new Error(`KV pool: the free queue's links are broken at block ${id}`);
      inQueue[id] = 1;
      n++;
    }
    if (n !== this.count) throw new Error(`KV pool: the free queue holds ${n} blocks but counts ${this.count}`);
    for (let id = 1; id < this.numBlocks; id++) {
      if (this.refs[id] < 0) throw new Error(`KV pool: block ${id} has ${this.refs[id]} references`);
      if (!!inQueue[id] !== (this.refs[id] === 0)) throw new Error(`KV pool: block ${id} (refs ${this.refs[id]}) ${inQueue[id] ? 'is' : 'is not'} in the free queue`);
      if (liveTables.length && want[id] !== this.refs[id]) throw new Error(`KV pool: block ${id} has ${this.refs[id]} references but ${want[id]} table entries`);
      const h = this.hashOf[id];
      if (h !== null && this.index.get(h) !== id) throw new Error(`KV pool: block ${id}'s hash is not indexed to it`);
    }
    for (const [h, id] of this.index) if (this.hashOf[id] !== h) throw new Error(`KV pool: the index names block ${id}, which holds another hash`);
  }

  /** Forget a block's hash (it is about to hold other tokens). */
  private drop(id: number): void {
    const h = this.hashOf[id];
    if (h === null) return;
    this.hashOf[id] = null;
    if (this.index.get(h) === id) this.index.delete(h);
    this.evictions++;
  }

  private pushTail(id: number): void {
    const last = this.prev[0];
    this.next[last] = id;
    this.prev[id] = last;
    this.next[id] = 0;
    this.prev[0] = id;
    this.count++;
  }

  private pushHead(id: number): void {
    const first = this.next[0];
    this.prev[first] = id;
    this.next[id] = first;
    this.prev[id] = 0;
    this.next[0] = id;
    this.count++;
  }

  private unlink(id: number): void {
    this.next[this.prev[id]] = this.next[id];
    this.prev[this.next[id]] = this.prev[id];
    this.count--;
  }
}

/** A sequence's block table and how many of its tokens have keys/values in the pool. */
export class SeqBlocks {
  readonly ids: number[] = [];
  /** Tokens whose keys and values are written. */
  computed = 0;
  /** Leading blocks whose chain hashes are registered (or were found cached). */
  registered = 0;

  constructor(private readonly pool: BlockPool) {}

  /** Start an empty table from cached blocks (a prefix hit): their tokens count as computed. */
  adopt(hit: readonly number[]): void {
    if (this.ids.length) throw new Error('KV pool: a cached prefix can only start an empty block table');
    for (const id of hit) this.pool.share(id);
    this.ids.push(...hit);
    this.computed = hit.length * this.pool.blockSize;
    this.registered = hit.length;
  }

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
    this.registered = 0;
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
    const plan = PagedKv.plan(backend, layers, width, opts);
    this.dtype = plan.dtype;
    // +1: the null block.
    this.pool = new BlockPool(plan.tokens / KV_BLOCK + 1, KV_BLOCK);
  }

  /** The format and size (tokens, a whole number of blocks) a pool with these options gets; nothing is allocated. */
  static plan(backend: Backend, layers: number, width: number, opts: KvCacheOptions & { readonly defaultTokens: number }): { dtype: KvDType; tokens: number } {
    const dtypes = kvDTypes(backend);
    // f16 where the backend stores it (cpu, webgpu); ref defines the semantics and stays exact (f32).
    const dtype = opts.dtype ?? (backend.name !== 'ref' && dtypes.includes('f16') ? 'f16' : 'f32');
    if (!dtypes.includes(dtype)) throw new RangeError(`the KV cache dtype ${dtype} is not supported on the ${backend.name} backend (supported: ${dtypes.join(', ')})`);
    if (dtype === 'q8_0' && width % 32) throw new RangeError(`a q8_0 KV cache needs rows of a multiple of 32 values (this model has ${width})`);
    const perToken = kvBytesPerToken(layers, width, dtype);
    if (opts.bytes !== undefined && opts.tokens !== undefined) throw new RangeError('kvCache: give bytes or tokens, not both');
    const tokens = opts.bytes !== undefined ? Math.floor(opts.bytes / perToken) : (opts.tokens ?? opts.defaultTokens);
    if (!Number.isFinite(tokens) || tokens < KV_BLOCK) throw new RangeError(`kvCache: room for ${tokens} tokens is below one block of ${KV_BLOCK} (${perToken} bytes per token)`);
    return { dtype, tokens: Math.floor(tokens / KV_BLOCK) * KV_BLOCK };
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

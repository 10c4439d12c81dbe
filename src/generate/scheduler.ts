// The continuous-batching scheduler: the one place that decides what runs next. Each step runs one batched forward
// over the decode rows of every running sequence plus, within the step's token budget, chunks of prefills; under KV
// pressure the newest sequence is preempted (blocks freed, recomputed later) and finishes with the same output.
// Admission starts a sequence from the longest prefix of full KV blocks already in the pool (prefix reuse): its tokens
// count as computed, and images inside it are never encoded.

import type { EncodedVision, PrecomputedVision } from '../models/qwen3vl/model.js';
import { AdmissionError } from '../errors.js';
import { BlockPool, SeqBlocks } from '../nn/kvPool.js';
import { argmax } from '../tensor/math.js';
import { blockKeys, type MediaItem } from './prefixKeys.js';

/** A prompt admitted to the scheduler, and how its tokens are chosen. */
export interface SeqRequest {
  /** Prompt token ids (text and visual placeholders). */
  readonly ids: Int32Array;
  /** MRoPE positions (t, h, w) of the prompt; generated token i (sequence index) sits at i + ropeDelta. */
  readonly positions: readonly [Int32Array, Int32Array, Int32Array];
  readonly ropeDelta: number;
  /** Images and videos of the prompt (for the vision tower). */
  readonly media?: MediaInputs;
  /**
   * Prefix reuse: the chain seed of the model's KV blocks (model, weights, KV format) and the prompt's images and
   * videos, whose content hashes key the blocks holding their placeholders. Absent: this sequence neither starts from
   * cached blocks nor leaves its own in the cache.
   */
  readonly prefix?: { readonly seed: string; readonly items: readonly MediaItem[] };
  /** Most tokens to generate (clipped at admission to what the context and the pool allow). */
  readonly maxTokens: number;
  /**
   * The per-sequence hook, called with this sequence's logits row after each step that completes its pending tokens
   * (logits processors, sampling, stop checks run here): the next token, or null to finish.
   */
  next(logits: Float32Array, seq: Sequence): number | null;
  /**
   * Greedy with nothing that reads the logits: called instead of `next` with the row's argmax, taken on the backend (ids
   * read back only; the next step may be recorded with it first). Returns the next token (normally `id`; a forced one
   * drops the step recorded ahead for this sequence) or null to finish.
   */
  nextArgmax?(id: number, seq: Sequence): number | null;
  /** Prefill progress (prompt tokens done, total). */
  onProgress?(done: number, total: number): void;
  /** Called once when the sequence ends (finished, cancelled, or failed with `error`). */
  onEnd?(reason: EndReason, error?: unknown): void;
}

export interface MediaInputs {
  readonly pixelValues?: Float32Array;
  readonly imageGridThw?: readonly (readonly number[])[];
  readonly pixelValuesVideos?: Float32Array;
  readonly videoGridThw?: readonly (readonly number[])[];
  /** Features computed ahead (the vision cache): used instead of the pixels. */
  readonly vision?: PrecomputedVision;
  /**
   * Per-item encoding, instead of the above: the prompt's images and videos and a way to get their features (through
   * the vision cache). The model asks only for the items a prefill still needs, not those inside a cached prefix.
   */
  readonly items?: readonly MediaItem[];
  readonly features?: (items: readonly MediaItem[]) => Promise<readonly EncodedVision[]>;
}

export type EndReason = 'stop' | 'length' | 'cancelled' | 'error';

export { AdmissionError };

/** What the scheduler needs of a model: one batched forward over the pool, and the vision tower. */
export interface BatchModel<V> {
  readonly contextLength: number;
  readonly pool: BlockPool;
  /**
   * Vision features for the request's tokens from `from` on (null: none needed); called when a prefill first runs
   * from `from`, and again only when a preempted sequence restarts before it.
   */
  encode(req: SeqRequest, from: number): V | null | Promise<V | null>;
  /** One forward; returns one logits row per chunk with `logits`, in order. */
  forward(chunks: readonly StepChunk<V>[]): Promise<Float32Array[]>;
  /**
   * Optional: a forward recorded at once, its logits rows reduced to their argmax on the backend. With `feed`, chunk k
   * is one row fed `feed`'s row-k argmax (its `ids` ignored), so it is recorded before those tokens reach the host.
   */
  forwardArgmax?(chunks: readonly StepChunk<V>[], feed?: ArgmaxStep): ArgmaxStep;
  release(visual: V): void;
}

/** A greedy step recorded on the backend: the argmax id of each row (read queued when recorded). */
export interface ArgmaxStep {
  ids(): Promise<Int32Array>;
  dispose(): void;
}

export interface StepChunk<V> {
  readonly ids: Int32Array;
  readonly start: number;
  readonly positions: readonly [Int32Array, Int32Array, Int32Array];
  readonly blocks: readonly number[];
  readonly logits: boolean;
  readonly visual: V | null;
}

export class Sequence {
  /** Prompt then generated tokens. */
  readonly tokens: number[];
  readonly nPrompt: number;
  status: 'waiting' | 'running' | 'done' = 'waiting';
  /** Times this sequence was preempted. */
  preemptions = 0;
  /** The vision tower's output for the prompt (kept until the sequence ends, so a preempted one recomputes without it). */
  visual: unknown = null;
  /** Token index from which `visual` covers the prompt's media (Infinity: not encoded yet). */
  visualFrom = Infinity;
  cancelled = false;
  /** Chain hashes of the sequence's full blocks computed so far (prefix reuse). */
  readonly keys: string[] = [];
  /** Prompt tokens found in the prefix cache when the sequence was first admitted. */
  cachedTokens = 0;

  constructor(
    readonly id: number,
    readonly req: SeqRequest,
    readonly blocks: SeqBlocks,
    readonly maxTokens: number,
  ) {
    this.tokens = Array.from(req.ids);
    this.nPrompt = req.ids.length;
  }

  get generated(): number {
    return this.tokens.length - this.nPrompt;
  }

  /** Tokens not yet in the pool. */
  get pending(): number {
    return this.tokens.length - this.blocks.computed;
  }
}

export interface SchedulerOptions {
  /** Sequences batched together (running at once). */
  readonly maxSeqs: number;
  /** Rows per forward (decode rows plus prefill chunks). */
  readonly maxBatchTokens: number;
}

export interface SchedulerStats {
  readonly running: number;
  readonly waiting: number;
  readonly blocksUsed: number;
  readonly blocksTotal: number;
  readonly preemptions: number;
  /** Prefix reuse: prompt tokens admitted (with reuse on) and found cached; blocks cached; cached blocks evicted. */
  readonly prefix: { readonly promptTokens: number; readonly hitTokens: number; readonly cachedBlocks: number; readonly evictions: number };
}

export class Scheduler<V = unknown> {
  private readonly running: Sequence[] = [];
  private readonly waiting: Sequence[] = [];
  private nextId = 1;
  private loop: Promise<void> | null = null;
  private preemptions = 0;
  /** A greedy step recorded ahead: row k feeds sequence k's index at[k] the token the step before chose (`fed`). */
  private ahead: { seqs: Sequence[]; at: number[]; fed: Int32Array | null; step: ArgmaxStep } | null = null;
  private prefixCount = { promptTokens: 0, hitTokens: 0 };
  /** Called after every step (metrics). */
  onStep: ((rows: number, prefillRows: number) => void) | null = null;

  constructor(
    private readonly model: BatchModel<V>,
    readonly opts: SchedulerOptions,
  ) {
    if (!(opts.maxSeqs >= 1) || !(opts.maxBatchTokens >= opts.maxSeqs)) throw new RangeError(`scheduler: maxSeqs ${opts.maxSeqs} and maxBatchTokens ${opts.maxBatchTokens} (need 1 ≤ maxSeqs ≤ maxBatchTokens)`);
  }

  stats(): SchedulerStats {
    const p = this.model.pool;
    const prefix = { ...this.prefixCount, cachedBlocks: p.cachedBlocks, evictions: p.evictions };
    return { running: this.running.length, waiting: this.waiting.length, blocksUsed: p.usedBlocks, blocksTotal: p.capacity, preemptions: this.preemptions, prefix };
  }

  /** Throws when the pool's invariants do not hold against the live sequences' tables (tests call it between steps). */
  check(): void {
    this.model.pool.check([...this.running, ...this.waiting].map((s) => s.blocks.ids));
  }

  /** Admit a request (throws AdmissionError when it can never fit); it runs as soon as a batch slot frees. */
  submit(req: SeqRequest): Sequence {
    const n = req.ids.length;
    const ctx = this.model.contextLength;
    const pool = this.model.pool;
    const poolTokens = pool.capacity * pool.blockSize;
    if (n < 1) throw new AdmissionError('ctx_size', 'the prompt is empty');
    if (n + 1 > ctx) throw new AdmissionError('ctx_size', `the prompt has ${n} tokens; the context size (--ctx-size) allows ${ctx - 1} prompt tokens plus at least one generated`);
    if (n + 1 > poolTokens) throw new AdmissionError('kv_cache', `the prompt has ${n} tokens; the KV cache (--kv-cache-gb) holds ${poolTokens} tokens`);
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer (got ${String(req.maxTokens)})`);
    const maxTokens = Math.min(req.maxTokens, ctx - n, poolTokens - n);
    const seq = new Sequence(this.nextId++, req, new SeqBlocks(pool), maxTokens);
    this.waiting.push(seq);
    this.kick();
    return seq;
  }

  /** Stop a sequence now: its blocks are freed at once (before the next step). */
  cancel(seq: Sequence): void {
    if (seq.status === 'done') return;
    seq.cancelled = true;
    this.finish(seq, 'cancelled');
  }

  /** Resolves when nothing is left to run. */
  idle(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = (async () => {
      try {
        while (this.running.length || this.waiting.length || this.ahead) {
          await this.step();
          // Let I/O (new requests, disconnects) in between steps.
          await new Promise((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));
        }
      } finally {
        this.loop = null;
      }
    })();
  }

  private finish(seq: Sequence, reason: EndReason, error?: unknown): void {
    if (seq.status === 'done') return;
    for (const list of [this.running, this.waiting]) {
      const i = list.indexOf(seq);
      if (i >= 0) list.splice(i, 1);
    }
    seq.status = 'done';
    seq.blocks.release();
    if (seq.visual !== null) this.model.release(seq.visual as V);
    seq.visual = null;
    try {
      seq.req.onEnd?.(reason, error);
    } catch {
      // A consumer's callback must not stop the batch.
    }
  }

  /** Free the newest running sequence's blocks and put it first in line; it recomputes when it runs again. */
  private preempt(): Sequence | null {
    const victim = this.running.pop();
    if (!victim) return null;
    victim.blocks.release();
    victim.status = 'waiting';
    victim.preemptions++;
    this.preemptions++;
    this.waiting.unshift(victim);
    return victim;
  }

  /**
   * Take a waiting sequence's longest cached prefix (full blocks, leaving at least its last token to compute for
   * logits) if those blocks and a first chunk fit in the pool now; false (nothing taken) otherwise.
   */
  private admit(seq: Sequence, budget: number): boolean {
    const pool = this.model.pool;
    const hit = seq.req.prefix ? pool.longestHit(this.keysOf(seq, Math.floor((seq.tokens.length - 1) / pool.blockSize))) : [];
    const start = hit.length * pool.blockSize;
    const n = Math.min(seq.tokens.length - start, budget);
    if (!pool.canTake(hit, pool.blocksFor(start + n) - hit.length)) return false;
    seq.blocks.adopt(hit);
    if (seq.req.prefix && seq.preemptions === 0) {
      seq.cachedTokens = start;
      this.prefixCount.promptTokens += seq.nPrompt;
      this.prefixCount.hitTokens += start;
    }
    if (start) seq.req.onProgress?.(Math.min(start, seq.nPrompt), seq.nPrompt);
    return true;
  }

  /** Chain hashes of the sequence's first `blocks` blocks (computed once, extended as it grows). */
  private keysOf(seq: Sequence, blocks: number): string[] {
    const p = seq.req.prefix;
    const bs = this.model.pool.blockSize;
    if (p && seq.keys.length < blocks) {
      const ids = seq.tokens.length === blocks * bs ? seq.tokens : seq.tokens.slice(0, blocks * bs);
      seq.keys.push(...blockKeys(ids, p.items, bs, p.seed, seq.keys.length, seq.keys.at(-1) ?? p.seed));
    }
    return seq.keys.length > blocks ? seq.keys.slice(0, blocks) : seq.keys;
  }

  /** Register the blocks the last step filled (all their keys and values written) under their chain hashes. */
  private registerBlocks(seq: Sequence): void {
    const b = seq.blocks;
    const full = Math.floor(b.computed / this.model.pool.blockSize);
    if (full <= b.registered) return;
    const keys = this.keysOf(seq, full);
    for (let i = b.registered; i < full; i++) this.model.pool.register(b.ids[i], keys[i]);
    b.registered = full;
  }

  /** One batched forward. */
  async step(): Promise<void> {
    if (this.ahead) return this.stepAhead();
    const chunks: { seq: Sequence; n: number }[] = [];
    let budget = this.opts.maxBatchTokens;
    let preempted = false;
    // 1. Decode rows of running sequences whose prompt is done (one row each), oldest first.
    for (let i = 0; i < this.running.length; i++) {
      const seq = this.running[i];
      if (seq.pending !== 1) continue;
      while (!seq.blocks.reserve(seq.blocks.computed + 1)) {
        preempted = true;
        const v = this.preempt();
        if (v === seq || !v) break;
      }
      if (seq.status !== 'running') break; // it preempted itself: everything after it is gone too
      chunks.push({ seq, n: 1 });
      budget--;
    }
    // 2. Prefill chunks: running prefills first, then (when nothing was preempted) waiting sequences.
    const candidates = this.running.filter((s) => s.pending > 1);
    if (!preempted) candidates.push(...this.waiting);
    for (const seq of candidates) {
      if (budget <= 0) break;
      if (seq.status === 'waiting') {
        if (this.running.length >= this.opts.maxSeqs) break;
        // Admission: the longest cached prefix (when it and a first chunk fit beside the running sequences).
        if (!this.admit(seq, budget)) break;
      }
      const n = Math.min(seq.pending, budget);
      if (!seq.blocks.reserve(seq.blocks.computed + n)) break;
      if (seq.status === 'waiting') {
        this.waiting.splice(this.waiting.indexOf(seq), 1);
        this.running.push(seq);
        seq.status = 'running';
      }
      chunks.push({ seq, n });
      budget -= n;
    }
    if (!chunks.length) {
      if (this.running.length === 0 && this.waiting.length) {
        // Cannot happen after admission (a prompt always fits the empty pool); fail loudly rather than spin.
        const seq = this.waiting[0];
        this.finish(seq, 'error', new Error(`the KV cache cannot hold sequence ${seq.id}'s ${seq.tokens.length} tokens`));
      }
      return;
    }
    // Vision features join the batch: the tower runs for a request (one at a time) when its prefill first runs, for
    // the media from where it starts (none inside a cached prefix).
    for (const { seq } of chunks) {
      const from = seq.blocks.computed;
      if (!seq.req.media || from >= seq.nPrompt || seq.visualFrom <= from) continue;
      try {
        const v = await this.model.encode(seq.req, from);
        if (seq.visual !== null) this.model.release(seq.visual as V);
        seq.visual = v;
        seq.visualFrom = from;
        if (seq.status === 'done' && v !== null) {
          this.model.release(v); // cancelled while the tower ran
          seq.visual = null;
        }
      } catch (e) {
        this.finish(seq, 'error', e);
      }
    }
    const live = chunks.filter((c) => c.seq.status === 'running');
    chunks.length = 0;
    chunks.push(...live);
    if (!chunks.length) return;
    if (this.model.forwardArgmax && chunks.every(({ seq, n }) => n === seq.pending && n === 1 && seq.req.nextArgmax)) {
      let step: ArgmaxStep;
      try {
        step = this.model.forwardArgmax(chunks.map(({ seq }) => this.rowOf(seq, seq.blocks.computed)));
      } catch (e) {
        for (const { seq } of chunks) this.finish(seq, 'error', e);
        return;
      }
      return this.commitArgmax(chunks.map((c) => c.seq), step, null);
    }
    const batch = chunks.map(({ seq, n }) => {
      const start = seq.blocks.computed;
      return {
        ids: Int32Array.from(seq.tokens.slice(start, start + n)),
        start,
        positions: positionsOf(seq, start, n),
        blocks: seq.blocks.ids,
        logits: start + n === seq.tokens.length,
        visual: start < seq.nPrompt ? (seq.visual as V | null) : null,
      };
    });
    let rows: Float32Array[];
    try {
      rows = await this.model.forward(batch);
    } catch (e) {
      for (const { seq } of chunks) this.finish(seq, 'error', e);
      return;
    }
    let prefillRows = 0;
    let li = 0;
    chunks.forEach(({ seq, n }, k) => {
      const wasPrompt = seq.blocks.computed < seq.nPrompt;
      if (n > 1 || wasPrompt) prefillRows += n;
      if (seq.status === 'done') {
        if (batch[k].logits) li++;
        return; // cancelled while the step ran
      }
      seq.blocks.computed += n;
      if (seq.req.prefix) this.registerBlocks(seq);
      if (wasPrompt) seq.req.onProgress?.(Math.min(seq.blocks.computed, seq.nPrompt), seq.nPrompt);
      if (!batch[k].logits) return;
      const logits = rows[li++];
      this.accept(seq, () => (seq.req.nextArgmax ? seq.req.nextArgmax(argmax(logits), seq) : seq.req.next(logits, seq)));
    });
    this.onStep?.(chunks.length, prefillRows);
  }

  /** The token the sequence's hook chose after a step: appended, or the sequence ends (stop, length, error). */
  private accept(seq: Sequence, choose: () => number | null): void {
    let next: number | null;
    try {
      next = choose();
    } catch (e) {
      this.finish(seq, 'error', e);
      return;
    }
    if (next === null) return this.finish(seq, 'stop');
    seq.tokens.push(next);
    if (seq.generated >= seq.maxTokens) this.finish(seq, 'length');
  }

  /** Token `at` of a sequence as a one-row chunk (past its last token, fed on the backend: a placeholder id). */
  private rowOf(seq: Sequence, at: number): StepChunk<V> {
    const visual = at < seq.nPrompt ? (seq.visual as V | null) : null;
    return { ids: Int32Array.of(seq.tokens[at] ?? 0), start: at, positions: positionsOf(seq, at, 1), blocks: seq.blocks.ids, logits: true, visual };
  }

  /**
   * Read a greedy step (one row per sequence, in order) and apply its tokens; `valid` (null: all) says which rows
   * stand. Before waiting for the read, when the batch will not change (all keep decoding, no one can join), the next
   * step is recorded with these ids on the backend, so the device never waits for the host.
   */
  private async commitArgmax(seqs: Sequence[], step: ArgmaxStep, valid: boolean[] | null): Promise<void> {
    let next: ArgmaxStep | null = null;
    const at = seqs.map((s) => s.tokens.length);
    const steady =
      valid === null &&
      (this.waiting.length === 0 || this.running.length >= this.opts.maxSeqs) &&
      seqs.length === this.running.length &&
      seqs.every((s) => s.status === 'running' && s.generated + 1 < s.maxTokens && s.tokens.length + 1 < this.model.contextLength);
    if (steady && seqs.every((s) => s.blocks.reserve(s.tokens.length + 1))) {
      try {
        next = this.model.forwardArgmax!(seqs.map((s, k) => this.rowOf(s, at[k])), step);
      } catch {
        next = null; // recorded again, plainly, by the next step
      }
    }
    let ids: Int32Array;
    try {
      ids = await step.ids();
    } catch (e) {
      for (const seq of seqs) this.finish(seq, 'error', e);
      next?.dispose();
      return;
    } finally {
      step.dispose();
    }
    let prefillRows = 0;
    seqs.forEach((seq, k) => {
      if (seq.status === 'done' || (valid && !valid[k])) return; // ended (or its token changed) while the step ran
      const wasPrompt = seq.blocks.computed < seq.nPrompt;
      if (wasPrompt) prefillRows++;
      seq.blocks.computed += 1;
      if (seq.req.prefix) this.registerBlocks(seq);
      if (wasPrompt) seq.req.onProgress?.(Math.min(seq.blocks.computed, seq.nPrompt), seq.nPrompt);
      this.accept(seq, () => seq.req.nextArgmax!(ids[k], seq));
    });
    this.ahead = next ? { seqs, at, fed: ids, step: next } : null;
    this.onStep?.(seqs.length, prefillRows);
  }

  /** The step recorded ahead: its rows stand for sequences still running whose token at `at` is the one it fed. */
  private stepAhead(): Promise<void> {
    const a = this.ahead!;
    this.ahead = null;
    const valid = a.seqs.map((s, k) => s.status === 'running' && s.blocks.computed === a.at[k] && s.tokens.length === a.at[k] + 1 && s.tokens[a.at[k]] === a.fed![k]);
    return this.commitArgmax(a.seqs, a.step, valid.every(Boolean) ? null : valid);
  }
}

/** MRoPE positions of tokens [start, start + n) of a sequence: the prompt's own, then i + ropeDelta on all axes. */
function positionsOf(seq: Sequence, start: number, n: number): [Int32Array, Int32Array, Int32Array] {
  const out: [Int32Array, Int32Array, Int32Array] = [new Int32Array(n), new Int32Array(n), new Int32Array(n)];
  const p = seq.req.positions;
  for (let i = 0; i < n; i++) {
    const j = start + i;
    for (let a = 0; a < 3; a++) out[a][i] = j < seq.nPrompt ? p[a][j] : j + seq.req.ropeDelta;
  }
  return out;
}

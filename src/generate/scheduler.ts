// The continuous-batching scheduler: the one place that decides what runs next. Each step runs one batched forward
// over the decode rows of every running sequence plus, within the step's token budget, chunks of prefills; under KV
// pressure the newest sequence is preempted (blocks freed, recomputed later) and finishes with the same output.

import type { PrecomputedVision } from '../models/qwen3vl/model.js';
import { AdmissionError } from '../errors.js';
import { BlockPool, SeqBlocks } from '../nn/kvPool.js';
import { argmax } from '../tensor/math.js';

/** A prompt admitted to the scheduler, and how its tokens are chosen. */
export interface SeqRequest {
  /** Prompt token ids (text and visual placeholders). */
  readonly ids: Int32Array;
  /** MRoPE positions (t, h, w) of the prompt; generated token i (sequence index) sits at i + ropeDelta. */
  readonly positions: readonly [Int32Array, Int32Array, Int32Array];
  readonly ropeDelta: number;
  /** Images and videos of the prompt (for the vision tower). */
  readonly media?: MediaInputs;
  /** Most tokens to generate (clipped at admission to what the context and the pool allow). */
  readonly maxTokens: number;
  /**
   * The per-sequence hook, called with this sequence's logits row after each step that completes its pending tokens
   * (logits processors, sampling, stop checks run here): the next token, or null to finish.
   */
  next(logits: Float32Array, seq: Sequence): number | null;
  /**
   * Greedy sequences with nothing that needs the logits (no penalties, logprobs or grammar): called instead of `next`
   * with the argmax of the row, which the scheduler then takes on the backend, reading back ids only, and may feed to a
   * step recorded before this call (steps overlap host and device). Returns the next token, normally `id` (another
   * one, a forced token, is fine: the step recorded ahead for this sequence is dropped), or null to finish.
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
}

export type EndReason = 'stop' | 'length' | 'cancelled' | 'error';

export { AdmissionError };

/** What the scheduler needs of a model: one batched forward over the pool, and the vision tower. */
export interface BatchModel<V> {
  readonly contextLength: number;
  readonly pool: BlockPool;
  /** Run the vision tower for a request (null: no media); called once, when the prefill first runs. */
  encode(req: SeqRequest): V | null;
  /** One forward; returns one logits row per chunk with `logits`, in order. */
  forward(chunks: readonly StepChunk<V>[]): Promise<Float32Array[]>;
  /**
   * Optional: one forward recorded at once whose logits rows (every chunk has `logits`) are reduced to their argmax on
   * the backend. With `feed`, each chunk is one row whose input id is the argmax of `feed`'s row at the same index
   * (its `ids` are ignored): the step is recorded before `feed`'s tokens reach the host.
   */
  forwardArgmax?(chunks: readonly StepChunk<V>[], feed?: ArgmaxStep): ArgmaxStep;
  release(visual: V): void;
}

/** A greedy step recorded on the backend. */
export interface ArgmaxStep {
  /** The argmax id of each row (the read is queued when the step is recorded). */
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
  encoded = false;
  cancelled = false;

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
}

export class Scheduler<V = unknown> {
  private readonly running: Sequence[] = [];
  private readonly waiting: Sequence[] = [];
  private nextId = 1;
  private loop: Promise<void> | null = null;
  private preemptions = 0;
  /**
   * A greedy decode step recorded ahead: one row per sequence in `seqs`, feeding at sequence index `at[k]` the token
   * the step before it chose (`fed`, known once that step is read). Its rows are used only where that token stands.
   */
  private ahead: { seqs: Sequence[]; at: number[]; fed: Int32Array | null; step: ArgmaxStep } | null = null;
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
    return { running: this.running.length, waiting: this.waiting.length, blocksUsed: p.usedBlocks, blocksTotal: p.capacity, preemptions: this.preemptions };
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
      if (seq.status === 'waiting' && this.running.length >= this.opts.maxSeqs) break;
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
    // Vision features join the batch: the tower runs for a request (one at a time) when its prefill first runs.
    for (const { seq } of chunks) {
      if (seq.encoded) continue;
      try {
        seq.visual = this.model.encode(seq.req);
        seq.encoded = true;
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
        step = this.model.forwardArgmax(chunks.map(({ seq }) => this.chunkOf(seq, seq.blocks.computed, 1)));
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

  /** Tokens [start, start + n) of a sequence as a chunk; past its last token (fed on the backend), placeholder ids. */
  private chunkOf(seq: Sequence, start: number, n: number): StepChunk<V> {
    return {
      ids: start + n <= seq.tokens.length ? Int32Array.from(seq.tokens.slice(start, start + n)) : new Int32Array(n),
      start,
      positions: positionsOf(seq, start, n),
      blocks: seq.blocks.ids,
      logits: true,
      visual: start < seq.nPrompt ? (seq.visual as V | null) : null,
    };
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
        next = this.model.forwardArgmax!(seqs.map((s, k) => this.chunkOf(s, at[k], 1)), step);
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

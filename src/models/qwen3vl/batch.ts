// One forward over a ragged batch of sequences sharing the paged KV pool: decode rows of many sequences and prefill
// chunks (with their visual rows and DeepStack features) in one pass, logits only for the rows that need them.

import type { Backend, PagedBatch } from '../../backend/backend.js';
import { PagedStep, type PagedKv } from '../../nn/kvPool.js';
import { mropeTables } from '../../nn/rope.js';
import { noTrace } from '../../nn/trace.js';
import { tidy, type Tensor } from '../../tensor/tensor.js';
import type { EncodedVision, PrecomputedVision, Qwen3VLModel } from './model.js';
import type { DeepStack } from './text.js';
import type { VisionOutput } from './vision.js';

/** A sequence's visual features, computed once by the vision tower: rows are sequence indices (ascending). */
export interface VisualFeatures {
  readonly rows: Int32Array;
  readonly merged: Tensor; // [R, H], row k for sequence index rows[k]
  readonly deepstack: readonly Tensor[]; // per level [R, H]
  dispose(): void;
}

/** The tokens one sequence contributes to a step. */
export interface SeqChunk {
  readonly ids: Int32Array;
  /** Sequence index of ids[0] (the sequence's tokens before it are in the pool). */
  readonly start: number;
  /** MRoPE positions (t, h, w) of these tokens. */
  readonly positions: readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
  /** Block ids holding tokens [0, start + ids.length). */
  readonly blocks: readonly number[];
  /** Whether the last token's logits are wanted. */
  readonly logits: boolean;
  readonly visual?: VisualFeatures | null;
}

/** Run the vision tower over a prompt's images and videos: features in sequence order (null without media). */
export function encodeVisual(m: Qwen3VLModel, ids: Int32Array, inp: { pixelValues?: Float32Array; imageGridThw?: readonly (readonly number[])[]; pixelValuesVideos?: Float32Array; videoGridThw?: readonly (readonly number[])[]; vision?: PrecomputedVision }): VisualFeatures | null {
  if (!inp.pixelValues && !inp.pixelValuesVideos && !inp.vision?.images && !inp.vision?.videos) return null;
  const b = m.backend;
  const { imageTokenId, videoTokenId } = m.config;
  const H = m.config.text.hiddenSize;
  // Features computed ahead (the vision cache) are uploaded instead of running the tower.
  const given = (e: EncodedVision): VisionOutput => ({ merged: b.upload(e.merged, [e.tokens, H], 'f32'), deepstack: e.deepstack.map((d) => b.upload(d, [e.tokens, H], 'f32')) });
  return tidy(() => {
    const img = inp.vision?.images ? given(inp.vision.images) : inp.pixelValues ? m.vision.forward(inp.pixelValues, inp.imageGridThw ?? [], noTrace, 'pixelValues') : null;
    const vid = inp.vision?.videos ? given(inp.vision.videos) : inp.pixelValuesVideos ? m.vision.forward(inp.pixelValuesVideos, inp.videoGridThw ?? [], noTrace, 'pixelValuesVideos') : null;
    const rows: number[] = [];
    const fromImg: number[] = [];
    const fromVid: number[] = [];
    ids.forEach((id, i) => {
      if (id === imageTokenId) fromImg.push(rows.push(i) - 1);
      else if (id === videoTokenId) fromVid.push(rows.push(i) - 1);
    });
    // Interleave the two sources into sequence order.
    const order = (pick: (o: VisionOutput) => Tensor) => {
      if (img && !vid) return pick(img);
      if (vid && !img) return pick(vid);
      const f = b.zeros([rows.length, H]);
      b.scatterRows(f, b.upload(Int32Array.from(fromImg), [fromImg.length], 'i32'), pick(img!), false);
      b.scatterRows(f, b.upload(Int32Array.from(fromVid), [fromVid.length], 'i32'), pick(vid!), false);
      return f;
    };
    const merged = order((o) => o.merged);
    const levels = Math.max(img?.deepstack.length ?? 0, vid?.deepstack.length ?? 0);
    const deepstack = Array.from({ length: levels }, (_, j) => order((o) => o.deepstack[j]));
    const all = [merged, ...deepstack];
    return { rows: Int32Array.from(rows), merged, deepstack, dispose: () => all.forEach((t) => t.dispose()), tensors: all };
  }) as VisualFeatures;
}

/** One image's or video's features and where its placeholder runs sit ([start, length] in token order). */
export interface PlacedVision {
  readonly runs: readonly (readonly [number, number])[];
  readonly vision: EncodedVision;
}

/** Features of some of a prompt's items (those a prefill still needs), uploaded in sequence order. */
export function placedVisual(m: Qwen3VLModel, parts: readonly PlacedVision[]): VisualFeatures | null {
  if (!parts.length) return null;
  const b = m.backend;
  const H = m.config.text.hiddenSize;
  // Items never interleave (a video's frames are consecutive), so ordering them by first run orders their rows.
  const sorted = [...parts].sort((x, y) => x.runs[0][0] - y.runs[0][0]);
  const rows: number[] = [];
  for (const p of sorted) {
    const n = p.runs.reduce((a, [, len]) => a + len, 0);
    if (n !== p.vision.tokens) throw new RangeError(`vision features hold ${p.vision.tokens} tokens for ${n} placeholders`);
    for (const [s, len] of p.runs) for (let i = 0; i < len; i++) rows.push(s + i);
  }
  const cat = (pick: (v: EncodedVision) => Float32Array) => {
    if (sorted.length === 1) return pick(sorted[0].vision);
    const out = new Float32Array(rows.length * H);
    sorted.reduce((o, p) => (out.set(pick(p.vision), o), o + pick(p.vision).length), 0);
    return out;
  };
  const merged = b.upload(cat((v) => v.merged), [rows.length, H], 'f32');
  const deepstack = sorted[0].vision.deepstack.map((_, j) => b.upload(cat((v) => v.deepstack[j]), [rows.length, H], 'f32'));
  const all = [merged, ...deepstack];
  return { rows: Int32Array.from(rows), merged, deepstack, dispose: () => all.forEach((t) => t.dispose()) };
}

/** How a paged forward ends and where its input ids come from. */
export interface PagedForwardOptions {
  /** Reduce each logits row to its argmax on the backend: i32 [n] instead of f32 [n, V] (greedy rows read back ids only). */
  readonly argmax?: boolean;
  /**
   * Input ids on the backend (i32, one per batch row), used instead of the chunks' `ids`: the argmax of a step recorded
   * before, so a greedy step can be recorded before the last one's tokens reach the host.
   */
  readonly ids?: Tensor;
}

/**
 * One batched forward. Keys/values of every chunk's tokens are written to its blocks; returns the logits [n, V] (or
 * their argmax [n], i32) of the chunks with `logits` set, in chunk order (unread).
 */
export function forwardPaged(m: Qwen3VLModel, kv: PagedKv, chunks: readonly SeqChunk[], opts: PagedForwardOptions = {}): Tensor {
  const b: Backend = m.backend;
  const t = m.config.text;
  const bs = kv.pool.blockSize;
  const n = chunks.reduce((a, c) => a + c.ids.length, 0);
  const ids = new Int32Array(n);
  const pos: [Int32Array, Int32Array, Int32Array] = [new Int32Array(n), new Int32Array(n), new Int32Array(n)];
  const slots = new Int32Array(n);
  const cuQ = new Int32Array(chunks.length + 1);
  const kvLen = new Int32Array(chunks.length);
  const tblPtr = new Int32Array(chunks.length + 1);
  const tbl: number[] = [];
  const logitRows: number[] = [];
  chunks.forEach((c, s) => {
    const r0 = cuQ[s];
    const m2 = c.ids.length;
    if (m2 < 1) throw new Error('forwardPaged: a chunk without tokens');
    ids.set(c.ids, r0);
    for (let a = 0; a < 3; a++) for (let i = 0; i < m2; i++) pos[a][r0 + i] = c.positions[a][i];
    for (let i = 0; i < m2; i++) {
      const j = c.start + i;
      slots[r0 + i] = c.blocks[Math.floor(j / bs)] * bs + (j % bs);
    }
    cuQ[s + 1] = r0 + m2;
    kvLen[s] = c.start + m2;
    tbl.push(...c.blocks.slice(0, Math.ceil(kvLen[s] / bs)));
    tblPtr[s + 1] = tbl.length;
    if (c.logits) logitRows.push(r0 + m2 - 1);
  });
  const batch: PagedBatch = { blockSize: bs, cuQ, kvLen, tblPtr, tbl: Int32Array.from(tbl) };
  const rope = mropeTables(pos, t.headDim, t.ropeTheta, t.mropeSection);
  return tidy(() => {
    if (opts.ids && opts.ids.size !== n) throw new Error(`forwardPaged: ${opts.ids.size} input ids on the backend for ${n} rows`);
    const x = m.text.embed(opts.ids ?? ids);
    const deepstack = placeVisual(b, x, chunks, cuQ);
    const cos = b.upload(rope.cos, [n, t.headDim], 'f32');
    const sin = b.upload(rope.sin, [n, t.headDim], 'f32');
    const h = m.text.forward(x, cos, sin, new PagedStep(b, kv, batch, slots), deepstack, noTrace);
    const rows = logitRows.length === n ? h : b.gatherRows(h, b.upload(Int32Array.from(logitRows), [logitRows.length], 'i32'));
    const logits = m.text.logits(rows);
    return opts.argmax ? b.argmax(logits) : logits;
  });
}

/** Scatter the chunks' visual tokens into x and gather their DeepStack rows (batch row indices). */
function placeVisual(b: Backend, x: Tensor, chunks: readonly SeqChunk[], cuQ: Int32Array): DeepStack | null {
  const dsRows: number[] = [];
  const parts: { v: VisualFeatures; k0: number; k1: number }[] = [];
  chunks.forEach((c, s) => {
    const v = c.visual;
    if (!v) return;
    const a = c.start;
    const e = a + c.ids.length;
    let k0 = 0;
    while (k0 < v.rows.length && v.rows[k0] < a) k0++;
    let k1 = k0;
    while (k1 < v.rows.length && v.rows[k1] < e) k1++;
    if (k1 === k0) return;
    const dst = Int32Array.from(v.rows.subarray(k0, k1), (r) => r - a + cuQ[s]);
    b.scatterRows(x, b.upload(dst, [dst.length], 'i32'), b.sliceRows(v.merged, k0, k1 - k0), false);
    dsRows.push(...dst);
    parts.push({ v, k0, k1 });
  });
  const levels = parts.length ? parts[0].v.deepstack.length : 0;
  if (!levels) return null;
  const features = Array.from({ length: levels }, (_, j) => {
    if (parts.length === 1) return b.sliceRows(parts[0].v.deepstack[j], parts[0].k0, parts[0].k1 - parts[0].k0);
    const f = b.zeros([dsRows.length, x.cols]);
    let at = 0;
    for (const p of parts) {
      b.writeRows(f, at, b.sliceRows(p.v.deepstack[j], p.k0, p.k1 - p.k0));
      at += p.k1 - p.k0;
    }
    return f;
  });
  return { rows: b.upload(Int32Array.from(dsRows), [dsRows.length], 'i32'), features };
}

// Qwen3-VL for conditional generation: vision tower + text decoder joined by placeholder scatter, DeepStack and
// 3-D MRoPE positions. A forward pass records ops on the backend; only the logits (or, for greedy decoding, the
// argmax token ids taken on the backend) are read back.

import type { Backend } from '../../backend/backend.js';
import { AbortError } from '../../errors.js';
import type { ModelConfig } from './config.js';
import type { GenerationConfig } from '../../config/generation.js';
import { KvCache } from '../../nn/kvCache.js';
import { mropeTables } from '../../nn/rope.js';
import { noTrace, type Trace } from '../../nn/trace.js';
import { tidy, type Tensor } from '../../tensor/tensor.js';
import type { Qwen3VLWeights } from './weights.js';
import { InputError, decodePositions, ropeIndex } from './positions.js';

export { AbortError };
import { type DeepStack, TextDecoder } from './text.js';
import { VisionTower, type VisionOutput } from './vision.js';

export type Ids = readonly number[] | Int32Array;
export type Grid = readonly number[];

export interface ForwardInputs {
  readonly inputIds: Ids;
  /** Explicit positions [3][S] (t, h, w) or [S] (text); otherwise computed from ids and grids. */
  readonly positionIds?: readonly Ids[] | Ids;
  /** Accepted for compatibility with the reference processor; positions derive from the ids and grids. */
  readonly mmTokenTypeIds?: Ids;
  readonly pixelValues?: Float32Array;
  readonly imageGridThw?: readonly Grid[];
  readonly pixelValuesVideos?: Float32Array;
  readonly videoGridThw?: readonly Grid[];
  /**
   * Vision features computed earlier (`encodeImages` of each item, concatenated in prompt order) in place of
   * pixelValues / pixelValuesVideos: the tower is skipped. The grids are still needed (for positions).
   */
  readonly vision?: PrecomputedVision;
  /** Continue this cache (its length is where the new tokens start); a fresh one is used if absent. */
  readonly cache?: KvCache;
  /** Which positions get logits: every one (default), only the last, or the last n. */
  readonly logits?: 'all' | 'last' | number;
  /** Receives named intermediates; must read (snapshot) them synchronously. */
  readonly trace?: Trace;
  /** Prefill chunk length in tokens (default 1024). */
  readonly chunkSize?: number;
  /** Called after each prefill chunk with tokens done and total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Checked between prefill chunks: an aborted signal stops the prefill with an AbortError. */
  readonly signal?: AbortSignal;
}

export interface ForwardOutput {
  /** [rows, vocab] row-major. */
  readonly logits: Float32Array;
  readonly rows: number;
  readonly vocab: number;
  /** The rope delta of this prompt (also stored in the cache). */
  readonly ropeDelta: number;
}

export interface EncodedVision {
  readonly merged: Float32Array; // [tokens, H]
  readonly deepstack: Float32Array[];
  readonly tokens: number;
}

/** Precomputed features for the images and the videos of a prompt, each in prompt order. */
export interface PrecomputedVision {
  readonly images?: EncodedVision;
  readonly videos?: EncodedVision;
}

/** Sequence rows holding visual tokens (ascending), their merged tokens and DeepStack feature rows per level. */
interface VisualRows {
  readonly rows: Int32Array;
  readonly merged: Tensor;
  readonly features: readonly Tensor[];
}

interface Prepared {
  readonly ids: Int32Array;
  readonly keep: number;
  readonly images: readonly Grid[];
  readonly videos: readonly Grid[];
  readonly positions: readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
}

/** Most logit values one call returns (4 GiB of f32). */
const MAX_LOGITS = 2 ** 30;

/** Tokens per prefill chunk unless the caller says otherwise. */
const DEFAULT_CHUNK = 1024;

/** Visual rows, merged tokens and DeepStack features restricted to sequence rows [a, a + m), chunk-relative. */
function visualRows(b: Backend, v: VisualRows, a: number, m: number): (DeepStack & { merged: Tensor }) | null {
  let k0 = 0;
  while (k0 < v.rows.length && v.rows[k0] < a) k0++;
  let k1 = k0;
  while (k1 < v.rows.length && v.rows[k1] < a + m) k1++;
  if (k1 === k0) return null;
  const rows = b.upload(v.rows.slice(k0, k1).map((r) => r - a), [k1 - k0], 'i32');
  const whole = k0 === 0 && k1 === v.rows.length;
  const part = (f: Tensor) => (whole ? f : b.sliceRows(f, k0, k1 - k0));
  return { rows, merged: part(v.merged), features: v.features.map(part) };
}

export class Qwen3VLModel {
  readonly text: TextDecoder;
  readonly vision: VisionTower;

  constructor(
    readonly backend: Backend,
    readonly config: ModelConfig,
    readonly weights: Qwen3VLWeights,
    /** The checkpoint folder and its generation defaults, when loaded from disk. */
    readonly source: { readonly dir: string; readonly generationConfig: GenerationConfig } | null = null,
  ) {
    this.text = new TextDecoder(backend, config.text, weights.text);
    this.vision = new VisionTower(backend, config.vision, weights.vision);
  }

  /** Free every weight and the backend's resources. */
  dispose(): void {
    this.backend.destroy();
  }

  /** A KV cache for up to `maxLength` tokens (default: the config's max_position_embeddings). */
  createCache(maxLength = this.config.text.maxPositionEmbeddings): KvCache {
    const t = this.config.text;
    return new KvCache(this.backend, t.numHiddenLayers, t.numKeyValueHeads * t.headDim, maxLength);
  }

  /** Prefill (or continue) with a prompt that may hold images and videos. */
  async forward(inp: ForwardInputs): Promise<ForwardOutput> {
    const own = !inp.cache;
    const cache = inp.cache ?? this.createCache();
    try {
      const p = this.prepare(inp, cache);
      const logits = await this.run(inp, p, cache, 'logits');
      return { logits, rows: logits.length / this.config.text.vocabSize, vocab: this.config.text.vocabSize, ropeDelta: cache.ropeDelta };
    } finally {
      if (own) cache.dispose();
    }
  }

  /**
   * Like `forward`, but returns the index of the largest logit of each kept row (first on ties): the argmax runs on
   * the backend (`Backend.argmax`), so 4 bytes a row are read back instead of the vocabulary-sized logits.
   */
  async forwardArgmax(inp: ForwardInputs): Promise<Int32Array> {
    const own = !inp.cache;
    const cache = inp.cache ?? this.createCache();
    try {
      return await this.run(inp, this.prepare(inp, cache), cache, 'argmax');
    } finally {
      if (own) cache.dispose();
    }
  }

  /** One decoding step: feed `ids` after the cache's tokens; logits of the last new token. */
  async decode(cache: KvCache, ids: Ids): Promise<Float32Array> {
    return (await this.forward({ inputIds: ids, cache, logits: 'last' })).logits;
  }

  /** One greedy decoding step: feed `ids` after the cache's tokens; the argmax token of the last new one. */
  async decodeGreedy(cache: KvCache, ids: Ids): Promise<number> {
    return (await this.forwardArgmax({ inputIds: ids, cache, logits: 'last' }))[0];
  }

  /**
   * Record one decoding step whose input id is on the backend (i32 [1]); returns its argmax (i32 [1], unread). The
   * building block of pipelined greedy decoding (generate/greedy.ts), which records a step before reading the last.
   */
  greedyStep(cache: KvCache, id: Tensor): Tensor {
    const b = this.backend;
    const t = this.config.text;
    const rope = mropeTables(decodePositions(cache.length, 1, cache.ropeDelta), t.headDim, t.ropeTheta, t.mropeSection);
    return tidy(() => {
      const cos = b.upload(rope.cos, [1, t.headDim], 'f32');
      const sin = b.upload(rope.sin, [1, t.headDim], 'f32');
      const h = this.text.forward(this.text.embed(id), cos, sin, cache, null, noTrace);
      return b.argmax(this.text.logits(h));
    });
  }

  /** Run the vision tower alone: merged tokens and DeepStack features of images (or video grids). */
  async encodeImages(pixelValues: Float32Array, gridThw: readonly Grid[]): Promise<EncodedVision> {
    const out = this.vision.forward(pixelValues, gridThw, noTrace);
    try {
      return {
        merged: await out.merged.readF32(),
        deepstack: await Promise.all(out.deepstack.map((d) => d.readF32())),
        tokens: out.merged.rows,
      };
    } finally {
      out.merged.dispose();
      out.deepstack.forEach((d) => d.dispose());
    }
  }

  /** Validate the inputs and compute positions (sets the cache's rope delta); nothing is recorded yet. */
  private prepare(inp: ForwardInputs, cache: KvCache): Prepared {
    const cfg = this.config;
    const ids = toIds(inp.inputIds, 'inputIds');
    if (ids.length === 0) throw new InputError('inputIds is empty');
    const keep = inp.logits === 'last' ? 1 : typeof inp.logits === 'number' ? inp.logits : ids.length;
    if (!Number.isInteger(keep) || keep < 1) throw new InputError(`logits must be 'all', 'last' or a positive row count (got ${String(inp.logits)})`);
    const vocab = cfg.text.vocabSize;
    // Refuse before any work rather than fail allocating the result (a long prompt with the default 'all').
    if (keep * vocab > MAX_LOGITS) throw new InputError(`logits for ${Math.min(keep, ids.length)} rows × ${vocab} would take ${((keep * vocab * 4) / 2 ** 30).toFixed(1)} GiB; ask for logits: 'last' or a row count`);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocab) throw new InputError(`inputIds[${i}] = ${ids[i]} is outside the vocabulary [0, ${vocab})`);
    }
    const images = inp.imageGridThw ?? [];
    const videos = inp.videoGridThw ?? [];
    const hasImg = !!inp.pixelValues || !!inp.vision?.images;
    const hasVid = !!inp.pixelValuesVideos || !!inp.vision?.videos;
    if (inp.pixelValues && inp.vision?.images) throw new InputError('give pixelValues or vision.images, not both');
    if (inp.pixelValuesVideos && inp.vision?.videos) throw new InputError('give pixelValuesVideos or vision.videos, not both');
    if (hasImg !== images.length > 0) throw new InputError('pixelValues and imageGridThw must be given together');
    if (hasVid !== videos.length > 0) throw new InputError('pixelValuesVideos and videoGridThw must be given together');
    const nImgTok = count(ids, cfg.imageTokenId);
    const nVidTok = count(ids, cfg.videoTokenId);
    if (nImgTok && !hasImg) throw new InputError(`inputIds hold ${nImgTok} image token(s) (id ${cfg.imageTokenId}) but no pixelValues were given`);
    if (nVidTok && !hasVid) throw new InputError(`inputIds hold ${nVidTok} video token(s) (id ${cfg.videoTokenId}) but no pixelValuesVideos were given`);
    this.checkPrecomputed(inp.vision?.images, nImgTok, 'vision.images');
    this.checkPrecomputed(inp.vision?.videos, nVidTok, 'vision.videos');
    if ((nImgTok || nVidTok) && cache.length > 0 && !inp.positionIds) {
      throw new InputError('images and videos are only supported in the first forward of a cache (the prefill)');
    }

    // Positions first: they validate token counts against the grids before any work is recorded.
    let positions: [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
    if (inp.positionIds) {
      positions = toPositions(inp.positionIds, ids.length);
      // Later tokens continue after the largest given position.
      let max = -Infinity;
      for (const row of positions) for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
      cache.ropeDelta = max + 1 - (cache.length + ids.length);
    } else if (nImgTok || nVidTok || images.length || videos.length) {
      const tok = { imageTokenId: cfg.imageTokenId, videoTokenId: cfg.videoTokenId, spatialMergeSize: cfg.vision.spatialMergeSize };
      const r = ropeIndex(ids, tok, images, videos);
      positions = r.positions;
      cache.ropeDelta = r.ropeDelta;
    } else {
      positions = decodePositions(cache.length, ids.length, cache.ropeDelta);
    }
    const expectTokens = (grids: readonly Grid[]) => grids.reduce((a, [t, h, w]) => a + (t * h * w) / cfg.vision.spatialMergeSize ** 2, 0);
    if (nImgTok !== expectTokens(images)) throw new InputError(`inputIds hold ${nImgTok} image tokens, but imageGridThw needs ${expectTokens(images)}`);
    if (nVidTok !== expectTokens(videos)) throw new InputError(`inputIds hold ${nVidTok} video tokens, but videoGridThw needs ${expectTokens(videos)}`);

    return { ids, keep, images, videos, positions };
  }

  /** Precomputed features must hold one row per placeholder token at every level. */
  private checkPrecomputed(v: EncodedVision | undefined, tokens: number, what: string): void {
    if (!v) return;
    const h = this.config.text.hiddenSize;
    const levels = this.config.vision.deepstackVisualIndexes.length;
    if (v.tokens !== tokens || v.merged.length !== tokens * h) throw new InputError(`${what} holds ${v.tokens} tokens (${v.merged.length} values), but inputIds hold ${tokens} placeholders of width ${h}`);
    if (v.deepstack.length !== levels || v.deepstack.some((d) => d.length !== tokens * h)) throw new InputError(`${what} needs ${levels} DeepStack levels of ${tokens}×${h} values`);
  }

  /**
   * Encode images/videos, embed, then run the decoder over chunks of `chunkSize` tokens (the KV cache carries
   * attention across chunks), waiting for each chunk so progress is real and activations stay bounded.
   * `select` 'logits' reads back the logits of the kept rows; 'argmax' their argmax token ids (taken on the backend).
   */
  private async run(inp: ForwardInputs, p: Prepared, cache: KvCache, select: 'logits'): Promise<Float32Array>;
  private async run(inp: ForwardInputs, p: Prepared, cache: KvCache, select: 'argmax'): Promise<Int32Array>;
  private async run(inp: ForwardInputs, p: Prepared, cache: KvCache, select: 'logits' | 'argmax'): Promise<Float32Array | Int32Array> {
    const b = this.backend;
    const t = this.config.text;
    const trace = inp.trace ?? noTrace;
    const { ids, keep } = p;
    const n = ids.length;
    // Named intermediates cover the whole sequence, so tracing runs it as one chunk.
    const chunk = inp.trace ? n : Math.max(1, inp.chunkSize ?? DEFAULT_CHUNK);
    // Cache room for the whole prompt at once, before any work (a prompt past the cache's limit fails here).
    cache.reserve(n);
    const visual = tidy(() => {
      // Images and videos go through the tower in separate calls, as the reference does (or come precomputed).
      const given = (e: EncodedVision): VisionOutput => {
        const h = t.hiddenSize;
        return { merged: b.upload(e.merged, [e.tokens, h], 'f32'), deepstack: e.deepstack.map((d) => b.upload(d, [e.tokens, h], 'f32')) };
      };
      const img = inp.vision?.images ? given(inp.vision.images) : inp.pixelValues ? this.vision.forward(inp.pixelValues, p.images, trace, 'pixelValues') : null;
      const vid = inp.vision?.videos ? given(inp.vision.videos) : inp.pixelValuesVideos ? this.vision.forward(inp.pixelValuesVideos, p.videos, trace, 'pixelValuesVideos') : null;
      return this.placeVisual(ids, img, vid);
    });
    const width = select === 'argmax' ? 1 : t.vocabSize;
    const out = select === 'argmax' ? new Int32Array(keep) : new Float32Array(keep * width);
    try {
      for (let a = 0; a < n; a += chunk) {
        const m = Math.min(chunk, n - a);
        const first = Math.max(a, n - keep); // first row of this chunk that needs logits
        const logits = tidy(() => {
          // Embeddings and rotary tables of this chunk only: activations stay bounded by the chunk, not the prompt.
          const xc = this.text.embed(ids.subarray(a, a + m));
          const vis = visual && visualRows(b, visual, a, m);
          if (vis) b.scatterRows(xc, vis.rows, vis.merged, false);
          const rope = mropeTables(p.positions.map((r) => sliceOf(r, a, a + m)) as [Int32Array, Int32Array, Int32Array], t.headDim, t.ropeTheta, t.mropeSection);
          const cos = b.upload(rope.cos, [m, t.headDim], 'f32');
          const sin = b.upload(rope.sin, [m, t.headDim], 'f32');
          let h = this.text.forward(xc, cos, sin, cache, vis, trace);
          if (first >= a + m) return null;
          if (first > a) h = b.sliceRows(h, first - a, a + m - first);
          const l = this.text.logits(h);
          if (keep === n) trace('logits', l);
          return select === 'argmax' ? b.argmax(l) : l;
        });
        if (logits) {
          const got = await logits.read();
          logits.dispose();
          if (got.constructor !== out.constructor) throw new Error(`${b.name}: read back ${got.constructor.name} for ${select}`);
          out.set(got, (first - (n - keep)) * width);
        } else {
          await b.sync();
        }
        inp.onProgress?.(a + m, n);
        if (a + m < n && inp.signal?.aborted) throw new AbortError('prefill cancelled');
      }
    } finally {
      visual?.merged.dispose();
      visual?.features.forEach((f) => f.dispose());
    }
    return out;
  }

  /** Visual rows of the sequence with their merged tokens and per-level DeepStack features, in sequence order. */
  private placeVisual(ids: Int32Array, img: VisionOutput | null, vid: VisionOutput | null): VisualRows | null {
    if (!img && !vid) return null;
    const b = this.backend;
    const { imageTokenId, videoTokenId } = this.config;
    const allRows: number[] = [];
    // Images and videos interleave in sequence order; remember where each row comes from.
    const src: (0 | 1)[] = [];
    ids.forEach((id, i) => {
      if (id === imageTokenId) src.push(0);
      else if (id === videoTokenId) src.push(1);
      else return;
      allRows.push(i);
    });
    const inOrder = (fi: Tensor | undefined, fv: Tensor | undefined): Tensor => {
      if (!fv) return fi!;
      if (!fi) return fv;
      // Both: scatter the rows of each source into sequence order.
      const f = b.zeros([allRows.length, this.config.text.hiddenSize]);
      const pos = (s: 0 | 1) => Int32Array.from(src.flatMap((x, k) => (x === s ? [k] : [])));
      b.scatterRows(f, b.upload(pos(0), [fi.rows], 'i32'), fi, false);
      b.scatterRows(f, b.upload(pos(1), [fv.rows], 'i32'), fv, false);
      return f;
    };
    const levels = Math.max(img?.deepstack.length ?? 0, vid?.deepstack.length ?? 0);
    const features = Array.from({ length: levels }, (_, j) => inOrder(img?.deepstack[j], vid?.deepstack[j]));
    return { rows: Int32Array.from(allRows), merged: inOrder(img?.merged, vid?.merged), features };
  }
}

function toIds(x: Ids, what: string): Int32Array {
  if (x instanceof Int32Array) return x;
  if (!Array.isArray(x)) throw new InputError(`${what} must be a number[] or Int32Array`);
  const out = new Int32Array(x.length);
  x.forEach((v, i) => {
    if (!Number.isSafeInteger(v)) throw new InputError(`${what}[${i}] = ${String(v)} is not an integer`);
    out[i] = v;
  });
  return out;
}

function toPositions(p: readonly Ids[] | Ids, n: number): [Int32Array, Int32Array, Int32Array] {
  if (Array.isArray(p) && p.length > 0 && typeof p[0] !== 'number') {
    if (p.length !== 3) throw new InputError(`positionIds must be 3 rows (t, h, w) or one row, got ${p.length} rows`);
    const rows = (p as Ids[]).map((r, i) => toIds(r, `positionIds[${i}]`));
    if (rows.some((r) => r.length !== n)) throw new InputError(`positionIds rows must each have ${n} entries (one per input id)`);
    return [rows[0], rows[1], rows[2]];
  }
  const one = toIds(p as Ids, 'positionIds');
  if (one.length !== n) throw new InputError(`positionIds has ${one.length} entries for ${n} input ids`);
  return [one, one, one];
}

function sliceOf(r: ArrayLike<number>, a: number, b: number): Int32Array {
  return r instanceof Int32Array ? r.subarray(a, b) : Int32Array.from({ length: b - a }, (_, i) => r[a + i]);
}

function count(ids: Int32Array, id: number): number {
  let n = 0;
  for (const x of ids) if (x === id) n++;
  return n;
}

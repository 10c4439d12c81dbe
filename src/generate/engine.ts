// The library's front door and the one engine: a loaded Qwen3-VL model with its processor, its paged KV cache and the
// scheduler that batches every conversation running on it. CLI, server (its worker thread) and web page drive this.

import type { KvDType } from '../backend/backend.js';
import type { HubOptions } from '../io/hub.js';
import { type SourceLike, isUrl, openSource } from '../io/source.js';
import { loadModel as loadCore, type LoadOptions } from '../models/qwen3vl/load.js';
import { Qwen3VLModel, type ForwardInputs, type PrecomputedVision } from '../models/qwen3vl/model.js';
import type { KvCache } from '../nn/kvCache.js';
import { ropeIndex } from '../models/qwen3vl/positions.js';
import { KV_BLOCK, PagedKv, kvBytesPerToken, type KvCacheOptions } from '../nn/kvPool.js';
import { loadProcessor, type ChatMessage, type LoadProcessorOptions, type Qwen3VLProcessor } from '../processor/index.js';
import { batchModel } from './batchModel.js';
import { decodeGreedyMany, generateGreedy, greedySteps, type GreedySteps } from './greedy.js';
import { chat, streamChat, type ChatEvent, type ChatModel, type ChatOptions, type ChatResult } from './chat.js';
import { chainSeed, type MediaItem, type MediaPrompt } from './prefixKeys.js';
import { availableMemory, checkKvPoolFits } from './contextPlan.js';
import { Scheduler, type MediaInputs } from './scheduler.js';
import { DEFAULT_VISION_CACHE_MB, encodeItems, encodeMedia, modelMediaItems, VisionCache } from './visionCache.js';
import type { EncodedVision } from '../models/qwen3vl/model.js';

export interface ServingOptions {
  /** The paged KV cache: its size (bytes or tokens; default the context size, at most 16384 tokens, 4096 on webgpu) and format. */
  readonly kvCache?: KvCacheOptions;
  /** Longest sequence (prompt and output) in tokens; default the model's max_position_embeddings. */
  readonly ctxSize?: number;
  /** Sequences batched together (default 8 on cpu/ref, 32 on webgpu). */
  readonly maxConcurrent?: number;
  /** Rows per batched forward: decode rows plus prefill chunks (default 512 on cpu/ref, 1024 on webgpu). */
  readonly maxBatchTokens?: number;
  /**
   * Prefix reuse (default on): a conversation re-sent with more at its end starts from the KV blocks its earlier turn
   * left in the pool, and images inside that prefix are not encoded again. `false` turns it off (comparisons).
   */
  readonly prefixCache?: boolean;
}

export interface EngineOptions extends LoadOptions, ServingOptions {
  /** Options for the processor (chat template, resampler, decode limits, remote-image policy). */
  readonly processor?: LoadProcessorOptions;
  /** For a Hugging Face model id (`Qwen/Qwen3-VL-2B-Instruct`): revision, cache, endpoint, token, offline, progress. */
  readonly hub?: HubOptions;
  /** Vision-feature cache budget in MB (default 256; 0 turns it off): images seen again skip the tower. */
  readonly visionCacheMb?: number;
}

/** The Hub module is Node-only (files, hashes): loaded by a specifier bundlers leave alone, so browser builds skip it. */
async function resolveHubArg(dir: string, hub: HubOptions | undefined): Promise<string> {
  if (typeof process !== 'object' || !process.versions?.node) throw new TypeError(`'${dir}': Hugging Face ids need Node (its cache is on disk); in a browser pass the checkpoint's URL`);
  const spec = '../io/hub.js';
  const mod = (await import(/* @vite-ignore */ spec)) as typeof import('../io/hub.js');
  return mod.resolveModelArg(dir, hub);
}

/** `org/name` with no folder of that name: a Hub id, fetched into (or found in) the Hugging Face cache. */
const HUB_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;

/** Stores nothing: the uncached path takes the same per-item route as a cache miss. */
const NO_CACHE = new VisionCache(0);

/** Default pool size in tokens when neither bytes nor tokens are given (webgpu stores f32 and often runs in a page). */
const DEFAULT_KV_TOKENS = { cpu: 16384, webgpu: 4096 };

/** Tokens per scheduler step unless --max-batch-tokens says otherwise: a prompt is prefilled in chunks of this size. */
export const defaultBatchTokens = (backend: string): number => (backend === 'webgpu' ? 1024 : 512);

export class Qwen3VL extends Qwen3VLModel implements ChatModel {
  private kv: PagedKv | null = null;
  private seed: string | null = null;
  private sched: Scheduler | null = null;
  /** Features of images and videos seen before (null: off). */
  readonly visionCache: VisionCache | null;

  constructor(
    core: Qwen3VLModel,
    /** Null when the folder has no tokenizer (forward/decode still work on token ids). */
    readonly processor: Qwen3VLProcessor | null,
    readonly serving: ServingOptions & { readonly visionCacheMb?: number; readonly weightsId?: string } = {},
  ) {
    super(core.backend, core.config, core.weights, core.source);
    const mb = serving.visionCacheMb ?? DEFAULT_VISION_CACHE_MB;
    this.visionCache = mb === 0 ? null : VisionCache.ofMb(mb);
    const ctx = serving.ctxSize;
    if (ctx !== undefined && (!Number.isInteger(ctx) || ctx < 2 || ctx > core.config.text.maxPositionEmbeddings)) {
      throw new RangeError(`ctxSize must be an integer in [2, ${core.config.text.maxPositionEmbeddings}] (got ${String(ctx)})`);
    }
  }

  get contextLength(): number {
    return this.serving.ctxSize ?? this.config.text.maxPositionEmbeddings;
  }

  get vocabSize(): number {
    return this.config.text.vocabSize;
  }

  /** The paged KV cache (allocated on first use). */
  get kvCache(): PagedKv {
    if (!this.kv) {
      const t = this.config.text;
      this.kv = new PagedKv(this.backend, t.numHiddenLayers, t.numKeyValueHeads * t.headDim, this.kvOptions());
    }
    return this.kv;
  }

  private kvOptions() {
    return {
      ...this.serving.kvCache,
      defaultTokens: Math.max(KV_BLOCK, Math.min(this.contextLength, this.backend.name === 'webgpu' ? DEFAULT_KV_TOKENS.webgpu : DEFAULT_KV_TOKENS.cpu)),
    };
  }

  /**
   * Throws MemoryBudgetError, before anything is allocated, when the KV pool these options ask for (with a prefill
   * chunk's working memory and the vision cache's budget) exceeds `availableBytes` (host memory the process can take).
   */
  checkMemory(availableBytes: number): void {
    const t = this.config.text;
    const plan = PagedKv.plan(this.backend, t.numHiddenLayers, t.numKeyValueHeads * t.headDim, this.kvOptions());
    checkKvPoolFits(this.config, plan.tokens, plan.dtype, availableBytes, this.serving.maxBatchTokens ?? 512, this.visionCache?.capacityBytes ?? 0);
  }

  /** The scheduler every conversation on this model runs through. */
  get scheduler(): Scheduler {
    if (!this.sched) {
      const gpu = this.backend.name === 'webgpu';
      const maxSeqs = this.serving.maxConcurrent ?? (gpu ? 32 : 8);
      this.sched = new Scheduler(batchModel(this, this.kvCache, this.contextLength), {
        maxSeqs,
        maxBatchTokens: Math.max(maxSeqs, this.serving.maxBatchTokens ?? defaultBatchTokens(this.backend.name)),
      }) as Scheduler;
    }
    return this.sched;
  }

  /**
   * The chain seed of this model's KV blocks (null: prefix reuse off): the checkpoint, weight format and KV format, so
   * blocks computed under anything else never match.
   */
  get prefixSeed(): string | null {
    if (this.serving.prefixCache === false) return null;
    this.seed ??= chainSeed(`${this.source?.dir ?? 'in-memory'}|${this.config.modelType}|weights=${this.serving.weightsId ?? 'as stored'}|kv=${this.kvCache.dtype}|block=${KV_BLOCK}`);
    return this.seed;
  }

  /** A prepared prompt's images and videos with their content hashes and placeholder runs. */
  mediaItems(prompt: MediaPrompt): MediaItem[] {
    return modelMediaItems(this, prompt);
  }

  /** Features of each item, through `cache` when given (each item runs through the tower alone). */
  encodeItems(items: readonly MediaItem[], cache: VisionCache | null): Promise<EncodedVision[]> {
    return encodeItems(this, items, cache ?? NO_CACHE);
  }

  /** KV bytes per token for each storage format. */
  kvBytesPerToken(dtype: KvDType): number {
    const t = this.config.text;
    return kvBytesPerToken(t.numHiddenLayers, t.numKeyValueHeads * t.headDim, dtype);
  }

  ropeIndex(ids: Int32Array, media: MediaInputs): { positions: [Int32Array, Int32Array, Int32Array]; ropeDelta: number } {
    const c = this.config;
    const r = ropeIndex(ids, { imageTokenId: c.imageTokenId, videoTokenId: c.videoTokenId, spatialMergeSize: c.vision.spatialMergeSize }, media.imageGridThw ?? [], media.videoGridThw ?? []);
    return { positions: r.positions, ropeDelta: r.ropeDelta };
  }

  /** Vision features of a prepared prompt, each image and video encoded alone, through `cache` when given. */
  encodeMedia(prompt: MediaPrompt, cache: VisionCache | null): Promise<PrecomputedVision> {
    return encodeMedia(this, prompt, cache ?? NO_CACHE);
  }

  /** Greedy decoding with a KV cache: `maxNewTokens` ids (stops early on one of `stopIds`); pipelined on the device. */
  generateGreedy(inp: ForwardInputs, maxNewTokens: number, stopIds: readonly number[] = []): Promise<number[]> {
    return generateGreedy(this, inp, maxNewTokens, stopIds);
  }

  /** Pipelined greedy steps over `cache` (see generate/greedy.ts). */
  greedySteps(cache: KvCache): GreedySteps {
    return greedySteps(this, cache);
  }

  /** Greedy decoding after `first` (not yet in the cache): up to `n` ids, stopping after one of `stopIds`. */
  decodeGreedyMany(cache: KvCache, first: number, n: number, stopIds: readonly number[] = []): Promise<number[]> {
    return decodeGreedyMany(this, cache, first, n, stopIds);
  }

  /** Stream a reply to `messages`: text, reasoning and tool-call events, then usage and the finish reason. */
  chat(messages: readonly ChatMessage[], options: ChatOptions = {}): AsyncGenerator<ChatEvent> {
    return streamChat(this, this.requireProcessor(), messages, { visionCache: this.visionCache, ...options });
  }

  /** The whole reply at once. */
  complete(messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return chat(this, this.requireProcessor(), messages, { visionCache: this.visionCache, ...options });
  }

  override dispose(): void {
    this.kv?.dispose();
    this.kv = null;
    super.dispose();
  }

  private requireProcessor(): Qwen3VLProcessor {
    if (!this.processor) throw new Error(`${this.source?.dir ?? 'this model'} has no tokenizer.json, so it cannot chat; use forward() with token ids`);
    return this.processor;
  }
}

/** Load a checkpoint folder, URL or Hugging Face model id: weights onto the chosen backend, and the processor when a tokenizer is present. */
export async function loadModel(dir: SourceLike, opts: EngineOptions = {}): Promise<Qwen3VL> {
  if (typeof dir === 'string' && !isUrl(dir) && (HUB_ID.test(dir) || opts.hub)) dir = await resolveHubArg(dir, opts.hub);
  const src = await openSource(dir, opts.cache);
  // Load the processor first: it is cheap and fails fast on a broken tokenizer or template.
  const processor = (await src.exists('tokenizer.json')) ? await loadProcessor(src, opts.processor) : null;
  if (opts.visionCacheMb !== undefined) VisionCache.ofMb(opts.visionCacheMb); // a bad size fails before the weights load
  const core = await loadCore(src, opts);
  const model = new Qwen3VL(core, processor, {
    kvCache: opts.kvCache,
    ctxSize: opts.ctxSize,
    maxConcurrent: opts.maxConcurrent,
    maxBatchTokens: opts.maxBatchTokens,
    visionCacheMb: opts.visionCacheMb,
    prefixCache: opts.prefixCache,
    weightsId: opts.dtype ?? 'as stored',
  });
  // Host memory: the KV pool must fit beside the weights (now loaded) before the first request allocates it. GPU
  // memory is the device's to refuse.
  const avail = model.backend.name === 'webgpu' ? null : await availableMemory();
  try {
    if (avail !== null) model.checkMemory(avail);
    if (model.serving.prefixCache !== false) void model.prefixSeed; // a bad KV option fails here, not on the first request
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

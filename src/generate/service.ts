// What the CLI, the server's worker and tests drive: the engine (generate/engine.ts) behind one
// `stream(messages, options)` call, with a status (running and waiting sequences, KV blocks) for /health and /metrics.

import path from 'node:path';
import type { BackendName, Precision } from '../backend/index.js';
import { isUrl } from '../io/source.js';
import { ProcessorConfigError, type ChatMessage } from '../processor/index.js';
import type { WeightFormat } from '../weights/convert.js';
import { streamChat, type ChatEvent, type ChatModel, type ChatOptions, type ChatProcessor } from './chat.js';
import { loadModel, type ServingOptions } from './engine.js';
import type { VisionCache, VisionCacheStats } from './visionCache.js';
import { KV_BLOCK } from '../nn/kvPool.js';

export interface EngineInfo {
  /** The served model name (the checkpoint folder's name unless given). */
  readonly id: string;
  readonly dir: string;
  readonly modelType: string;
  readonly contextLength: number;
  readonly backend: string;
}

export interface EngineStatus {
  readonly phase: 'idle' | 'prefill' | 'decode';
  /** Prompt tokens processed and total of the latest prefill still running. */
  readonly prefill: { readonly done: number; readonly total: number } | null;
  /** The vision-feature cache's counters (absent when it is off). */
  readonly visionCache?: VisionCacheStats;
  /** Sequences in the batch and waiting for a slot (the scheduler's view). */
  readonly running?: number;
  readonly waiting?: number;
  /** KV cache blocks in use and in the pool, and tokens per block. */
  readonly kvBlocksUsed?: number;
  readonly kvBlocksTotal?: number;
  readonly preemptions?: number;
  /** Prefix reuse (absent when off): prompt tokens admitted and found cached (counters), blocks cached, evictions. */
  readonly prefixCache?: PrefixCacheStatus;
}

export interface PrefixCacheStatus {
  readonly promptTokens: number;
  readonly hitTokens: number;
  /** hitTokens / promptTokens (0 before any request). */
  readonly hitRate: number;
  readonly cachedBlocks: number;
  readonly cachedTokens: number;
  readonly evictions: number;
}

/** The seam between adapters and inference: the worker-backed engine and test fakes implement it too. */
export interface ChatEngine {
  readonly info: EngineInfo;
  /** False once the engine can no longer serve (its worker died); /health then answers 503. */
  readonly alive?: boolean;
  status(): EngineStatus;
  /** Stream one generation; `options.signal` cancels it (it then ends with finish reason 'cancelled'). */
  stream(messages: readonly unknown[], options: ChatOptions): AsyncGenerator<ChatEvent>;
  close(): Promise<void>;
  /** Collect garbage where the engine can (Node with --expose-gc); for leak measurements. */
  gc?(): void;
}

export interface OpenEngineOptions extends ServingOptions {
  readonly backend?: BackendName;
  readonly dtype?: WeightFormat;
  readonly precision?: Precision;
  /** Served model name (default: the folder's base name). */
  readonly id?: string;
  /** Vision-feature cache budget in MB (0: off; default generate/visionCache's). */
  readonly visionCacheMb?: number;
  readonly onLoadProgress?: (p: { loadedBytes: number; totalBytes: number }) => void;
}

/** A model the local engine can run: the chat interface and a way to free it. */
export type EngineModel = ChatModel & { dispose(): void };

/** The in-thread engine: model and processor in this thread (the CLI, and the server's worker). */
export class LocalEngine implements ChatEngine {
  /** Prefills in progress (done, total) by stream. */
  private readonly prefills = new Map<object, { done: number; total: number }>();
  private streams = 0;

  constructor(
    readonly model: EngineModel,
    readonly processor: ChatProcessor,
    readonly info: EngineInfo,
    readonly visionCache: VisionCache | null = null,
  ) {}

  status(): EngineStatus {
    const s = this.model.scheduler.stats();
    const pre = [...this.prefills.values()].at(-1) ?? null;
    const phase = this.streams === 0 ? 'idle' : pre ? 'prefill' : 'decode';
    const p = s.prefix;
    const prefixCache: PrefixCacheStatus | undefined = this.model.prefixSeed
      ? { promptTokens: p.promptTokens, hitTokens: p.hitTokens, hitRate: p.promptTokens ? p.hitTokens / p.promptTokens : 0, cachedBlocks: p.cachedBlocks, cachedTokens: p.cachedBlocks * KV_BLOCK, evictions: p.evictions }
      : undefined;
    return {
      phase, prefill: pre, running: s.running, waiting: s.waiting, kvBlocksUsed: s.blocksUsed, kvBlocksTotal: s.blocksTotal, preemptions: s.preemptions,
      ...(prefixCache && { prefixCache }),
      ...(this.visionCache && { visionCache: this.visionCache.stats() }),
    };
  }

  async *stream(messages: readonly unknown[], options: ChatOptions): AsyncGenerator<ChatEvent> {
    const key = {};
    this.streams++;
    const opts: ChatOptions = {
      visionCache: this.visionCache,
      ...options,
      onPrompt: (n) => {
        this.prefills.set(key, { done: 0, total: n });
        options.onPrompt?.(n);
      },
      onPrefillProgress: (done, total) => {
        if (done < total) this.prefills.set(key, { done, total });
        else this.prefills.delete(key);
        options.onPrefillProgress?.(done, total);
      },
    };
    try {
      // Wire messages were shaped by resolveMessages; the processor validates every part again.
      yield* streamChat(this.model, this.processor, messages as readonly ChatMessage[], opts);
    } finally {
      this.prefills.delete(key);
      this.streams--;
    }
  }

  async close(): Promise<void> {
    this.model.dispose();
  }
}

/** Load a checkpoint through the library's front door (generate/engine.ts) and wrap it for the adapters. */
export async function openEngine(dir: string, opts: OpenEngineOptions = {}): Promise<LocalEngine> {
  const model = await loadModel(dir, {
    backend: opts.backend ?? 'cpu',
    dtype: opts.dtype,
    precision: opts.precision,
    onProgress: opts.onLoadProgress,
    kvCache: opts.kvCache,
    ctxSize: opts.ctxSize,
    maxConcurrent: opts.maxConcurrent,
    maxBatchTokens: opts.maxBatchTokens,
    visionCacheMb: opts.visionCacheMb,
    prefixCache: opts.prefixCache,
  });
  if (!model.processor) {
    model.dispose();
    throw new ProcessorConfigError(`${dir} has no tokenizer.json, so it cannot chat`);
  }
  const info: EngineInfo = {
    id: opts.id ?? (isUrl(dir) ? urlModelId(dir) : path.basename(path.resolve(dir))),
    dir: isUrl(dir) ? dir : path.resolve(dir),
    modelType: model.config.modelType,
    contextLength: model.contextLength,
    backend: model.backend.name,
  };
  return new LocalEngine(model, model.processor, info, model.visionCache);
}

/** The model name in a checkpoint URL: `…/Qwen/Qwen3-VL-2B-Instruct/resolve/main/` gives Qwen3-VL-2B-Instruct. */
function urlModelId(url: string): string {
  const parts = new URL(url).pathname.split('/').filter(Boolean);
  const r = parts.lastIndexOf('resolve');
  return (r > 0 ? parts[r - 1] : parts.at(-1)) ?? new URL(url).host;
}

// What the server and CLI drive: a loaded model + processor behind one `stream(messages, options)` call (the library's
// streamChat), with a status (idle / prefill / decode) the server reports while a generation runs.

import path from 'node:path';
import type { BackendName, Precision } from '../backend/index.js';
import { streamChat, type ChatEvent, type ChatOptions, type ChatProcessor } from '../generate/chat.js';
import { loadModel } from '../generate/engine.js';
import { isUrl } from '../io/source.js';
import type { Qwen3VLModel } from '../models/qwen3vl/model.js';
import { ProcessorConfigError, type ChatMessage } from '../processor/index.js';
import type { WeightFormat } from '../weights/convert.js';

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
  /** Prompt tokens processed and total, during a prefill. */
  readonly prefill: { readonly done: number; readonly total: number } | null;
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

export interface OpenEngineOptions {
  readonly backend?: BackendName;
  readonly dtype?: WeightFormat;
  readonly precision?: Precision;
  /** Served model name (default: the folder's base name). */
  readonly id?: string;
  readonly onLoadProgress?: (p: { loadedBytes: number; totalBytes: number }) => void;
}

/** The in-thread engine: model and processor in this thread (the CLI, and the server's worker). */
export class LocalEngine implements ChatEngine {
  private current: EngineStatus = { phase: 'idle', prefill: null };

  constructor(
    readonly model: Qwen3VLModel,
    readonly processor: ChatProcessor,
    readonly info: EngineInfo,
  ) {}

  status(): EngineStatus {
    return this.current;
  }

  async *stream(messages: readonly unknown[], options: ChatOptions): AsyncGenerator<ChatEvent> {
    this.current = { phase: 'prefill', prefill: null };
    const opts: ChatOptions = {
      ...options,
      onPrompt: (n) => {
        this.current = { phase: 'prefill', prefill: { done: 0, total: n } };
        options.onPrompt?.(n);
      },
      onPrefillProgress: (done, total) => {
        this.current = done < total ? { phase: 'prefill', prefill: { done, total } } : { phase: 'decode', prefill: null };
        options.onPrefillProgress?.(done, total);
      },
    };
    try {
      // Wire messages were shaped by resolveMessages; the processor validates every part again.
      yield* streamChat(this.model, this.processor, messages as readonly ChatMessage[], opts);
    } finally {
      this.current = { phase: 'idle', prefill: null };
    }
  }

  async close(): Promise<void> {
    this.model.dispose();
  }
}

/** Load a checkpoint through the library's front door (generate/engine.ts) and wrap it for the adapters. */
export async function openEngine(dir: string, opts: OpenEngineOptions = {}): Promise<LocalEngine> {
  const model = await loadModel(dir, { backend: opts.backend ?? 'cpu', dtype: opts.dtype, precision: opts.precision, onProgress: opts.onLoadProgress });
  if (!model.processor) {
    model.dispose();
    throw new ProcessorConfigError(`${dir} has no tokenizer.json, so it cannot chat`);
  }
  const info: EngineInfo = {
    id: opts.id ?? (isUrl(dir) ? urlModelId(dir) : path.basename(path.resolve(dir))),
    dir: isUrl(dir) ? dir : path.resolve(dir),
    modelType: model.config.modelType,
    contextLength: model.config.text.maxPositionEmbeddings,
    backend: model.backend.name,
  };
  return new LocalEngine(model, model.processor, info);
}

/** The model name in a checkpoint URL: `…/Qwen/Qwen3-VL-2B-Instruct/resolve/main/` gives Qwen3-VL-2B-Instruct. */
function urlModelId(url: string): string {
  const parts = new URL(url).pathname.split('/').filter(Boolean);
  const r = parts.lastIndexOf('resolve');
  return (r > 0 ? parts[r - 1] : parts.at(-1)) ?? new URL(url).host;
}

// What the server and CLI drive: a loaded model + processor behind one `stream(messages, options)` call (the library's
// streamChat), with a status (idle / prefill / decode) the server reports while a generation runs.

import path from 'node:path';
import type { BackendName } from '../backend/index.js';
import { streamChat, type ChatEvent, type ChatOptions, type ChatProcessor } from '../generate/chat.js';
import { loadModel } from '../models/qwen3vl/load.js';
import type { Qwen3VLModel } from '../models/qwen3vl/model.js';
import type { ChatMessage } from '../processor/index.js';
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
  status(): EngineStatus;
  /** Stream one generation; `options.signal` cancels it (it then ends with finish reason 'cancelled'). */
  stream(messages: readonly unknown[], options: ChatOptions): AsyncGenerator<ChatEvent>;
  close(): Promise<void>;
}

export interface OpenEngineOptions {
  readonly backend?: BackendName;
  readonly dtype?: WeightFormat;
  /** Served model name (default: the folder's base name). */
  readonly id?: string;
  readonly onLoadProgress?: (p: { loadedBytes: number; totalBytes: number }) => void;
}

/** Load the processor (from the processor module; see the lead's generate/engine.ts once it lands). */
async function loadChatProcessor(dir: string): Promise<ChatProcessor> {
  // Resolved at run time: the processor module lands on another branch; this keeps the type seam narrow.
  const spec = '../processor/index.js';
  const mod = (await import(spec)) as { loadProcessor(dir: string): Promise<ChatProcessor> };
  return mod.loadProcessor(dir);
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

export async function openEngine(dir: string, opts: OpenEngineOptions = {}): Promise<LocalEngine> {
  const processor = await loadChatProcessor(dir);
  const model = await loadModel(dir, { backend: opts.backend ?? 'ref', dtype: opts.dtype, onProgress: opts.onLoadProgress });
  const info: EngineInfo = {
    id: opts.id ?? path.basename(path.resolve(dir)),
    dir: path.resolve(dir),
    modelType: model.config.modelType,
    contextLength: model.config.text.maxPositionEmbeddings,
    backend: opts.backend ?? 'ref',
  };
  return new LocalEngine(model, processor, info);
}

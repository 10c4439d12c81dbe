// The library's front door: a loaded Qwen3-VL model together with its processor, so a script can chat with
// images and video in one call. CLI, server and web page all go through this.

import { type SourceLike, openSource } from '../io/source.js';
import { loadModel as loadCore, type LoadOptions } from '../models/qwen3vl/load.js';
import { Qwen3VLModel } from '../models/qwen3vl/model.js';
import { loadProcessor, type ChatMessage, type LoadProcessorOptions, type Qwen3VLProcessor } from '../processor/index.js';
import { chat, streamChat, type ChatEvent, type ChatOptions, type ChatResult } from './chat.js';

export interface EngineOptions extends LoadOptions {
  /** Options for the processor (chat template, resampler, decode limits, remote-image policy). */
  readonly processor?: LoadProcessorOptions;
}

export class Qwen3VL extends Qwen3VLModel {
  constructor(
    core: Qwen3VLModel,
    /** Null when the folder has no tokenizer (forward/decode still work on token ids). */
    readonly processor: Qwen3VLProcessor | null,
  ) {
    super(core.backend, core.config, core.weights, core.source);
  }

  /** Stream a reply to `messages`: text, reasoning and tool-call events, then usage and the finish reason. */
  chat(messages: readonly ChatMessage[], options: ChatOptions = {}): AsyncGenerator<ChatEvent> {
    return streamChat(this, this.requireProcessor(), messages, options);
  }

  /** The whole reply at once. */
  complete(messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return chat(this, this.requireProcessor(), messages, options);
  }

  private requireProcessor(): Qwen3VLProcessor {
    if (!this.processor) throw new Error(`${this.source?.dir ?? 'this model'} has no tokenizer.json, so it cannot chat; use forward() with token ids`);
    return this.processor;
  }
}

/** Load a checkpoint folder or URL: weights onto the chosen backend, and the processor when a tokenizer is present. */
export async function loadModel(dir: SourceLike, opts: EngineOptions = {}): Promise<Qwen3VL> {
  const src = await openSource(dir, opts.cache);
  // Load the processor first: it is cheap and fails fast on a broken tokenizer or template.
  const processor = (await src.exists('tokenizer.json')) ? await loadProcessor(src, opts.processor) : null;
  const core = await loadCore(src, opts);
  return new Qwen3VL(core, processor);
}

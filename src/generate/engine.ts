// The library's front door: a loaded Qwen3-VL model together with its processor, so a script can chat with
// images and video in one call. CLI, server and web page all go through this.

import { type SourceLike, openSource } from '../io/source.js';
import { loadModel as loadCore, type LoadOptions } from '../models/qwen3vl/load.js';
import { Qwen3VLModel } from '../models/qwen3vl/model.js';
import { loadProcessor, type ChatMessage, type LoadProcessorOptions, type Qwen3VLProcessor } from '../processor/index.js';
import { chat, streamChat, type ChatEvent, type ChatOptions, type ChatResult } from './chat.js';
import { DEFAULT_VISION_CACHE_MB, VisionCache } from './visionCache.js';

export interface EngineOptions extends LoadOptions {
  /** Options for the processor (chat template, resampler, decode limits, remote-image policy). */
  readonly processor?: LoadProcessorOptions;
  /** Vision-feature cache budget in MB (default 256; 0 turns it off): images seen again skip the tower. */
  readonly visionCacheMb?: number;
}

export class Qwen3VL extends Qwen3VLModel {
  /** Features of images and videos seen before (null: off). */
  readonly visionCache: VisionCache | null;

  constructor(
    core: Qwen3VLModel,
    /** Null when the folder has no tokenizer (forward/decode still work on token ids). */
    readonly processor: Qwen3VLProcessor | null,
    opts: { readonly visionCacheMb?: number } = {},
  ) {
    super(core.backend, core.config, core.weights, core.source);
    const mb = opts.visionCacheMb ?? DEFAULT_VISION_CACHE_MB;
    this.visionCache = mb === 0 ? null : VisionCache.ofMb(mb);
  }

  /** Stream a reply to `messages`: text, reasoning and tool-call events, then usage and the finish reason. */
  chat(messages: readonly ChatMessage[], options: ChatOptions = {}): AsyncGenerator<ChatEvent> {
    return streamChat(this, this.requireProcessor(), messages, { visionCache: this.visionCache, ...options });
  }

  /** The whole reply at once. */
  complete(messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return chat(this, this.requireProcessor(), messages, { visionCache: this.visionCache, ...options });
  }

  private requireProcessor(): Qwen3VLProcessor {
    if (!this.processor) throw new Error(`${this.source?.dir ?? 'this model'} has no tokenizer.json, so it cannot chat; use forward() with token ids`);
    return this.processor;
  }
}

/** Load a checkpoint folder or URL: weights onto the chosen backend, and the processor when a tokenizer is present. */
export async function loadModel(dir: SourceLike, opts: EngineOptions = {}): Promise<Qwen3VL> {
  const src = await openSource(dir);
  // Load the processor first: it is cheap and fails fast on a broken tokenizer or template.
  const processor = (await src.exists('tokenizer.json')) ? await loadProcessor(src, opts.processor) : null;
  if (opts.visionCacheMb !== undefined) VisionCache.ofMb(opts.visionCacheMb); // a bad size fails before the weights load
  const core = await loadCore(src, opts);
  return new Qwen3VL(core, processor, opts);
}

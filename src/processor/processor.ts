// The processor entry point: loadProcessor(dir) reads a checkpoint's tokenizer, chat template and pre-processor
// configs; prepare(messages) renders the chat, loads and processes every image and video in prompt order,
// expands the placeholders and tokenises — the model inputs of transformers' Qwen3VLProcessor.

import { ChatTemplate, loadChatTemplate, type BuiltinFlavour } from '../chat/template.js';
import { type SourceLike, openSource } from '../io/source.js';
import { collectMedia, type ChatMessage, type ImageInput, type ToolSpec, type VideoInput, type VideoOptions } from '../chat/messages.js';
import { QwenTokenizer } from '../tokenizer/tokenizer.js';
import { loadImageConfig, loadVideoConfig, type ImageProcessorConfig, type VideoProcessorConfig } from './config.js';
import { InputLimitError, InvalidInputError } from '../errors.js';
import { loadImage, processImage, type ProcessedVisual } from './image.js';
import { checkMediaCounts, checkPixelBounds, decodeLimit, type InputLimits } from './limits.js';
import { expandPrompt, IMAGE_PAD, mmTokenTypes, VIDEO_PAD, type VideoExpansion } from './prompt.js';
import type { Resampler } from './resize.js';
import type { FetchHook } from './source.js';
import { describeSource } from './source.js';
import { processVideo, type ProcessedVideo } from './video.js';

export interface LoadProcessorOptions {
  /** Jinja source to use instead of the checkpoint's template. */
  chatTemplate?: string;
  /** Built-in template flavour when the checkpoint has none (default 'instruct'). */
  builtinTemplate?: BuiltinFlavour;
  /** 'torchvision' (default, the reference's default backend) or 'pil' (its slow backend). */
  resampler?: Resampler;
  /** Decode limit in pixels (decompression-bomb guard). */
  maxDecodePixels?: number;
  /** Allow plain fetch of http(s) images when no fetchImage hook is given (default false). */
  allowRemote?: boolean;
  /** Hook for http(s) image URLs (the server's policy lives there). */
  fetchImage?: FetchHook;
  /** Reproduce transformers 5.17's extra outer video wrappers (default false: the training format). */
  keepOuterVideoWrappers?: boolean;
}

export interface PrepareOptions {
  addGenerationPrompt?: boolean;
  tools?: ToolSpec[];
  addVisionId?: boolean;
  /** Pixel bounds for every image of this call (a part's own minPixels/maxPixels win). */
  minPixels?: number;
  maxPixels?: number;
  /** Defaults for every video of this call (a part's own options win). */
  video?: VideoOptions;
  /** Extra template variables. */
  templateVars?: Record<string, unknown>;
  /** Bounds for inputs from untrusted callers (see limits.ts). */
  limits?: InputLimits;
  /** Stops the work between media and kills a running video decoder. */
  signal?: AbortSignal;
}

export interface PreparedInputs {
  inputIds: number[];
  mmTokenTypeIds: number[];
  /** The expanded prompt text that was tokenised. */
  text: string;
  /** [patches, 1536] row-major. */
  pixelValues?: Float32Array;
  imageGridThw?: number[][];
  pixelValuesVideos?: Float32Array;
  videoGridThw?: number[][];
  /** Seconds per temporal patch of each video, as shown in the prompt. */
  videoTimestamps?: number[][];
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export class Qwen3VLProcessor {
  readonly imageTokenId: number;
  readonly videoTokenId: number;

  constructor(
    readonly tokenizer: QwenTokenizer,
    readonly chatTemplate: ChatTemplate,
    readonly imageConfig: ImageProcessorConfig,
    readonly videoConfig: VideoProcessorConfig,
    readonly options: LoadProcessorOptions = {},
  ) {
    this.imageTokenId = tokenizer.requireId(IMAGE_PAD);
    this.videoTokenId = tokenizer.requireId(VIDEO_PAD);
  }

  /** The chat prompt before expansion (placeholders not yet multiplied). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: PrepareOptions = {}): string {
    collectMedia(messages);
    return this.chatTemplate.render(messages, { addGenerationPrompt: opts.addGenerationPrompt, tools: opts.tools, addVisionId: opts.addVisionId, extra: opts.templateVars });
  }

  /** One image through the image pipeline. */
  async processImage(src: ImageInput, bounds: { minPixels?: number; maxPixels?: number } = {}, limits?: InputLimits): Promise<ProcessedVisual> {
    const name = describeSource(src);
    const maxDecodePixels = decodeLimit(this.options.maxDecodePixels, limits);
    const img = await loadImage(src, { ...this.options, maxDecodePixels }, name);
    return processImage(img, this.imageConfig, bounds, this.options.resampler, name, maxDecodePixels);
  }

  /** One video (file or frame list) through the video pipeline. */
  processVideo(src: VideoInput, opts: VideoOptions = {}, limits?: InputLimits, signal?: AbortSignal): Promise<ProcessedVideo> {
    const run = { ...this.options, maxDecodePixels: decodeLimit(this.options.maxDecodePixels, limits), maxVideoSeconds: limits?.maxVideoSeconds, maxVideoFrames: limits?.maxVideoFrames, signal };
    return processVideo(src, this.videoConfig, opts, run);
  }

  /** Expand a rendered prompt for the given grids and tokenise it. */
  encodeExpanded(text: string, imageGrids: readonly (readonly number[])[], videos: readonly VideoExpansion[]): { text: string; inputIds: number[]; mmTokenTypeIds: number[] } {
    const expanded = expandPrompt(text, imageGrids, videos, { mergeSize: this.imageConfig.mergeSize, keepOuterVideoWrappers: this.options.keepOuterVideoWrappers });
    const inputIds = this.tokenizer.encode(expanded);
    return { text: expanded, inputIds, mmTokenTypeIds: mmTokenTypes(inputIds, this.imageTokenId, this.videoTokenId) };
  }

  /** Everything the model needs for `messages`. */
  async prepare(messages: readonly ChatMessage[], opts: PrepareOptions = {}): Promise<PreparedInputs> {
    const media = collectMedia(messages);
    const limits = opts.limits;
    checkMediaCounts(media, limits);
    const prompt = this.chatTemplate.render(messages, { addGenerationPrompt: opts.addGenerationPrompt, tools: opts.tools, addVisionId: opts.addVisionId, extra: opts.templateVars });
    if (limits?.maxPromptChars !== undefined && prompt.length > limits.maxPromptChars) {
      throw new InputLimitError('max_prompt_chars', `the prompt has ${prompt.length} characters; at most ${limits.maxPromptChars} are accepted before tokenising`);
    }
    const images: ProcessedVisual[] = [];
    const videos: ProcessedVideo[] = [];
    for (const m of media) {
      opts.signal?.throwIfAborted();
      if (m.kind === 'image') {
        const bounds = { minPixels: m.minPixels ?? opts.minPixels, maxPixels: m.maxPixels ?? opts.maxPixels };
        checkPixelBounds(m.where, bounds, this.imageConfig.maxPixels, limits);
        images.push(await this.processImage(m.source, bounds, limits));
      } else {
        const defined = Object.fromEntries(Object.entries(m).filter(([k, v]) => v !== undefined && k !== 'kind' && k !== 'source' && k !== 'where'));
        const vo: VideoOptions = { ...opts.video, ...defined };
        checkPixelBounds(m.where, vo, this.videoConfig.maxPixels, limits);
        videos.push(await this.processVideo(m.source, vo, limits, opts.signal));
      }
    }
    opts.signal?.throwIfAborted();
    const imagePads = prompt.split(IMAGE_PAD).length - 1;
    const videoPads = prompt.split(VIDEO_PAD).length - 1;
    if (imagePads !== images.length || videoPads !== videos.length) {
      throw new InvalidInputError(
        `the rendered prompt has ${imagePads} image and ${videoPads} video placeholders but the messages carry ${images.length} images and ${videos.length} videos ` +
          '(the chat template drops media in some positions, e.g. images in a system message)',
      );
    }
    const enc = this.encodeExpanded(
      prompt,
      images.map((i) => i.grid),
      videos.map((v) => ({ grid: v.grid, timestamps: v.timestamps })),
    );
    const out: PreparedInputs = { inputIds: enc.inputIds, mmTokenTypeIds: enc.mmTokenTypeIds, text: enc.text };
    if (images.length) {
      out.pixelValues = concat(images.map((i) => i.data));
      out.imageGridThw = images.map((i) => [...i.grid]);
    }
    if (videos.length) {
      out.pixelValuesVideos = concat(videos.map((v) => v.data));
      out.videoGridThw = videos.map((v) => [...v.grid]);
      out.videoTimestamps = videos.map((v) => v.timestamps);
    }
    return out;
  }
}

/** Load the processor of a checkpoint folder or URL (tokenizer.json, chat template, pre-processor configs). */
export async function loadProcessor(where: SourceLike, opts: LoadProcessorOptions = {}): Promise<Qwen3VLProcessor> {
  const dir = await openSource(where);
  // Small files first, so a broken config fails before the (slow) tokenizer load.
  const [tpl, imageConfig, videoConfig] = await Promise.all([
    loadChatTemplate(dir, { chatTemplate: opts.chatTemplate, builtin: opts.builtinTemplate }),
    loadImageConfig(dir),
    loadVideoConfig(dir),
  ]);
  const tokenizer = await QwenTokenizer.fromDir(dir);
  const chat = new ChatTemplate(tpl.source, tpl.origin, { eos_token: tokenizer.eosToken, pad_token: tokenizer.padToken, bos_token: null });
  return new Qwen3VLProcessor(tokenizer, chat, imageConfig, videoConfig, opts);
}

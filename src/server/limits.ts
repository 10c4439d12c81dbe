// The server's resource limits in one place: defaults (documented in SECURITY.md and `serve --help`), the cheap checks
// made on a parsed request before any media is fetched, and what the processor enforces per request.

import type { ChatOptions } from '../generate/chat.js';
import type { InputLimits } from '../processor/index.js';
import { ApiError, type ChatRequest } from './protocol.js';

export interface ServerLimits {
  /** Largest request body, bytes; media a request brings in by URL or path count against the same budget. */
  readonly maxBodyBytes: number;
  /** Largest single image or video (data URL, download or local file), bytes. */
  readonly maxMediaBytes: number;
  /** Images per request (image parts; frames of a video count as video). */
  readonly maxImages: number;
  /** Videos per request. */
  readonly maxVideos: number;
  /** Decoded pixels of one image or video frame, checked from the header before decoding. */
  readonly maxImagePixels: number;
  /** Length of a video file, seconds. */
  readonly maxVideoSeconds: number;
  /** Frames of one video: frame lists longer than this are refused; files are sampled to at most this many. */
  readonly maxVideoFrames: number;
  /** Prompt tokens (text and visual); text beyond PROMPT_CHARS_PER_TOKEN characters per token is refused unread. */
  readonly maxPromptTokens: number;
  /** Completion tokens: the ceiling for max_tokens, and its value when a request leaves it out. */
  readonly maxTokens: number;
  /** Generations running at once: the sequences the engine batches together (its scheduler's batch size). */
  readonly maxConcurrent: number;
  /**
   * Requests waiting for a batch slot; 429 beyond. Requests in progress (uploading, fetching media, waiting or
   * generating) are capped at maxConcurrent + maxQueue: beyond, 429 at once with the body unread.
   */
  readonly maxQueue: number;
  /** From arrival to the last byte of the answer, ms; then the generation is cancelled (408 or a final SSE error). */
  readonly requestTimeoutMs: number;
  /** Headers and body must arrive within this, ms (slow uploads hold a request slot). */
  readonly uploadTimeoutMs: number;
  /** One remote media fetch (DNS, redirects, body), ms. */
  readonly fetchTimeoutMs: number;
}

/** Characters of prompt text allowed per prompt token before tokenising (English averages about 4). */
export const PROMPT_CHARS_PER_TOKEN = 8;

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 64e6,
  maxMediaBytes: 64e6,
  maxImages: 16,
  maxVideos: 2,
  maxImagePixels: 50e6,
  maxVideoSeconds: 600,
  maxVideoFrames: 768,
  maxPromptTokens: 32768,
  maxTokens: 4096,
  maxConcurrent: 8,
  maxQueue: 4,
  requestTimeoutMs: 600_000,
  uploadTimeoutMs: 60_000,
  fetchTimeoutMs: 30_000,
};

const tooMany = (param: string, message: string) => new ApiError(400, message, param, 'limit_exceeded');

/**
 * Counts and sizes visible in the parsed request (media parts, frames, text, max_tokens), checked before any
 * media is fetched or decoded. Returns the library options with the limits the engine enforces on top.
 */
export function applyLimits(r: ChatRequest, limits: ServerLimits): ChatOptions {
  let images = 0;
  let videos = 0;
  let chars = 0;
  r.messages.forEach((m, i) => {
    chars += (m.reasoningContent?.length ?? 0) + (m.toolCalls ?? []).reduce((n, c) => n + c.name.length + c.arguments.length, 0);
    m.content.forEach((p, j) => {
      if (p.type === 'text') chars += p.text.length;
      else if (p.type === 'image') images++;
      else {
        videos++;
        if (Array.isArray(p.video) && p.video.length > limits.maxVideoFrames) {
          throw tooMany(`messages[${i}].content[${j}]`, `a video has ${p.video.length} frames; this server takes at most ${limits.maxVideoFrames} (--max-video-frames)`);
        }
      }
    });
  });
  if (images > limits.maxImages) throw tooMany('messages', `${images} images in one request; this server takes at most ${limits.maxImages} (--max-images)`);
  if (videos > limits.maxVideos) throw tooMany('messages', `${videos} videos in one request; this server takes at most ${limits.maxVideos} (--max-videos)`);
  if (r.options.tools) chars += JSON.stringify(r.options.tools).length;
  const maxChars = limits.maxPromptTokens * PROMPT_CHARS_PER_TOKEN;
  if (chars > maxChars) throw tooMany('messages', `the messages carry ${chars} characters of text; this server takes at most ${maxChars} (${PROMPT_CHARS_PER_TOKEN} per prompt token, --max-prompt-tokens ${limits.maxPromptTokens})`);
  const asked = r.options.maxTokens;
  if (asked !== undefined && asked > limits.maxTokens) throw tooMany('max_tokens', `'max_tokens' is ${asked}; this server allows at most ${limits.maxTokens} (--max-tokens)`);
  const prepare: InputLimits = {
    maxImages: limits.maxImages,
    maxVideos: limits.maxVideos,
    maxImagePixels: limits.maxImagePixels,
    maxVideoSeconds: limits.maxVideoSeconds,
    maxVideoFrames: limits.maxVideoFrames,
    capPixelBounds: true,
    maxPromptChars: maxChars + 16_384, // the template's own text (system prompt, tool preamble) on top
  };
  return { ...r.options, maxTokens: asked ?? limits.maxTokens, maxPromptTokens: limits.maxPromptTokens, prepare: { ...r.options.prepare, limits: prepare } };
}

/** Every limit must be a positive number (0 would refuse everything; NaN would refuse nothing). */
export function checkLimits(l: ServerLimits): ServerLimits {
  for (const [k, v] of Object.entries(l)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < (['maxQueue', 'maxImages', 'maxVideos'].includes(k) ? 0 : 1)) throw new RangeError(`server limit ${k} must be a positive number (got ${v})`);
  }
  return l;
}

// Chat message shapes accepted by the processor (content-part form, OpenAI image_url/video_url parts too), their
// validation, the template-facing copy (media replaced by markers) and the ordered list of media they carry.

import { InvalidInputError } from '../errors.js';

/** Raw RGB frame or image: `data` is height × width × 3 (or × 4, alpha dropped) bytes, row-major. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels?: 3 | 4;
}

/** An image: file path, file:// / data: / http(s) URL, encoded bytes (or a Blob), raw RGB pixels, or (browsers) an ImageBitmap. */
export type ImageInput = string | Uint8Array | RawImage | Blob | ImageBitmap;

/** A video: file path / URL, or a list of frames (images or raw RGB) with optional timestamps. */
/** A path or URL (Node: ffmpeg), an MP4 Blob or File (browsers: WebCodecs), or frames. */
export type VideoInput = string | Blob | readonly ImageInput[] | VideoFrames;

export interface VideoFrames {
  frames: readonly ImageInput[];
  /** Seconds for each frame; when given, frames are used as is (no sampling) and fps is derived from them. */
  timestamps?: readonly number[];
  /** Native frame rate of the frame list (the reference's metadata fps; default: the sampling fps, 2). */
  fps?: number;
}

export interface PixelBounds {
  minPixels?: number;
  maxPixels?: number;
}

export interface VideoOptions extends PixelBounds {
  /** Frames per second to sample (default from video_preprocessor_config.json, 2). */
  fps?: number;
  /** Exact number of frames to sample instead of fps. */
  numFrames?: number;
  minFrames?: number;
  maxFrames?: number;
  /** Whether to sample frames of a frame list (default false: a given list is taken as already sampled). */
  sampleFrames?: boolean;
}

export type ContentPart =
  | { type: 'text'; text: string }
  | ({ type: 'image'; image: ImageInput } & PixelBounds)
  | ({ type: 'image_url'; image_url: string | { url: string } } & PixelBounds)
  | ({ type: 'video'; video: VideoInput } & VideoOptions)
  | ({ type: 'video_url'; video_url: string | { url: string } } & VideoOptions);

export interface ToolCall {
  id?: string;
  type?: 'function';
  function?: { name: string; arguments: string | Record<string, unknown> };
  name?: string;
  arguments?: string | Record<string, unknown>;
}

export interface ChatMessage {
  role: string;
  content?: string | readonly ContentPart[] | null;
  tool_calls?: readonly ToolCall[];
  reasoning_content?: string;
  name?: string;
  tool_call_id?: string;
}

export type ToolSpec = Record<string, unknown>;

export type MediaItem =
  | ({ kind: 'image'; source: ImageInput; where: string } & PixelBounds)
  | ({ kind: 'video'; source: VideoInput; where: string } & VideoOptions);

function urlOf(v: unknown, where: string): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { url?: unknown }).url === 'string') return (v as { url: string }).url;
  throw new InvalidInputError(`${where}: expected a URL string or { url }`);
}

function checkBounds(p: PixelBounds, where: string): void {
  for (const k of ['minPixels', 'maxPixels'] as const) {
    const v = p[k];
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) throw new InvalidInputError(`${where}: ${k} must be a positive number, got ${v}`);
  }
}

/** Validate one part and return the media it carries (or null for text). */
function partMedia(part: ContentPart, where: string): MediaItem | null {
  if (!part || typeof part !== 'object') throw new InvalidInputError(`${where}: content part must be an object`);
  const { minPixels, maxPixels } = part as PixelBounds;
  switch (part.type) {
    case 'text':
      if (typeof part.text !== 'string') throw new InvalidInputError(`${where}: text part needs a string "text"`);
      return null;
    case 'image':
      if (part.image === undefined || part.image === null) throw new InvalidInputError(`${where}: image part has no "image"`);
      checkBounds(part, where);
      return { kind: 'image', source: part.image, where, minPixels, maxPixels };
    case 'image_url':
      checkBounds(part, where);
      return { kind: 'image', source: urlOf(part.image_url, where), where, minPixels, maxPixels };
    case 'video':
    case 'video_url': {
      const source = part.type === 'video' ? part.video : urlOf(part.video_url, where);
      if (source === undefined || source === null) throw new InvalidInputError(`${where}: video part has no "video"`);
      checkBounds(part, where);
      const { fps, numFrames, minFrames, maxFrames, sampleFrames } = part;
      return { kind: 'video', source, where, minPixels, maxPixels, fps, numFrames, minFrames, maxFrames, sampleFrames };
    }
    default:
      throw new InvalidInputError(`${where}: unknown content part type ${JSON.stringify((part as { type?: unknown }).type)}`);
  }
}

/** Validate messages and list their media in order (the order their placeholders appear in the prompt). */
export function collectMedia(messages: readonly ChatMessage[]): MediaItem[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new InvalidInputError('messages must be a non-empty array');
  const media: MediaItem[] = [];
  messages.forEach((m, i) => {
    if (!m || typeof m !== 'object' || typeof m.role !== 'string') throw new InvalidInputError(`messages[${i}]: needs a string "role"`);
    const c = m.content;
    if (c === undefined || c === null || typeof c === 'string') return;
    if (!Array.isArray(c)) throw new InvalidInputError(`messages[${i}].content: must be a string or an array of parts`);
    c.forEach((p: ContentPart, j: number) => {
      const item = partMedia(p, `messages[${i}].content[${j}]`);
      if (item) media.push(item);
    });
  });
  return media;
}

/** The copy handed to the template: media replaced by short markers, null content as empty string. */
export function normaliseMessages(messages: readonly ChatMessage[]): Record<string, unknown>[] {
  return messages.map((m) => {
    const out: Record<string, unknown> = { ...m };
    const c = m.content;
    if (c === undefined || c === null) out.content = '';
    else if (Array.isArray(c)) {
      out.content = c.map((p: ContentPart) => {
        switch (p?.type) {
          case 'image':
          case 'image_url':
            return { type: 'image', image: '<image>' };
          case 'video':
          case 'video_url':
            return { type: 'video', video: '<video>' };
          default:
            return { ...p };
        }
      });
    }
    return out;
  });
}

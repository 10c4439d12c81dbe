// Caller-set bounds on one prepare() call, for callers that take inputs from strangers (the server): media counts,
// decoded size, video length and frames, pixel budgets and prompt size. Unset fields mean no limit beyond the defaults.

import type { MediaItem } from '../chat/messages.js';
import { InputLimitError } from '../errors.js';

export interface InputLimits {
  /** Images per call. */
  readonly maxImages?: number;
  /** Videos per call. */
  readonly maxVideos?: number;
  /** Decoded pixels of one image or video frame, checked from its header before any pixel is decoded. */
  readonly maxImagePixels?: number;
  /** Length of a video file in seconds (frame count / frame rate, from the container). */
  readonly maxVideoSeconds?: number;
  /** Frames of one video: a frame list longer than this is refused; a file is sampled to at most this many. */
  readonly maxVideoFrames?: number;
  /** Refuse per-call or per-part min/max pixel bounds above the checkpoint's own max_pixels (they cost memory and time). */
  readonly capPixelBounds?: boolean;
  /** Characters of the rendered prompt, checked before tokenising it (tokenising is slow on hostile text). */
  readonly maxPromptChars?: number;
}

/** Counts first: a call with too many media fails before any of them is read. */
export function checkMediaCounts(media: readonly MediaItem[], limits: InputLimits | undefined): void {
  if (!limits) return;
  const images = media.filter((m) => m.kind === 'image').length;
  const videos = media.length - images;
  if (limits.maxImages !== undefined && images > limits.maxImages) throw new InputLimitError('max_images', `${images} images in one request; the limit is ${limits.maxImages}`);
  if (limits.maxVideos !== undefined && videos > limits.maxVideos) throw new InputLimitError('max_videos', `${videos} videos in one request; the limit is ${limits.maxVideos}`);
  for (const m of media) {
    if (m.kind !== 'video' || limits.maxVideoFrames === undefined) continue;
    const frames = Array.isArray(m.source) ? m.source.length : ((m.source as { frames?: unknown[] })?.frames?.length ?? 0);
    if (frames > limits.maxVideoFrames) throw new InputLimitError('max_video_frames', `${m.where}: ${frames} frames; the limit is ${limits.maxVideoFrames} per video`);
  }
}

/** Pixel bounds a caller asked for must stay within the checkpoint's maximum when capPixelBounds is set. */
export function checkPixelBounds(where: string, bounds: { minPixels?: number; maxPixels?: number }, configMax: number, limits: InputLimits | undefined): void {
  if (!limits?.capPixelBounds) return;
  for (const k of ['minPixels', 'maxPixels'] as const) {
    const v = bounds[k];
    if (v !== undefined && v > configMax) {
      const wire = k === 'minPixels' ? 'min_pixels' : 'max_pixels';
      throw new InputLimitError(wire, `${where}: ${wire} ${v} is above the model's maximum of ${configMax} pixels`);
    }
  }
}

/** The smaller of the processor's decode limit and the call's, if any. */
export function decodeLimit(own: number | undefined, limits: InputLimits | undefined): number | undefined {
  const l = limits?.maxImagePixels;
  if (l === undefined) return own;
  return own === undefined ? l : Math.min(own, l);
}

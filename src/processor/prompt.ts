// Prompt expansion (spec §6.5): each <|image_pad|> becomes t·h·w/merge² pads; each video's
// <|vision_start|><|video_pad|><|vision_end|> becomes, per temporal patch, "<t seconds>" + start + pads + end.
// Optionally reproduces transformers 5.17's variant that keeps the outer wrappers around the expansion.

import { InvalidInputError } from '../errors.js';
import { formatFixed } from './pyMath.js';

export const IMAGE_PAD = '<|image_pad|>';
export const VIDEO_PAD = '<|video_pad|>';
export const VISION_START = '<|vision_start|>';
export const VISION_END = '<|vision_end|>';

export interface VideoExpansion {
  grid: readonly number[];
  timestamps: readonly number[];
}

export interface ExpandOptions {
  mergeSize?: number;
  /** transformers 5.17 behaviour: keep the template's own wrappers around the expanded video (not the training format). */
  keepOuterVideoWrappers?: boolean;
}

function tokensPer(grid: readonly number[], merge: number): number {
  const n = (grid[0] * grid[1] * grid[2]) / (merge * merge);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidInputError(`grid ${JSON.stringify(grid)} is not divisible into ${merge}x${merge} merge windows`);
  return n;
}

/** The expanded text for one video. */
export function videoPlaceholder(v: VideoExpansion, merge = 2): string {
  const [t, h, w] = v.grid;
  if (v.timestamps.length !== t) throw new InvalidInputError(`video has ${t} temporal patches but ${v.timestamps.length} timestamps`);
  const perFrame = tokensPer([1, h, w], merge);
  let s = '';
  for (let k = 0; k < t; k++) s += `<${formatFixed(v.timestamps[k], 1)} seconds>${VISION_START}${VIDEO_PAD.repeat(perFrame)}${VISION_END}`;
  return s;
}

/** Expand the image and video placeholders of `text`, consuming grids left to right. */
export function expandPrompt(text: string, imageGrids: readonly (readonly number[])[], videos: readonly VideoExpansion[], opts: ExpandOptions = {}): string {
  const merge = opts.mergeSize ?? 2;
  const triple = VISION_START + VIDEO_PAD + VISION_END;
  let out = '';
  let pos = 0;
  let img = 0;
  let vid = 0;
  for (;;) {
    const i = text.indexOf(IMAGE_PAD, pos);
    const v = text.indexOf(VIDEO_PAD, pos);
    if (i < 0 && v < 0) break;
    if (i >= 0 && (v < 0 || i < v)) {
      if (img >= imageGrids.length) throw new InvalidInputError(`the prompt has more ${IMAGE_PAD} placeholders than images (${imageGrids.length})`);
      out += text.slice(pos, i) + IMAGE_PAD.repeat(tokensPer(imageGrids[img++], merge));
      pos = i + IMAGE_PAD.length;
      continue;
    }
    if (vid >= videos.length) throw new InvalidInputError(`the prompt has more ${VIDEO_PAD} placeholders than videos (${videos.length})`);
    const body = videoPlaceholder(videos[vid++], merge);
    const wrapped = v >= VISION_START.length && text.startsWith(triple, v - VISION_START.length);
    if (wrapped && !opts.keepOuterVideoWrappers) {
      out += text.slice(pos, v - VISION_START.length) + body;
      pos = v - VISION_START.length + triple.length;
    } else {
      out += text.slice(pos, v) + body;
      pos = v + VIDEO_PAD.length;
    }
  }
  if (img !== imageGrids.length) throw new InvalidInputError(`${imageGrids.length} images given but the prompt has ${img} ${IMAGE_PAD} placeholders`);
  if (vid !== videos.length) throw new InvalidInputError(`${videos.length} videos given but the prompt has ${vid} ${VIDEO_PAD} placeholders`);
  return out + text.slice(pos);
}

/** 1 at image pads, 2 at video pads, 0 elsewhere. */
export function mmTokenTypes(ids: ArrayLike<number>, imageTokenId: number, videoTokenId: number): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i] === imageTokenId ? 1 : ids[i] === videoTokenId ? 2 : 0;
  return out;
}

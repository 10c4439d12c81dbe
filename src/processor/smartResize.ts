// Target sizes for images and video clips: dimensions on a multiple of patch·merge (32), pixel count inside
// [min, max], aspect ratio kept; Python rounding (half-to-even) and float64 arithmetic as in the reference.

import { pyRound } from './pyMath.js';

export const MAX_ASPECT_RATIO = 200;

/** Raised for sizes the reference refuses (aspect ratio above 200, too few frames, non-positive sizes). */
export class SmartResizeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'SmartResizeError';
  }
}

function checkDims(height: number, width: number): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height <= 0 || width <= 0) {
    throw new SmartResizeError(`image size ${width}x${height} must be positive integers`);
  }
  const ratio = Math.max(height, width) / Math.min(height, width);
  if (ratio > MAX_ASPECT_RATIO) {
    throw new SmartResizeError(`absolute aspect ratio must be at most ${MAX_ASPECT_RATIO}, got ${ratio}`);
  }
}

function checkBounds(minPixels: number, maxPixels: number): void {
  if (!(minPixels > 0) || !(maxPixels > 0) || minPixels > maxPixels) {
    throw new SmartResizeError(`pixel bounds must satisfy 0 < min (${minPixels}) <= max (${maxPixels})`);
  }
}

/** Image smart_resize (transformers' current version: no lower bound on h/w, `max(F, …)` clamp when shrinking). */
export function smartResize(
  height: number,
  width: number,
  factor = 32,
  minPixels = 56 * 56,
  maxPixels = 28 * 28 * 1280,
): [number, number] {
  checkDims(height, width);
  checkBounds(minPixels, maxPixels);
  let hBar = pyRound(height / factor) * factor;
  let wBar = pyRound(width / factor) * factor;
  if (hBar * wBar > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    hBar = Math.max(factor, Math.floor(height / beta / factor) * factor);
    wBar = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (hBar * wBar < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    hBar = Math.ceil((height * beta) / factor) * factor;
    wBar = Math.ceil((width * beta) / factor) * factor;
  }
  // Defensive: with min > 0 a side that rounds to 0 always takes the min branch, so this never changes a result.
  return [Math.max(hBar, factor), Math.max(wBar, factor)];
}

/**
 * Video smart_resize: the pixel budget covers the whole clip (frames rounded to the temporal factor).
 * Sides below the factor are scaled up first (as current transformers does) instead of failing.
 */
export function smartResizeVideo(
  numFrames: number,
  height: number,
  width: number,
  temporalFactor = 2,
  factor = 32,
  minPixels = 128 * 128,
  maxPixels = 16 * 16 * 2 * 2 * 2 * 6144,
): [number, number] {
  if (!Number.isInteger(numFrames) || numFrames < temporalFactor) {
    throw new SmartResizeError(`a video needs at least ${temporalFactor} frames, got ${numFrames}`);
  }
  checkDims(height, width);
  checkBounds(minPixels, maxPixels);
  if (height < factor || width < factor) {
    const s = Math.max(factor / height, factor / width);
    height = Math.trunc(height * s);
    width = Math.trunc(width * s);
  }
  let hBar = pyRound(height / factor) * factor;
  let wBar = pyRound(width / factor) * factor;
  const tBar = pyRound(numFrames / temporalFactor) * temporalFactor;
  if (tBar * hBar * wBar > maxPixels) {
    const beta = Math.sqrt((numFrames * height * width) / maxPixels);
    hBar = Math.max(factor, Math.floor(height / beta / factor) * factor);
    wBar = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (tBar * hBar * wBar < minPixels) {
    const beta = Math.sqrt(minPixels / (numFrames * height * width));
    hBar = Math.ceil((height * beta) / factor) * factor;
    wBar = Math.ceil((width * beta) / factor) * factor;
  }
  return [Math.max(hBar, factor), Math.max(wBar, factor)];
}

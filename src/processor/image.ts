// The image pipeline: load (path, URL, bytes or raw pixels) → RGB → smart_resize → antialiased bicubic →
// normalise → temporal padding → patch rows, with per-image pixel bounds.

import type { ImageInput, RawImage } from '../chat/messages.js';
import type { ImageProcessorConfig } from './config.js';
import { ImageDecodeError, ImageSizeError, InvalidInputError } from '../errors.js';
import { DEFAULT_MAX_DECODE_PIXELS, bitmapToRgb, decodeImage, type RgbImage } from './imageDecode.js';
import { normalisationTable, patchify } from './patchify.js';
import { resizeBicubicAA, type Resampler } from './resize.js';
import { smartResize, SmartResizeError } from './smartResize.js';
import { describeSource, loadBytes, type SourceOptions } from './source.js';

export interface ImageLoadOptions extends SourceOptions {
  maxDecodePixels?: number;
}

function isRaw(x: unknown): x is RawImage {
  return !!x && typeof x === 'object' && !(x instanceof Uint8Array) && 'data' in x && 'width' in x && 'height' in x;
}

/** Raw pixels given by the caller, checked and reduced to RGB. */
export function rawToRgb(img: RawImage, name: string, maxDecodePixels = DEFAULT_MAX_DECODE_PIXELS): RgbImage {
  const { width, height } = img;
  const channels = img.channels ?? 3;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageDecodeError(name, `raw image size ${width}x${height} must be positive integers`);
  }
  if (width * height > maxDecodePixels) throw new ImageSizeError(name, `${width}x${height} exceeds the decode limit of ${maxDecodePixels} pixels`);
  if (channels !== 3 && channels !== 4) throw new ImageDecodeError(name, `raw image must have 3 or 4 channels, got ${channels}`);
  if (!(img.data instanceof Uint8Array) || img.data.length !== width * height * channels) {
    throw new ImageDecodeError(name, `raw image data must be a Uint8Array of ${width}x${height}x${channels} bytes`);
  }
  if (channels === 3) return { data: img.data, width, height };
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < out.length; i += 3, j += 4) {
    out[i] = img.data[j];
    out[i + 1] = img.data[j + 1];
    out[i + 2] = img.data[j + 2];
  }
  return { data: out, width, height };
}

/** Load any image input to RGB pixels. */
export async function loadImage(src: ImageInput, opts: ImageLoadOptions = {}, name = describeSource(src)): Promise<RgbImage> {
  if (isRaw(src)) return rawToRgb(src, name, opts.maxDecodePixels);
  if (typeof ImageBitmap !== 'undefined' && src instanceof ImageBitmap) {
    if (src.width * src.height > (opts.maxDecodePixels ?? DEFAULT_MAX_DECODE_PIXELS)) throw new ImageSizeError(name, `${src.width}x${src.height} exceeds the decode limit`);
    return bitmapToRgb(src);
  }
  const isBlob = typeof Blob !== 'undefined' && src instanceof Blob;
  if (typeof src !== 'string' && !(src instanceof Uint8Array) && !isBlob) throw new InvalidInputError(`image ${name}: expected a path, URL, bytes, Blob, ImageBitmap or { data, width, height }`);
  let bytes: Uint8Array;
  try {
    bytes = await loadBytes(src as string | Uint8Array | Blob, opts);
  } catch (e) {
    if (e instanceof InvalidInputError) throw new ImageDecodeError(name, e.message);
    throw e;
  }
  return decodeImage(bytes, name, opts);
}

export interface ProcessedVisual {
  /** Rows of 3·T·P·P normalised values. */
  data: Float32Array;
  grid: [number, number, number];
}

/**
 * Effective [min, max] pixels. Overriding only one bound past the other moves the other along (a caller asking
 * for max 50k under the default min 65k means "at most 50k"); both given and inverted is an error later.
 */
export function resolveBounds(b: { minPixels?: number; maxPixels?: number }, cfg: { minPixels: number; maxPixels: number }): [number, number] {
  let min = b.minPixels ?? cfg.minPixels;
  let max = b.maxPixels ?? cfg.maxPixels;
  if (b.minPixels === undefined && max < min) min = max;
  if (b.maxPixels === undefined && min > max) max = min;
  return [min, max];
}

/** Resize target for an image, converting the reference's size errors into typed ones. */
export function imageTargetSize(img: RgbImage, cfg: ImageProcessorConfig, minPixels: number, maxPixels: number, name: string, ceiling = DEFAULT_MAX_DECODE_PIXELS): [number, number] {
  if (!cfg.doResize) return [img.height, img.width];
  let size: [number, number];
  try {
    size = smartResize(img.height, img.width, cfg.patchSize * cfg.mergeSize, minPixels, maxPixels);
  } catch (e) {
    if (e instanceof SmartResizeError) throw new ImageSizeError(name, e.message);
    throw e;
  }
  // A huge min_pixels upscales without bound; the decode limit caps what a resize may produce too.
  if (size[0] * size[1] > ceiling) throw new ImageSizeError(name, `resizing to ${size[1]}x${size[0]} (min_pixels ${minPixels}) exceeds the limit of ${ceiling} pixels`);
  return size;
}

/** One decoded image through resize, normalisation and patchify. */
export function processImage(
  img: RgbImage,
  cfg: ImageProcessorConfig,
  bounds: { minPixels?: number; maxPixels?: number } = {},
  resampler: Resampler = 'torchvision',
  name = 'image',
  ceiling = DEFAULT_MAX_DECODE_PIXELS,
): ProcessedVisual {
  const [min, max] = resolveBounds(bounds, cfg);
  const [h, w] = imageTargetSize(img, cfg, min, max, name, ceiling);
  const resized = h === img.height && w === img.width ? img.data : resizeBicubicAA(img.data, img.width, img.height, 3, w, h, resampler);
  try {
    return patchify([resized], h, w, cfg, normalisationTable(cfg));
  } catch (e) {
    throw new ImageSizeError(name, (e as Error).message);
  }
}

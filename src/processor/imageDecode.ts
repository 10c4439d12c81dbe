// Image decoding to 8-bit RGB: sharp (libvips) in Node, createImageBitmap + OffscreenCanvas in browsers, a small
// decoder for BMP. Like the reference loader: EXIF orientation applied, alpha dropped (not composited), first frame
// of animations, embedded ICC profiles ignored. In Node declared dimensions are checked before any pixel is decoded.

import type { Metadata } from 'sharp';
import { nodeImport } from '../io/source.js';
import { BmpError, decodeBmp, isBmp, readBmpHeader } from './bmp.js';
import { ImageDecodeError, ImageSizeError } from '../errors.js';

export interface RgbImage {
  /** Interleaved RGB, row-major, height × width × 3. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface DecodeOptions {
  /** Refuse images whose declared width × height exceeds this (default 178,956,970, PIL's bomb threshold). */
  maxDecodePixels?: number;
}

export const DEFAULT_MAX_DECODE_PIXELS = 178_956_970;

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'bmp' | 'tiff' | 'avif' | 'heif';

/** Identify the container from its magic bytes (extensions and MIME types are not trusted). */
export function sniffFormat(b: Uint8Array): ImageFormat | null {
  const ascii = (o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 3) === 'PNG') return 'png';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'webp';
  if (isBmp(b)) return 'bmp';
  if (b.length >= 4 && ((ascii(0, 2) === 'II' && b[2] === 42 && b[3] === 0) || (ascii(0, 2) === 'MM' && b[2] === 0 && b[3] === 42))) return 'tiff';
  if (b.length >= 12 && ascii(4, 4) === 'ftyp') {
    const brand = ascii(8, 4);
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'mif1', 'msf1', 'heis', 'hevc'].includes(brand)) return 'heif';
  }
  return null;
}

function checkSize(name: string, width: number, height: number, limit: number): void {
  if (!(width > 0) || !(height > 0)) throw new ImageDecodeError(name, `zero-size image (${width}x${height})`);
  if (width * height > limit) {
    throw new ImageSizeError(name, `${width}x${height} = ${width * height} pixels exceeds the decode limit of ${limit} (possible decompression bomb)`);
  }
}

/** Expand 1/2/3/4-channel 8-bit data to RGB: gray replicated, alpha dropped. */
function toRgb(src: Uint8Array, pixels: number, channels: number): Uint8Array {
  if (channels === 3) return src;
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const s = i * channels;
    if (channels <= 2) {
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = src[s];
    } else {
      out[i * 3] = src[s];
      out[i * 3 + 1] = src[s + 1];
      out[i * 3 + 2] = src[s + 2];
    }
  }
  return out;
}

/** Decode encoded image bytes; `name` identifies the input in errors. */
export async function decodeImage(bytes: Uint8Array, name: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  const limit = opts.maxDecodePixels ?? DEFAULT_MAX_DECODE_PIXELS;
  if (bytes.length === 0) throw new ImageDecodeError(name, 'empty input');
  const format = sniffFormat(bytes);
  if (!format) throw new ImageDecodeError(name, 'unknown or unsupported image format');
  if (format === 'bmp') {
    try {
      const h = readBmpHeader(bytes);
      checkSize(name, h.width, h.height, limit);
      return decodeBmp(bytes);
    } catch (e) {
      if (e instanceof BmpError) throw new ImageDecodeError(name, e.message);
      throw e;
    }
  }
  if (!globalThis.process?.versions?.node) return decodeInBrowser(bytes, format, name, limit);
  const sharp = (await nodeImport<typeof import('sharp')>('sharp')).default;
  const open = () =>
    sharp(bytes, { limitInputPixels: false, failOn: 'warning', pages: 1, page: 0, ignoreIcc: true, autoOrient: true });
  let meta: Metadata;
  try {
    meta = await open().metadata();
  } catch (e) {
    throw new ImageDecodeError(name, `cannot read ${format} header: ${(e as Error).message}`);
  }
  // Header dimensions are pre-rotation; the product is what matters for the limit.
  checkSize(name, meta.width ?? 0, meta.height ?? 0, limit);
  try {
    const { data, info } = await open().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    checkSize(name, info.width, info.height, limit);
    const pixels = info.width * info.height;
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (raw.length !== pixels * info.channels) throw new ImageDecodeError(name, 'decoder returned a short buffer');
    return { data: toRgb(raw, pixels, info.channels), width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof ImageDecodeError || e instanceof ImageSizeError) throw e;
    throw new ImageDecodeError(name, `cannot decode ${format}: ${(e as Error).message}`);
  }
}

/** Browsers: the platform decoder, without colour management or premultiplication, EXIF orientation applied. */
async function decodeInBrowser(bytes: Uint8Array, format: ImageFormat, name: string, limit: number): Promise<RgbImage> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (e) {
    throw new ImageDecodeError(name, `cannot decode ${format}: ${(e as Error).message}`);
  }
  try {
    checkSize(name, bmp.width, bmp.height, limit);
    return bitmapToRgb(bmp);
  } finally {
    bmp.close();
  }
}

/** The pixels of an ImageBitmap (browsers), alpha dropped. */
export function bitmapToRgb(bmp: ImageBitmap): RgbImage {
  const { width, height } = bmp;
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new ImageDecodeError('image', 'no 2D canvas context to read the pixels');
  ctx.drawImage(bmp, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  return { data: toRgb(new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength), width * height, 4), width, height };
}

// Image decoding: every supported container (made in the test with sharp or by hand for BMP), EXIF orientation,
// alpha dropped, grayscale expanded, first frame of animations; and bad inputs — truncated, empty, unknown,
// zero-size, decompression bombs (declared size checked before decoding), aspect ratio over 200.
import { describe, expect, it } from 'vitest';
import sharp, { type Sharp } from 'sharp';
import { crc32 } from 'node:zlib';
import {
  DEFAULT_IMAGE_CONFIG,
  decodeImage,
  ImageDecodeError,
  ImageSizeError,
  processImage,
  sniffFormat,
} from '../../src/processor/index.js';
import { loadImage } from '../../src/processor/image.js';

const W = 40;
const H = 30;
/** A colourful deterministic RGB test pattern. */
function pattern(w = W, h = H): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.set([(x * 6) & 255, (y * 8) & 255, (x * y) & 255], (y * w + x) * 3);
  return d;
}
const rgb = pattern();
const encode = (fmt: (s: Sharp) => Sharp, data = rgb, w = W, h = H, channels: 3 | 4 = 3) =>
  fmt(sharp(Buffer.from(data), { raw: { width: w, height: h, channels } })).toBuffer().then((b) => new Uint8Array(b));

function meanAbs(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** A BMP written by hand: 24-bit bottom-up, or 8-bit with a palette. */
function bmp24(data: Uint8Array, w: number, h: number, topDown = false): Uint8Array {
  const row = Math.ceil((w * 3) / 4) * 4;
  const b = Buffer.alloc(54 + row * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(topDown ? -h : h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  for (let y = 0; y < h; y++) {
    const dst = 54 + (topDown ? y : h - 1 - y) * row;
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      b[dst + x * 3] = data[s + 2];
      b[dst + x * 3 + 1] = data[s + 1];
      b[dst + x * 3 + 2] = data[s];
    }
  }
  return new Uint8Array(b);
}

function bmp8(indices: Uint8Array, palette: number[][], w: number, h: number): Uint8Array {
  const row = Math.ceil(w / 4) * 4;
  const off = 54 + 4 * palette.length;
  const b = Buffer.alloc(off + row * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(off, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(8, 28);
  b.writeUInt32LE(palette.length, 46);
  palette.forEach(([r, g, bl], i) => b.set([bl, g, r, 0], 54 + i * 4));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b[off + (h - 1 - y) * row + x] = indices[y * w + x];
  return new Uint8Array(b);
}

/** Rewrite a PNG's IHDR size (with a valid CRC) to declare a huge image without its pixels. */
function pngClaiming(png: Uint8Array, w: number, h: number): Uint8Array {
  const b = Buffer.from(png);
  b.writeUInt32BE(w, 16);
  b.writeUInt32BE(h, 20);
  b.writeUInt32BE(crc32(b.subarray(12, 29)) >>> 0, 29);
  return new Uint8Array(b);
}

describe('formats', () => {
  it('lossless containers decode to the exact pixels', async () => {
    for (const [name, make] of [
      ['png', (s: Sharp) => s.png()],
      ['webp', (s: Sharp) => s.webp({ lossless: true })],
      ['tiff', (s: Sharp) => s.tiff({ compression: 'none' })],
    ] as const) {
      const bytes = await encode(make);
      const img = await decodeImage(bytes, name);
      expect([img.width, img.height, sniffFormat(bytes)]).toEqual([W, H, name]);
      expect(img.data).toEqual(rgb);
    }
  });

  it('BMP (24-bit bottom-up and top-down, 8-bit palette) is decoded by our own reader', async () => {
    expect((await decodeImage(bmp24(rgb, W, H), 'a.bmp')).data).toEqual(rgb);
    expect((await decodeImage(bmp24(rgb, W, H, true), 'b.bmp')).data).toEqual(rgb);
    const pal = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
    const idx = Uint8Array.from({ length: 6 * 5 }, (_, i) => i % 3);
    const img = await decodeImage(bmp8(idx, pal, 6, 5), 'c.bmp');
    expect(img.width).toBe(6);
    expect([...img.data.subarray(0, 9)]).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255]);
  });

  it('lossy JPEG/AVIF decode close to the source; GIF keeps an exact palette image', async () => {
    const jpg = await decodeImage(await encode((s) => s.jpeg({ quality: 100, chromaSubsampling: '4:4:4' })), 'x.jpg');
    expect(meanAbs(jpg.data, rgb)).toBeLessThan(4);
    const avifBytes = await encode((s) => s.avif({ quality: 90 }));
    expect(sniffFormat(avifBytes)).toBe('avif');
    const avif = await decodeImage(avifBytes, 'x.avif');
    expect([avif.width, avif.height]).toEqual([W, H]);
    expect(meanAbs(avif.data, rgb)).toBeLessThan(8);
    const flat = new Uint8Array(W * H * 3).map((_, i) => [200, 30, 90][i % 3]);
    const gif = await decodeImage(await encode((s) => s.gif(), flat), 'x.gif');
    expect(gif.data).toEqual(flat);
  });

  it('an animated GIF gives its first frame', async () => {
    const two = new Uint8Array(W * H * 2 * 3);
    two.fill(10, 0, W * H * 3);
    two.fill(240, W * H * 3);
    const bytes = new Uint8Array(await sharp(Buffer.from(two), { raw: { width: W, height: 2 * H, channels: 3, pageHeight: H } }).gif().toBuffer());
    const img = await decodeImage(bytes, 'anim.gif');
    expect([img.width, img.height]).toEqual([W, H]);
    expect(img.data.every((v) => Math.abs(v - 10) <= 1)).toBe(true);
  });

  it('EXIF orientation is applied (6 = rotate 90° clockwise)', async () => {
    const bytes = new Uint8Array(await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } }).png().withMetadata({ orientation: 6 }).toBuffer());
    const img = await decodeImage(bytes, 'rotated.png');
    expect([img.width, img.height]).toEqual([H, W]);
    // After a clockwise turn, the top-left output pixel is the source's bottom-left.
    expect([...img.data.subarray(0, 3)]).toEqual([...rgb.subarray((H - 1) * W * 3, (H - 1) * W * 3 + 3)]);
  });

  it('alpha is dropped, not composited; grayscale is replicated', async () => {
    const rgba = new Uint8Array(W * H * 4);
    for (let i = 0; i < W * H; i++) rgba.set([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], i % 2 ? 0 : 128], i * 4);
    const img = await decodeImage(await encode((s) => s.png(), rgba, W, H, 4), 'alpha.png');
    expect(img.data).toEqual(rgb);
    const gray = new Uint8Array(await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } }).greyscale().png().toBuffer());
    const g = await decodeImage(gray, 'gray.png');
    for (let i = 0; i < W * H; i++) expect(g.data[i * 3]).toBe(g.data[i * 3 + 2]);
  });
});

describe('bad inputs', () => {
  it('truncated, empty and unknown data: ImageDecodeError naming the input', async () => {
    const png = await encode((s) => s.png());
    await expect(decodeImage(png.subarray(0, png.length >> 1), 'half.png')).rejects.toThrow(ImageDecodeError);
    await expect(decodeImage(png.subarray(0, png.length >> 1), 'half.png')).rejects.toThrow(/half\.png/);
    const jpg = await encode((s) => s.jpeg());
    await expect(decodeImage(jpg.subarray(0, jpg.length - 200), 'cut.jpg')).rejects.toThrow(/cut\.jpg/);
    await expect(decodeImage(new Uint8Array(0), 'empty')).rejects.toThrow(/empty input/);
    await expect(decodeImage(new TextEncoder().encode('just some text'), 'notes.txt')).rejects.toThrow(/unknown or unsupported image format/);
    await expect(decodeImage(bmp24(rgb, W, H).subarray(0, 100), 'short.bmp')).rejects.toThrow(/truncated/);
    await expect(loadImage('/no/such/image.png')).rejects.toThrow(/image\.png/);
  });

  it('zero-size images are refused', async () => {
    const b = bmp24(new Uint8Array(0), 0, 0);
    await expect(decodeImage(b, 'zero.bmp')).rejects.toThrow(/zero-size/);
    await expect(loadImage({ data: new Uint8Array(0), width: 0, height: 5 })).rejects.toThrow(/positive/);
  });

  it('decompression bombs are refused from the header, before decoding', async () => {
    const png = await encode((s) => s.png());
    const bomb = pngClaiming(png, 100_000, 100_000);
    await expect(decodeImage(bomb, 'bomb.png')).rejects.toThrow(ImageSizeError);
    await expect(decodeImage(bomb, 'bomb.png')).rejects.toThrow(/decode limit/);
    const bmpBomb = bmp24(rgb, W, H);
    Buffer.from(bmpBomb.buffer).writeInt32LE(200_000, 18);
    Buffer.from(bmpBomb.buffer).writeInt32LE(200_000, 22);
    await expect(decodeImage(bmpBomb, 'bomb.bmp')).rejects.toThrow(ImageSizeError);
    // The limit is configurable.
    await expect(decodeImage(png, 'small.png', { maxDecodePixels: 100 })).rejects.toThrow(/exceeds the decode limit of 100/);
  });

  it('aspect ratio over 200 is refused with the image named', async () => {
    const thin = await decodeImage(await encode((s) => s.png(), new Uint8Array(201 * 3), 201, 1), 'thin.png');
    expect(() => processImage(thin, DEFAULT_IMAGE_CONFIG, {}, 'torchvision', 'thin.png')).toThrow(ImageSizeError);
    expect(() => processImage(thin, DEFAULT_IMAGE_CONFIG, {}, 'torchvision', 'thin.png')).toThrow(/thin\.png.*aspect ratio/);
  });

  it('raw pixel input must match its declared size', async () => {
    await expect(loadImage({ data: new Uint8Array(10), width: 4, height: 4 }, {}, 'raw')).rejects.toThrow(/4x4x3 bytes/);
    const rgbaImg = await loadImage({ data: new Uint8Array(4 * 4 * 4).fill(7), width: 4, height: 4, channels: 4 });
    expect(rgbaImg.data).toHaveLength(48);
  });
});

// Fuzzing media: image files of every supported container (byte mutations, truncation, rewritten header sizes up to
// 2^32-1) and video files (mp4/webm/avi, mutated and truncated, plus declared sizes past the limit). Every input is
// decoded or refused with ImageDecodeError / ImageSizeError / VideoDecodeError / InputLimitError, in bounded time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp, { type Sharp } from 'sharp';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import {
  decodeImage,
  DEFAULT_IMAGE_CONFIG,
  ffmpegPath,
  ImageDecodeError,
  ImageSizeError,
  InputLimitError,
  loadProcessor,
  processImage,
  processVideo,
  VideoDecodeError,
  type Qwen3VLProcessor,
} from '../../src/processor/index.js';
import { processorDir, tinyDenseDir } from '../helpers/processorFixtures.js';
import { accepts, fuzz, int, mutateBytes, pick } from './fuzz.js';

const LIMIT = 4_000_000; // server-style decode limit for the fuzz (pixels)
let tmp: string;
let proc: Qwen3VLProcessor;
const images: { fmt: string; bytes: Uint8Array }[] = [];
const videos: { fmt: string; bytes: Uint8Array }[] = [];

function pattern(w: number, h: number): Buffer {
  const d = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.set([(x * 6) & 255, (y * 8) & 255, (x * y) & 255], (y * w + x) * 3);
  return d;
}

function bmp24(w: number, h: number): Uint8Array {
  const row = Math.ceil((w * 3) / 4) * 4;
  const b = Buffer.alloc(54 + row * h, 0x55);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return new Uint8Array(b);
}

function encodeVideo(file: string, args: string[]): Uint8Array {
  const r = spawnSync(ffmpegPath(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '1', ...args, file]);
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
  return new Uint8Array(readFileSync(file));
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-fuzz-media-'));
  proc = await loadProcessor(tinyDenseDir);
  const raw = sharp(pattern(40, 30), { raw: { width: 40, height: 30, channels: 3 } });
  const enc = async (fmt: string, f: (s: Sharp) => Sharp) => images.push({ fmt, bytes: new Uint8Array(await f(raw.clone()).toBuffer()) });
  await enc('png', (s) => s.png());
  await enc('jpeg', (s) => s.jpeg({ quality: 80 }));
  await enc('gif', (s) => s.gif());
  await enc('webp', (s) => s.webp({ quality: 80 }));
  await enc('webp-lossless', (s) => s.webp({ lossless: true }));
  await enc('tiff', (s) => s.tiff());
  await enc('avif', (s) => s.avif({ quality: 50 }));
  images.push({ fmt: 'bmp', bytes: bmp24(40, 30) });
  images.push({ fmt: 'photo-png', bytes: new Uint8Array(readFileSync(path.join(processorDir, 'tiny.png'))) });
  videos.push({ fmt: 'mp4', bytes: encodeVideo(path.join(tmp, 's.mp4'), ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']) });
  videos.push({ fmt: 'webm', bytes: encodeVideo(path.join(tmp, 's.webm'), ['-c:v', 'libvpx', '-b:v', '100k']) });
  videos.push({ fmt: 'avi', bytes: encodeVideo(path.join(tmp, 's.avi'), ['-c:v', 'mjpeg']) });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Rewrite the declared width/height of an image in its header (CRC fixed for PNG); null if the format has none here. */
function claimSize(fmt: string, src: Uint8Array, w: number, h: number): Uint8Array | null {
  const b = Buffer.from(src);
  if (fmt === 'png' || fmt === 'photo-png') {
    b.writeUInt32BE(w >>> 0, 16);
    b.writeUInt32BE(h >>> 0, 20);
    b.writeUInt32BE(crc32(b.subarray(12, 29)) >>> 0, 29);
  } else if (fmt === 'jpeg') {
    for (let i = 2; i + 9 < b.length; i++) {
      if (b[i] === 0xff && b[i + 1] >= 0xc0 && b[i + 1] <= 0xc3) {
        b.writeUInt16BE(h & 0xffff, i + 5);
        b.writeUInt16BE(w & 0xffff, i + 7);
        break;
      }
    }
  } else if (fmt === 'gif') {
    b.writeUInt16LE(w & 0xffff, 6);
    b.writeUInt16LE(h & 0xffff, 8);
    const d = b.indexOf(0x2c, 13);
    if (d > 0 && d + 9 < b.length) {
      b.writeUInt16LE(w & 0xffff, d + 5);
      b.writeUInt16LE(h & 0xffff, d + 7);
    }
  } else if (fmt === 'bmp') {
    b.writeInt32LE(w | 0, 18);
    b.writeInt32LE(h | 0, 22);
  } else if (fmt === 'webp' && b.toString('latin1', 12, 16) === 'VP8 ') {
    b.writeUInt16LE(w & 0x3fff, 26);
    b.writeUInt16LE(h & 0x3fff, 28);
  } else return null;
  return new Uint8Array(b);
}

const SIZES = [0, 1, 2, 199, 201, 16383, 65535, 65536, 100_000, 2 ** 31 - 1, 2 ** 32 - 1];

describe('fuzz: media files', () => {
  it('image bytes (every container; decode and resize)', async () => {
    const s = await fuzz('image bytes', (r) => {
      const seed = pick(r, images);
      return accepts(async () => {
        const img = await decodeImage(mutateBytes(r, seed.bytes), seed.fmt, { maxDecodePixels: LIMIT });
        processImage(img, DEFAULT_IMAGE_CONFIG, { minPixels: 1024, maxPixels: 65536 });
      }, ImageDecodeError, ImageSizeError);
    }, 21);
    expect(s.accepted).toBeGreaterThan(0);
    expect(s.rejected).toBeGreaterThan(0);
    expect(s.peakRssMb).toBeLessThan(2048);
  });

  it('image headers claiming huge or degenerate sizes (refused before decoding)', async () => {
    const claimable = images.filter((i) => claimSize(i.fmt, i.bytes, 1, 1) !== null);
    const s = await fuzz('image header sizes', (r) => {
      const seed = pick(r, claimable);
      const w = r() < 0.8 ? pick(r, SIZES) : int(r, 2 ** 32);
      const h = r() < 0.8 ? pick(r, SIZES) : int(r, 2 ** 32);
      const bytes = claimSize(seed.fmt, seed.bytes, w, h)!;
      return accepts(async () => {
        const t0 = Date.now();
        try {
          const img = await decodeImage(r() < 0.5 ? bytes : mutateBytes(r, bytes), seed.fmt, { maxDecodePixels: LIMIT });
          expect(img.width * img.height).toBeLessThanOrEqual(LIMIT);
        } finally {
          expect(Date.now() - t0).toBeLessThan(5000);
        }
      }, ImageDecodeError, ImageSizeError);
    }, 22);
    expect(s.rejected).toBeGreaterThan(0);
    expect(s.peakRssMb).toBeLessThan(2048);
  });

  it('video files (mp4, webm, avi: mutated, truncated)', async () => {
    const run = { maxDecodePixels: LIMIT, maxVideoSeconds: 60, maxVideoFrames: 32 };
    const s = await fuzz('video files', (r, i) => {
      const seed = pick(r, videos);
      const file = path.join(tmp, `v${i}.${seed.fmt}`);
      writeFileSync(file, i === 0 ? seed.bytes : mutateBytes(r, seed.bytes));
      // A deadline far above a normal decode (tens of ms): tripping it means a hang, which fails the test.
      const signal = AbortSignal.timeout(20_000);
      return accepts(async () => {
        try {
          const v = await processVideo(file, proc.videoConfig, {}, { ...run, signal });
          expect(v.grid[0]).toBeGreaterThan(0);
        } finally {
          rmSync(file, { force: true });
        }
      }, VideoDecodeError, InputLimitError, ImageSizeError);
    }, 23);
    expect(s.accepted).toBeGreaterThan(0);
    expect(s.rejected).toBeGreaterThan(0);
  });

  it('a video whose frames are larger than the limit is refused from the probe, before decoding', async () => {
    const file = path.join(tmp, 'big.mp4');
    encodeVideo(file, ['-vf', 'scale=4096:2048', '-frames:v', '2', '-c:v', 'libx264', '-preset', 'ultrafast']);
    const t0 = Date.now();
    await expect(processVideo(file, proc.videoConfig, {}, { maxDecodePixels: LIMIT })).rejects.toThrow(InputLimitError);
    await expect(processVideo(file, proc.videoConfig, {}, { maxDecodePixels: LIMIT })).rejects.toThrow(/4096x2048 exceed the decode limit/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

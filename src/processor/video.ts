// The video pipeline: frame sampling (fps with min/max frames, int() truncation, numpy rounding of linspace),
// whole-clip pixel budget, per-frame antialiased bicubic, temporal padding, patch rows, and per-group timestamps.
// Files are decoded by ffmpeg frame by frame; frame lists (images or raw RGB) come with fps or timestamps.

import type { ImageInput, VideoFrames, VideoInput, VideoOptions } from '../chat/messages.js';
import type { VideoProcessorConfig } from './config.js';
import { ImageDecodeError, InputLimitError, InvalidInputError, VideoDecodeError } from '../errors.js';
import { decodeFrames, probeVideo } from './ffmpeg.js';
import { loadImage, resolveBounds, type ImageLoadOptions } from './image.js';
import { DEFAULT_MAX_DECODE_PIXELS, type RgbImage } from './imageDecode.js';
import { normalisationTable, patchify } from './patchify.js';
import { linspaceRound } from './pyMath.js';
import { resizeBicubicAA, type Resampler } from './resize.js';
import { smartResizeVideo, SmartResizeError } from './smartResize.js';
import { describeSource, isRemote, loadBytes, localPath } from './source.js';
import { nodeImport } from '../io/source.js';

export interface SampleOptions {
  fps?: number;
  numFrames?: number;
  minFrames: number;
  maxFrames: number;
}

/** transformers' Qwen3VLVideoProcessor.sample_frames: indices of the frames to keep. */
export function sampleFrameIndices(totalFrames: number, videoFps: number | undefined, o: SampleOptions): number[] {
  if (!Number.isInteger(totalFrames) || totalFrames <= 0) throw new RangeError(`sampleFrameIndices: total frames ${totalFrames}`);
  if (o.fps !== undefined && o.numFrames !== undefined) throw new InvalidInputError('fps and numFrames are mutually exclusive');
  let n: number;
  if (o.numFrames !== undefined) {
    if (!Number.isInteger(o.numFrames) || o.numFrames <= 0) throw new InvalidInputError(`numFrames must be a positive integer, got ${o.numFrames}`);
    n = o.numFrames;
  } else {
    const fps = o.fps ?? 2;
    if (!(fps > 0)) throw new InvalidInputError(`fps must be positive, got ${fps}`);
    const native = videoFps && videoFps > 0 ? videoFps : 24; // the reference's assumption without metadata
    n = Math.trunc((totalFrames / native) * fps);
    n = Math.min(Math.min(Math.max(n, o.minFrames), o.maxFrames), totalFrames);
  }
  return linspaceRound(totalFrames - 1, n);
}

/** Per temporal patch: mean of the first and last frame time of the group (indices padded like the frames). */
export function groupTimestamps(seconds: readonly number[], mergeSize = 2): number[] {
  const t = [...seconds];
  while (t.length % mergeSize !== 0) t.push(t[t.length - 1]);
  const out: number[] = [];
  for (let i = 0; i < t.length; i += mergeSize) out.push((t[i] + t[i + mergeSize - 1]) / 2);
  return out;
}

export interface ProcessedVideo {
  data: Float32Array;
  grid: [number, number, number];
  /** Seconds for each temporal patch (what the prompt shows as `<t seconds>`). */
  timestamps: number[];
  /** Indices of the frames used (in the file or frame list). */
  frameIndices: number[];
  /** Native frame rate the timestamps were computed with. */
  fps: number;
}

export interface VideoRunOptions extends ImageLoadOptions {
  resampler?: Resampler;
  /** Refuse video files longer than this (seconds, from the container's frame count and rate). */
  maxVideoSeconds?: number;
  /** Refuse frame lists longer than this; sample files to at most this many frames. */
  maxVideoFrames?: number;
  /** Kills a running ffmpeg and stops between frames. */
  signal?: AbortSignal;
}

function checkFrameCount(n: number, run: VideoRunOptions, name: string): void {
  if (run.maxVideoFrames !== undefined && n > run.maxVideoFrames) throw new InputLimitError('max_video_frames', `video ${name}: ${n} frames; the limit is ${run.maxVideoFrames} per video`);
}

function targetSize(n: number, h: number, w: number, cfg: VideoProcessorConfig, o: VideoOptions, name: string, ceiling = DEFAULT_MAX_DECODE_PIXELS): [number, number] {
  if (!cfg.doResize) return [h, w];
  const [min, max] = resolveBounds(o, cfg);
  let size: [number, number];
  try {
    size = smartResizeVideo(n, h, w, cfg.temporalPatchSize, cfg.patchSize * cfg.mergeSize, min, max);
  } catch (e) {
    if (e instanceof SmartResizeError) throw new VideoDecodeError(name, e.message);
    throw e;
  }
  // A huge min_pixels upscales every frame without bound; the whole resized clip stays under the decode limit.
  if (n * size[0] * size[1] > ceiling) {
    throw new InputLimitError('max_image_pixels', `video ${name}: ${n} frames resized to ${size[1]}x${size[0]} exceed the limit of ${ceiling} pixels`);
  }
  return size;
}

function finish(frames: Uint8Array[], h: number, w: number, cfg: VideoProcessorConfig, seconds: number[], indices: number[], fps: number, name: string): ProcessedVideo {
  if (frames.length < 1) throw new VideoDecodeError(name, 'no frames');
  let p;
  try {
    p = patchify(frames, h, w, cfg, normalisationTable(cfg));
  } catch (e) {
    throw new VideoDecodeError(name, (e as Error).message);
  }
  return { data: p.data, grid: p.grid, timestamps: groupTimestamps(seconds, cfg.mergeSize), frameIndices: indices, fps };
}

function sampleOpts(cfg: VideoProcessorConfig, o: VideoOptions): SampleOptions {
  return {
    fps: o.numFrames !== undefined ? undefined : (o.fps ?? cfg.fps),
    numFrames: o.numFrames,
    minFrames: o.minFrames ?? cfg.minFrames,
    maxFrames: o.maxFrames ?? cfg.maxFrames,
  };
}

/** A video file: probe, sample, decode only the sampled frames and resize each as it arrives. */
async function processVideoFile(src: string, cfg: VideoProcessorConfig, o: VideoOptions, run: VideoRunOptions): Promise<ProcessedVideo> {
  const name = describeSource(src);
  if (!globalThis.process?.versions?.node) throw new VideoDecodeError(name, 'video paths and URLs need Node (ffmpeg); in browsers pass the file as a Blob (MP4) or the frames as images');
  if (isRemote(src) || src.startsWith('data:')) {
    // ffmpeg reads files: data: URLs and (allowed) remote videos go through a private temporary file.
    const bytes = await loadBytes(src, run);
    const [{ mkdtemp, rm, writeFile }, { tmpdir }, { join }] = await Promise.all([
      nodeImport<typeof import('node:fs/promises')>('node:fs/promises'),
      nodeImport<typeof import('node:os')>('node:os'),
      nodeImport<typeof import('node:path')>('node:path'),
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'qwen3vl-video-'));
    try {
      const file = join(dir, 'input');
      await writeFile(file, bytes);
      return await processLocalVideo(file, name, cfg, o, run);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return processLocalVideo(localPath(src)!, name, cfg, o, run);
}

/** A decodable video: its stream's size, frame count and rate, and a decoder of chosen frames (ffmpeg, WebCodecs). */
interface DecodableVideo {
  readonly width: number;
  readonly height: number;
  readonly totalFrames: number;
  readonly fps: number;
  decode(indices: readonly number[], onFrame: (k: number, rgb: Uint8Array) => void): Promise<void>;
}

async function processLocalVideo(file: string, name: string, cfg: VideoProcessorConfig, o: VideoOptions, run: VideoRunOptions): Promise<ProcessedVideo> {
  const probe = await probeVideo(file, name, undefined, run.signal);
  return processDecodable({ ...probe, decode: (indices, onFrame) => decodeFrames(file, indices, probe.width, probe.height, onFrame, name, undefined, run.signal) }, name, cfg, o, run);
}

/** A video file as a Blob in browsers (an MP4 picked or fetched by the page), decoded by WebCodecs. */
async function processVideoBlob(blob: Blob, cfg: VideoProcessorConfig, o: VideoOptions, run: VideoRunOptions): Promise<ProcessedVideo> {
  const name = `<${blob.type || 'video'} of ${blob.size} bytes>`;
  const { openWebVideo } = await import('./webVideo.js');
  const v = await openWebVideo(blob, name);
  return processDecodable({ ...v, decode: (indices, onFrame) => v.decode(indices, onFrame, run.signal) }, name, cfg, o, run);
}

/** Limits, the reference's frame sampling, the clip-wide resize, frames decoded and resized one by one. */
async function processDecodable(probe: DecodableVideo, name: string, cfg: VideoProcessorConfig, o: VideoOptions, run: VideoRunOptions): Promise<ProcessedVideo> {
  // The stream's declared size is what the decoder will allocate per frame: check it before decoding anything.
  const limit = run.maxDecodePixels ?? DEFAULT_MAX_DECODE_PIXELS;
  if (probe.width * probe.height > limit) {
    throw new InputLimitError('max_image_pixels', `video ${name}: frames of ${probe.width}x${probe.height} exceed the decode limit of ${limit} pixels`);
  }
  const seconds = probe.totalFrames / probe.fps;
  if (run.maxVideoSeconds !== undefined && seconds > run.maxVideoSeconds) {
    throw new InputLimitError('max_video_seconds', `video ${name}: ${seconds.toFixed(1)} s long; the limit is ${run.maxVideoSeconds} s`);
  }
  const sampling = cfg.doSampleFrames || o.numFrames !== undefined || o.fps !== undefined;
  if (o.numFrames !== undefined) checkFrameCount(o.numFrames, run, name);
  const so = sampleOpts(cfg, o);
  const capped = run.maxVideoFrames !== undefined ? { ...so, maxFrames: Math.min(so.maxFrames, run.maxVideoFrames) } : so;
  const indices = sampling ? sampleFrameIndices(probe.totalFrames, probe.fps, capped) : linspaceRound(probe.totalFrames - 1, probe.totalFrames);
  checkFrameCount(indices.length, run, name);
  const [h, w] = targetSize(indices.length, probe.height, probe.width, cfg, o, name, limit);
  const byIndex = new Map<number, Uint8Array>();
  await probe.decode(indices, (k, rgb) => {
    byIndex.set(k, h === probe.height && w === probe.width ? rgb : resizeBicubicAA(rgb, probe.width, probe.height, 3, w, h, run.resampler));
  });
  const frames = indices.map((i) => byIndex.get(i)!);
  return finish(frames, h, w, cfg, indices.map((i) => i / probe.fps), indices, probe.fps, name);
}

function asFrameList(v: VideoInput): VideoFrames | null {
  if (Array.isArray(v)) return { frames: v as readonly ImageInput[] };
  if (v && typeof v === 'object' && Array.isArray((v as VideoFrames).frames)) return v as VideoFrames;
  return null;
}

/** A list of frames: decoded one by one (each resized before the next is loaded). */
async function processFrameList(list: VideoFrames, cfg: VideoProcessorConfig, o: VideoOptions, run: VideoRunOptions, name: string): Promise<ProcessedVideo> {
  const total = list.frames.length;
  if (total === 0) throw new VideoDecodeError(name, 'empty frame list');
  checkFrameCount(total, run, name);
  if (list.timestamps !== undefined) {
    if (list.timestamps.length !== total || !list.timestamps.every((t) => Number.isFinite(t))) {
      throw new VideoDecodeError(name, `timestamps must be ${total} finite numbers, one per frame`);
    }
    if (o.sampleFrames) throw new InvalidInputError(`video ${name}: sampleFrames cannot be combined with explicit timestamps`);
  }
  // Sampling without a known rate assumes 24 fps, as the reference does (and its timestamps then use 24 too).
  const nativeFps = list.fps ?? (o.sampleFrames ? 24 : (o.fps ?? cfg.fps));
  if (!(nativeFps > 0)) throw new VideoDecodeError(name, `fps must be positive, got ${nativeFps}`);
  const indices = o.sampleFrames ? sampleFrameIndices(total, list.fps, sampleOpts(cfg, { ...o, fps: o.fps ?? cfg.fps })) : [...Array(total).keys()];
  let first: RgbImage | null = null;
  let size: [number, number] | null = null;
  const frames: Uint8Array[] = [];
  for (const i of indices) {
    run.signal?.throwIfAborted();
    let img: RgbImage;
    try {
      img = await loadImage(list.frames[i], run, `${name} frame ${i}`);
    } catch (e) {
      if (e instanceof ImageDecodeError || e instanceof InvalidInputError) throw new VideoDecodeError(name, e.message);
      throw e;
    }
    if (!first) {
      first = img;
      size = targetSize(indices.length, img.height, img.width, cfg, o, name, run.maxDecodePixels);
    } else if (img.width !== first.width || img.height !== first.height) {
      throw new VideoDecodeError(name, `frame ${i} is ${img.width}x${img.height}, frame ${indices[0]} is ${first.width}x${first.height}; all frames must have one size`);
    }
    const [h, w] = size!;
    frames.push(h === img.height && w === img.width ? img.data : resizeBicubicAA(img.data, img.width, img.height, 3, w, h, run.resampler));
  }
  const seconds = list.timestamps ? indices.map((i) => list.timestamps![i]) : indices.map((i) => i / nativeFps);
  const fps = list.timestamps ? NaN : nativeFps;
  return finish(frames, size![0], size![1], cfg, seconds, indices, fps, name);
}

/** Any video input through the pipeline. */
export async function processVideo(v: VideoInput, cfg: VideoProcessorConfig, o: VideoOptions = {}, run: VideoRunOptions = {}): Promise<ProcessedVideo> {
  const list = asFrameList(v);
  if (list) return processFrameList(list, cfg, o, run, `<${list.frames.length} frames>`);
  if (typeof v === 'string') return processVideoFile(v, cfg, o, run);
  if (typeof Blob !== 'undefined' && v instanceof Blob && !globalThis.process?.versions?.node) return processVideoBlob(v, cfg, o, run);
  throw new InvalidInputError(`video ${describeSource(v)}: expected a file path${globalThis.process?.versions?.node ? '' : ', an MP4 Blob'} or a list of frames`);
}

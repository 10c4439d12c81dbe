// Image and video pre-processor settings from a checkpoint's preprocessor_config.json and
// video_preprocessor_config.json; missing files fall back to the published Qwen3-VL values (spec §6.1).

import { type CheckpointSource, type SourceLike, openSource } from '../io/source.js';
import { ProcessorConfigError } from '../errors.js';
import type { PatchParams } from './patchify.js';

export interface ImageProcessorConfig extends PatchParams {
  minPixels: number;
  maxPixels: number;
  doResize: boolean;
  /** Where the values came from (a file path or 'defaults'). */
  source: string;
}

export interface VideoProcessorConfig extends ImageProcessorConfig {
  fps: number;
  minFrames: number;
  maxFrames: number;
  doSampleFrames: boolean;
}

const COMMON = {
  patchSize: 16,
  temporalPatchSize: 2,
  mergeSize: 2,
  imageMean: [0.5, 0.5, 0.5],
  imageStd: [0.5, 0.5, 0.5],
  rescaleFactor: 1 / 255,
  doResize: true,
};

export const DEFAULT_IMAGE_CONFIG: ImageProcessorConfig = { ...COMMON, minPixels: 65536, maxPixels: 16777216, source: 'defaults' };
export const DEFAULT_VIDEO_CONFIG: VideoProcessorConfig = {
  ...COMMON,
  minPixels: 4096,
  maxPixels: 25165824,
  fps: 2,
  minFrames: 4,
  maxFrames: 768,
  doSampleFrames: true,
  source: 'defaults',
};

function num(j: Record<string, unknown>, key: string, fallback: number, file: string, integer = false): number {
  const v = j[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new ProcessorConfigError(`${file}: "${key}" must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function triple(j: Record<string, unknown>, key: string, fallback: readonly number[], file: string): readonly number[] {
  const v = j[key];
  if (v === undefined || v === null) return fallback;
  const arr = typeof v === 'number' ? [v, v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 3 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new ProcessorConfigError(`${file}: "${key}" must be a number or 3 numbers`);
  }
  return arr as number[];
}

function parseCommon<T extends ImageProcessorConfig>(j: Record<string, unknown>, base: T, file: string): T {
  const size = (j.size ?? {}) as Record<string, unknown>;
  if (typeof size !== 'object') throw new ProcessorConfigError(`${file}: "size" must be an object`);
  // Legacy min_pixels/max_pixels override size, as in transformers.
  const minPixels = num(j, 'min_pixels', num(size, 'shortest_edge', base.minPixels, file), file);
  const maxPixels = num(j, 'max_pixels', num(size, 'longest_edge', base.maxPixels, file), file);
  if (minPixels > maxPixels) throw new ProcessorConfigError(`${file}: min pixels ${minPixels} > max pixels ${maxPixels}`);
  const resample = j.resample;
  if (resample !== undefined && resample !== 3) {
    throw new ProcessorConfigError(`${file}: resample ${JSON.stringify(resample)} is not supported (only 3 = bicubic)`);
  }
  const flag = (k: string, d: boolean) => (typeof j[k] === 'boolean' ? (j[k] as boolean) : d);
  const doRescale = flag('do_rescale', true);
  const doNormalize = flag('do_normalize', true);
  const rescaleFactor = doRescale ? num(j, 'rescale_factor', base.rescaleFactor, file) : 1;
  const imageMean = doNormalize ? triple(j, 'image_mean', base.imageMean, file) : [0, 0, 0];
  const imageStd = doNormalize ? triple(j, 'image_std', base.imageStd, file) : [1, 1, 1];
  if (imageStd.some((s) => s === 0)) throw new ProcessorConfigError(`${file}: image_std contains 0`);
  return {
    ...base,
    minPixels,
    maxPixels,
    patchSize: num(j, 'patch_size', base.patchSize, file, true),
    temporalPatchSize: num(j, 'temporal_patch_size', base.temporalPatchSize, file, true),
    mergeSize: num(j, 'merge_size', base.mergeSize, file, true),
    imageMean,
    imageStd,
    rescaleFactor,
    doResize: flag('do_resize', true),
    source: file,
  };
}

async function readJson(src: CheckpointSource, name: string): Promise<Record<string, unknown>> {
  const file = src.resolve(name);
  try {
    const j = JSON.parse(await src.readText(name));
    if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not a JSON object');
    return j;
  } catch (e) {
    throw new ProcessorConfigError(`${file}: ${(e as Error).message}`);
  }
}

export function parseImageConfig(j: Record<string, unknown>, file = '<image config>'): ImageProcessorConfig {
  return parseCommon(j, DEFAULT_IMAGE_CONFIG, file);
}

export function parseVideoConfig(j: Record<string, unknown>, file = '<video config>'): VideoProcessorConfig {
  const c = parseCommon(j, DEFAULT_VIDEO_CONFIG, file);
  const minFrames = num(j, 'min_frames', c.minFrames, file, true);
  const maxFrames = num(j, 'max_frames', c.maxFrames, file, true);
  if (minFrames > maxFrames) throw new ProcessorConfigError(`${file}: min_frames ${minFrames} > max_frames ${maxFrames}`);
  return {
    ...c,
    fps: num(j, 'fps', c.fps, file),
    minFrames,
    maxFrames,
    doSampleFrames: typeof j.do_sample_frames === 'boolean' ? j.do_sample_frames : c.doSampleFrames,
  };
}

export async function loadImageConfig(dir: SourceLike): Promise<ImageProcessorConfig> {
  const src = await openSource(dir);
  const name = 'preprocessor_config.json';
  return (await src.exists(name)) ? parseImageConfig(await readJson(src, name), src.resolve(name)) : DEFAULT_IMAGE_CONFIG;
}

export async function loadVideoConfig(dir: SourceLike): Promise<VideoProcessorConfig> {
  const src = await openSource(dir);
  const name = 'video_preprocessor_config.json';
  return (await src.exists(name)) ? parseVideoConfig(await readJson(src, name), src.resolve(name)) : DEFAULT_VIDEO_CONFIG;
}

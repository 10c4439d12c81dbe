// Video parity on qwen3-vl/video: the .npy frames as input, sampled (declared 10 fps, sampled at 2 fps) and not
// sampled; grids, frame indices, timestamp text and pixels. Then the same frames written to a lossless video file
// and read back through ffmpeg, which must give identical outputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ffmpegPath,
  formatFixed,
  loadProcessor,
  probeVideo,
  VideoDecodeError,
  type Qwen3VLProcessor,
  type ProcessedVideo,
} from '../../src/processor/index.js';
import { diffStats, readJson, readNpyU8, readTensors, tinyDenseDir, toF16Precision, videoDir } from '../helpers/processorFixtures.js';

const golden = readJson<Record<string, { video_grid_thw: number[][]; kwargs: Record<string, unknown> }>>(path.join(videoDir, 'golden.json'));
let proc: Qwen3VLProcessor;
let tensors: Map<string, { shape: readonly number[]; data: Float32Array }>;
let frames: { data: Uint8Array; width: number; height: number }[];
let npy: Uint8Array;
let tmp: string;

beforeAll(async () => {
  proc = await loadProcessor(tinyDenseDir);
  tensors = await readTensors(path.join(videoDir, 'golden.safetensors'), ['fps10_sample2.pixel_values_videos', 'nosample.pixel_values_videos']);
  const a = readNpyU8(path.join(videoDir, 'frames_30x256x256x3.npy'));
  expect(a.shape).toEqual([30, 256, 256, 3]);
  npy = a.data;
  const n = 256 * 256 * 3;
  frames = Array.from({ length: 30 }, (_, i) => ({ data: a.data.subarray(i * n, (i + 1) * n), width: 256, height: 256 }));
  tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-video-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function report(tag: string, got: ProcessedVideo, want: Float32Array): void {
  const raw = diffStats(got.data, want);
  const r = diffStats(toF16Precision(got.data), want);
  console.log(`[video parity] ${tag} grid ${JSON.stringify(got.grid)}: mean ${raw.mean.toExponential(2)} max ${raw.max.toExponential(2)} (after float16 rounding: mean ${r.mean.toExponential(2)} max ${r.max.toExponential(2)})`);
  expect(raw.max).toBeLessThanOrEqual(2 ** -11);
  expect(r.max).toBe(0);
}

describe('video processor parity', () => {
  it('fps10_sample2: declared 10 fps, sampled at 2 fps', async () => {
    const v = await proc.processVideo({ frames, fps: 10 }, { sampleFrames: true });
    expect(v.frameIndices).toEqual([0, 6, 12, 17, 23, 29]); // round(linspace(0, 29, int(30/10*2)=6)), half-even
    expect([...v.grid]).toEqual(golden.fps10_sample2.video_grid_thw[0]);
    expect(v.timestamps.map((t) => `<${formatFixed(t)} seconds>`)).toEqual(['<0.3 seconds>', '<1.4 seconds>', '<2.6 seconds>']);
    report('fps10_sample2', v, tensors.get('fps10_sample2.pixel_values_videos')!.data);
  });

  it('nosample: all 30 frames', async () => {
    const v = await proc.processVideo({ frames });
    expect(v.frameIndices).toEqual([...Array(30).keys()]);
    expect([...v.grid]).toEqual(golden.nosample.video_grid_thw[0]);
    report('nosample', v, tensors.get('nosample.pixel_values_videos')!.data);
  });

  it('frame lists with explicit timestamps use them per temporal patch', async () => {
    const v = await proc.processVideo({ frames: frames.slice(0, 5), timestamps: [0, 0.5, 1, 1.5, 2] });
    expect(v.grid[0]).toBe(3); // 5 frames padded to 6
    expect(v.timestamps).toEqual([0.25, 1.25, 2]);
    expect(v.timestamps.map((t) => formatFixed(t))).toEqual(['0.2', '1.2', '2.0']); // Python .1f: ties to even
  });
});

describe('video files through ffmpeg', () => {
  it('a lossless file of the frames decodes to the same processor output as the frames', async () => {
    const file = path.join(tmp, 'pan.nut');
    const r = spawnSync(ffmpegPath(), ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '256x256', '-r', '10', '-i', 'pipe:0', '-c:v', 'rawvideo', '-pix_fmt', 'rgb24', file], { input: npy });
    expect(r.status, r.stderr?.toString()).toBe(0);
    expect(await probeVideo(file)).toMatchObject({ width: 256, height: 256, totalFrames: 30, fps: 10 });
    const v = await proc.processVideo(file);
    expect(v.frameIndices).toEqual([0, 6, 12, 17, 23, 29]);
    expect(v.timestamps.map((t) => formatFixed(t))).toEqual(['0.3', '1.4', '2.6']);
    report('file fps10 (ffmpeg, sampled at 2 fps)', v, tensors.get('fps10_sample2.pixel_values_videos')!.data);
    // The same file as a data: URL (OpenAI video_url form) goes through a temporary file.
    const url = `data:video/x-nut;base64,${readFileSync(file).toString('base64')}`;
    const out = await proc.prepare([{ role: 'user', content: [{ type: 'video_url', video_url: { url } }] }]);
    expect(out.pixelValuesVideos).toEqual(v.data);
    await expect(proc.processVideo('https://example.invalid/v.mp4')).rejects.toThrow(/disabled/);
  });

  it('a lossy H.264 file gives the same grid and timestamps and close pixels', async () => {
    const file = path.join(tmp, 'pan.mp4');
    const r = spawnSync(ffmpegPath(), ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '256x256', '-r', '10', '-i', 'pipe:0', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', '-qp', '0', file], { input: npy });
    expect(r.status, r.stderr?.toString()).toBe(0);
    const v = await proc.processVideo(file);
    expect(v.grid).toEqual([3, 16, 16]);
    expect(v.frameIndices).toEqual([0, 6, 12, 17, 23, 29]);
    const d = diffStats(v.data, tensors.get('fps10_sample2.pixel_values_videos')!.data);
    console.log(`[video parity] H.264 yuv444 qp0 file vs frames: mean ${d.mean.toExponential(2)} max ${d.max.toExponential(2)} (colour conversion only)`);
    expect(d.mean).toBeLessThan(0.02);
  });

  it('truncated, empty and missing files give VideoDecodeError naming the file', async () => {
    const bad = path.join(tmp, 'broken.mp4');
    writeFileSync(bad, Buffer.from('not a video at all, just text'));
    await expect(proc.processVideo(bad)).rejects.toThrow(VideoDecodeError);
    await expect(proc.processVideo(bad)).rejects.toThrow(/broken\.mp4/);
    const empty = path.join(tmp, 'empty.mkv');
    writeFileSync(empty, Buffer.alloc(0));
    await expect(proc.processVideo(empty)).rejects.toThrow(VideoDecodeError);
    await expect(proc.processVideo(path.join(tmp, 'missing.mp4'))).rejects.toThrow(/missing\.mp4/);
  });

  it('a frame list with one frame, mixed sizes or bad timestamps is refused clearly', async () => {
    await expect(proc.processVideo({ frames: frames.slice(0, 1) })).rejects.toThrow(/at least 2 frames/);
    const small = { data: new Uint8Array(64 * 64 * 3), width: 64, height: 64 };
    await expect(proc.processVideo({ frames: [frames[0], small] })).rejects.toThrow(/one size/);
    await expect(proc.processVideo({ frames: frames.slice(0, 2), timestamps: [0] })).rejects.toThrow(/timestamps/);
    await expect(proc.processVideo({ frames: [] })).rejects.toThrow(/empty frame list/);
  });
});

describe('frame-list sampling without a declared rate', () => {
  it('assumes 24 fps for both sampling and timestamps, as the reference', async () => {
    const frames = Array.from({ length: 48 }, (_, i) => ({ data: new Uint8Array(64 * 64 * 3).fill(i), width: 64, height: 64 }));
    const v = await proc.processVideo({ frames }, { sampleFrames: true });
    expect(v.frameIndices).toEqual([0, 16, 31, 47]); // int(48/24*2) = 4 frames
    expect(v.fps).toBe(24);
    expect(v.timestamps.map((t) => formatFixed(t))).toEqual(['0.3', '1.6']);
  });
});

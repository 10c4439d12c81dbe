// Browser tier, video: the golden clip's 30 frames (qwen3-vl/video) encoded to MP4 here with ffmpeg (H.264 with
// B-frames, and VP9), then processed in Node (ffmpeg decodes) and in Chromium (mp4box + WebCodecs decode): frame
// indices, grids, timestamps and prompt ids exact; pixel error between the two decoders, and of each against the
// golden (lossless) pixels, printed and bounded. A frame list of ImageBitmaps with timestamps equals Node exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ffmpegPath, loadProcessor, type Qwen3VLProcessor } from '../../src/processor/index.js';
import { diffStats, readNpyU8, readTensors, tinyDenseDir, videoDir } from '../helpers/processorFixtures.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { type StaticServer, startStaticServer } from '../helpers/staticServer.js';
import { type BrowserPage, openPage } from './harness.js';
import type { PageVideo, VideoApi } from './videoEntry.js';

type Api = { qwen: VideoApi };
const PROMPT = 'What happens in this video?';
// ffmpeg converts RGB to YUV with BT.601 and decodes untagged streams with BT.601; Chromium reads untagged ones as
// BT.709, so the untagged clips differ by the matrix; the tagged one says what it is.
const BT601 = ['-colorspace', 'smpte170m', '-color_primaries', 'smpte170m', '-color_trc', 'smpte170m'];
const CODECS: Record<string, string[]> = {
  h264: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '16', '-bf', '2'],
  'h264-bt601': ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '16', '-bf', '2', ...BT601],
  vp9: ['-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '16', '-b:v', '0'],
};
const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe('video in Chromium: WebCodecs against Node ffmpeg on the golden clip', () => {
  let bp: BrowserPage;
  let models: StaticServer;
  let clips: StaticServer;
  let tmp: string;
  let proc: Qwen3VLProcessor;
  let npy: Uint8Array;
  let golden: Float32Array;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-webvideo-'));
    npy = readNpyU8(path.join(videoDir, 'frames_30x256x256x3.npy')).data;
    golden = (await readTensors(path.join(videoDir, 'golden.safetensors'), ['fps10_sample2.pixel_values_videos'])).get('fps10_sample2.pixel_values_videos')!.data;
    for (const [name, args] of Object.entries(CODECS)) {
      const r = spawnSync(ffmpegPath(), ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '256x256', '-r', '10', '-i', 'pipe:0', ...args, '-movflags', '+faststart', path.join(tmp, `${name}.mp4`)], { input: npy });
      if (r.status !== 0) throw new Error(`ffmpeg ${name}: ${r.stderr}`);
    }
    proc = await loadProcessor(tinyDenseDir);
    [models, clips] = await Promise.all([startStaticServer(fixturesRoot), startStaticServer(tmp)]);
    bp = await openPage('videoEntry.ts');
  });

  afterAll(async () => {
    await bp?.close();
    await models?.close();
    await clips?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (bp?.messages.length) console.warn(`page messages:\n${bp.messages.slice(0, 20).join('\n')}`);
  });

  for (const codec of Object.keys(CODECS)) {
    it(`${codec} MP4: same frames, grid, timestamps and prompt ids as Node; pixel error stated`, async () => {
      const file = path.join(tmp, `${codec}.mp4`);
      const node = await proc.processVideo(file);
      const nodeIds = (await proc.prepare([{ role: 'user', content: [{ type: 'video', video: file }, { type: 'text', text: PROMPT }] }], { addGenerationPrompt: true })).inputIds;
      const got: PageVideo = await bp.page.evaluate(([m, v, p]) => (globalThis as unknown as Api).qwen.file(m, v, p), [`${models.url}tiny-dense/`, `${clips.url}${codec}.mp4`, PROMPT] as const);
      const px = f32(got.data);
      const vsNode = diffStats(px, node.data);
      const browserVsGolden = diffStats(px, golden);
      const nodeVsGolden = diffStats(node.data, golden);
      const e = (d: { mean: number; max: number }) => `mean ${d.mean.toFixed(4)} max ${d.max.toFixed(3)}`;
      console.log(`[video ${codec}] frames ${got.frameIndices.join(',')} grid ${got.grid.join('x')} fps ${got.fps} timestamps ${got.timestamps.join(',')}; ${got.inputIds.length} prompt ids; normalised pixel |diff| browser vs Node ffmpeg: ${e(vsNode)}; browser vs golden: ${e(browserVsGolden)}; Node vs golden: ${e(nodeVsGolden)} (1 8-bit level = ${(2 / 255).toFixed(4)})`);
      expect(got.frameIndices).toEqual(node.frameIndices);
      expect(got.frameIndices).toEqual([0, 6, 12, 17, 23, 29]);
      expect(got.grid).toEqual([...node.grid]);
      expect(got.timestamps).toEqual(node.timestamps);
      expect(got.fps).toBeCloseTo(node.fps, 9);
      expect(got.inputIds).toEqual([...nodeIds]);
      // Both decode the same YUV; what differs is the YUV->RGB conversion and chroma upsampling of each decoder.
      expect(vsNode.mean).toBeLessThan((codec.endsWith('bt601') ? 1.5 : 4) * (2 / 255));
      expect(browserVsGolden.mean).toBeLessThan(nodeVsGolden.mean * 1.5 + 2 / 255);
    });
  }

  it('a frame list of ImageBitmaps with timestamps equals Node on the same RGB frames', async () => {
    const n = 256 * 256 * 3;
    const rgb = Array.from({ length: 5 }, (_, i) => npy.subarray(i * 6 * n, (i * 6 + 1) * n));
    const ts = [0, 0.6, 1.2, 1.7, 2.3];
    const node = await proc.processVideo({ frames: rgb.map((data) => ({ data, width: 256, height: 256 })), timestamps: ts });
    const got: PageVideo = await bp.page.evaluate(([m, f, t]) => (globalThis as unknown as Api).qwen.frames(m, f, 256, 256, t), [`${models.url}tiny-dense/`, rgb.map((f) => [...f]), ts] as const);
    const d = diffStats(f32(got.data), node.data);
    console.log(`[video frames] grid ${got.grid.join('x')} timestamps ${got.timestamps.join(',')}; pixel |diff| vs Node max ${d.max}`);
    expect(got.grid).toEqual([...node.grid]);
    expect(got.timestamps).toEqual(node.timestamps);
    expect(d.max).toBe(0);
  });

  it('a Blob that is not an MP4 fails with a clear error', async () => {
    const msg = await bp.page.evaluate((m) => (globalThis as unknown as Api).qwen.bad(m), `${models.url}tiny-dense/`);
    console.log(`[video bad] ${msg}`);
    expect(msg).toMatch(/VideoDecodeError: .*not a readable MP4\/MOV file/);
  });
});

// Limits for untrusted inputs through the real processor (tiny-dense): media counts, prompt characters and tokens,
// the pixel-bound ceiling, decoded size of images and video frames, video length and frames, and cancellation that
// kills a running ffmpeg.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ffmpegPath, ImageSizeError, InputLimitError, loadProcessor, type Qwen3VLProcessor } from '../../src/processor/index.js';
import { processorDir, tinyDenseDir } from '../helpers/processorFixtures.js';
import { scriptedEngine } from '../helpers/scriptedModel.js';

let proc: Qwen3VLProcessor;
let tmp: string;
let clip: string;
let longClip: string;
const png = `data:image/png;base64,${readFileSync(path.join(processorDir, 'tiny.png')).toString('base64')}`;
const image = { type: 'image' as const, image: png };
const user = (...content: unknown[]) => [{ role: 'user', content: [...content, { type: 'text', text: 'describe' }] }] as never;

function makeClip(file: string, seconds: number, size: string, rate: number): string {
  const r = spawnSync(ffmpegPath(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${rate}`, '-t', String(seconds), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', file]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return file;
}

beforeAll(async () => {
  proc = await loadProcessor(tinyDenseDir);
  tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-limits-'));
  clip = makeClip(path.join(tmp, 'clip.mp4'), 3, '64x48', 10);
  longClip = makeClip(path.join(tmp, 'long.mp4'), 120, '320x240', 30);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function limitOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InputLimitError);
    return (e as InputLimitError).limit;
  }
  return 'accepted';
}

describe('input limits', () => {
  it('counts images and videos before reading any', async () => {
    expect(await limitOf(proc.prepare(user(image, image, image), { limits: { maxImages: 2 } }))).toBe('max_images');
    expect(await limitOf(proc.prepare(user(image, image), { limits: { maxImages: 2 } }))).toBe('accepted');
    const video = { type: 'video', video: [png, png] };
    expect(await limitOf(proc.prepare(user(video, video), { limits: { maxVideos: 1 } }))).toBe('max_videos');
    expect(await limitOf(proc.prepare(user({ type: 'video', video: Array(9).fill(png) }), { limits: { maxVideoFrames: 8 } }))).toBe('max_video_frames');
  });

  it('refuses prompts over the character limit before tokenising', async () => {
    const long = [{ role: 'user', content: 'a'.repeat(50_000) }] as never;
    const t0 = Date.now();
    expect(await limitOf(proc.prepare(long, { limits: { maxPromptChars: 10_000 } }))).toBe('max_prompt_chars');
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('caps caller pixel bounds at the checkpoint maximum (an upscale to 10 gigapixels would exhaust memory)', async () => {
    const capped = { capPixelBounds: true };
    expect(await limitOf(proc.prepare(user(image), { minPixels: 1e10, maxPixels: 1e10, limits: capped }))).toBe('min_pixels');
    expect(await limitOf(proc.prepare(user({ ...image, maxPixels: 2e8 }), { limits: capped }))).toBe('max_pixels');
    const ok = await proc.prepare(user(image), { maxPixels: 100_000, limits: capped });
    expect(ok.imageGridThw).toBeDefined();
  });

  it('checks the decoded size of images and video frames from their headers', async () => {
    await expect(proc.prepare(user(image), { limits: { maxImagePixels: 100 } })).rejects.toThrow(ImageSizeError);
    expect(await limitOf(proc.prepare(user({ type: 'video', video: clip }), { limits: { maxImagePixels: 1000 } }))).toBe('max_image_pixels');
  });

  it('refuses video files over the length limit and samples files to the frame limit', async () => {
    expect(await limitOf(proc.prepare(user({ type: 'video', video: clip }), { limits: { maxVideoSeconds: 2 } }))).toBe('max_video_seconds');
    const free = await proc.prepare(user({ type: 'video', video: clip }));
    const capped = await proc.prepare(user({ type: 'video', video: clip }), { limits: { maxVideoFrames: 4 } });
    expect(free.videoGridThw![0][0]).toBe(3); // 6 frames sampled at 2 fps → 3 temporal patches
    expect(capped.videoGridThw![0][0]).toBe(2); // 4 frames
    expect(await limitOf(proc.prepare(user({ type: 'video', video: clip, numFrames: 6 }), { limits: { maxVideoFrames: 4 } }))).toBe('max_video_frames');
  });

  it('an abort kills the running ffmpeg at once', async () => {
    const ctl = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ctl.abort(), 150);
    await expect(proc.prepare(user({ type: 'video', video: longClip, fps: 30 }), { signal: ctl.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('streamChat refuses prompts over maxPromptTokens before the prefill, and ends cancelled when aborted while preparing', async () => {
    const { engine } = scriptedEngine();
    const run = async (o: object) => {
      const events = [];
      for await (const e of engine.stream([{ role: 'user', content: 'hello there' }], o)) events.push(e);
      return events;
    };
    await expect(run({ maxPromptTokens: 3 })).rejects.toThrow(InputLimitError);
    await expect(run({ maxPromptTokens: 3 })).rejects.toThrow(/the limit is 3/);
    expect((await run({ maxPromptTokens: 100 })).at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });
});

// The page side of video.browser.ts: an MP4 fetched as a Blob through the processor (mp4box + WebCodecs), and a
// frame list of ImageBitmaps with timestamps (as a webcam or canvas capture gives); numbers go back to Node.
import { loadProcessor } from '../../src/processor/index.js';
import type { ChatMessage } from '../../src/processor/index.js';

export interface PageVideo {
  readonly grid: number[];
  readonly frameIndices: number[];
  readonly timestamps: number[];
  readonly fps: number;
  /** pixel_values as base64 of little-endian f32. */
  readonly data: string;
  readonly inputIds: number[];
}

const b64 = (f: Float32Array) => {
  const u = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
};

const api = {
  async file(modelUrl: string, videoUrl: string, prompt: string): Promise<PageVideo> {
    const proc = await loadProcessor(modelUrl);
    const blob = await (await fetch(videoUrl)).blob();
    const v = await proc.processVideo(blob);
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'video', video: blob }, { type: 'text', text: prompt }] }];
    const prep = await proc.prepare(messages, { addGenerationPrompt: true });
    return { grid: [...v.grid], frameIndices: v.frameIndices, timestamps: v.timestamps, fps: v.fps, data: b64(v.data), inputIds: [...prep.inputIds] };
  },

  /** RGB frames made into ImageBitmaps on the page, with explicit timestamps. */
  async frames(modelUrl: string, rgb: number[][], width: number, height: number, timestamps: number[]): Promise<PageVideo> {
    const proc = await loadProcessor(modelUrl);
    const frames = await Promise.all(
      rgb.map((f) => {
        const rgba = new Uint8ClampedArray(width * height * 4);
        for (let p = 0, q = 0; q < f.length; p += 4, q += 3) [rgba[p], rgba[p + 1], rgba[p + 2], rgba[p + 3]] = [f[q], f[q + 1], f[q + 2], 255];
        return createImageBitmap(new ImageData(rgba, width, height), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      }),
    );
    const v = await proc.processVideo({ frames, timestamps });
    return { grid: [...v.grid], frameIndices: v.frameIndices, timestamps: v.timestamps, fps: v.fps, data: b64(v.data), inputIds: [] };
  },

  async bad(modelUrl: string): Promise<string> {
    const proc = await loadProcessor(modelUrl);
    return proc.processVideo(new Blob([new Uint8Array(1000).fill(7)], { type: 'video/mp4' })).then(
      () => 'no error',
      (e: Error) => `${e.name}: ${e.message}`,
    );
  },
};

export type VideoApi = typeof api;
(globalThis as unknown as { qwen: VideoApi }).qwen = api;

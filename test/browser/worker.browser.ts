// Browser tier: the engine in a module Web Worker (src/web/worker.ts) through its client (src/web/client.ts): a
// streamed chat with a transferred ImageBitmap and byte buffer equals Node's engine on ref; cancellation crosses
// the boundary; errors keep their names and messages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ffmpegPath } from '../../src/processor/index.js';
import { readNpyU8, videoDir } from '../helpers/processorFixtures.js';
import path from 'node:path';
import { loadModel as loadEngine } from '../../src/generate/engine.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { type StaticServer, startStaticServer } from '../helpers/staticServer.js';
import { type ChatCase, chatMessages } from './chatCase.js';
import { type BrowserPage, openPage } from './harness.js';
import type { WorkerApi } from './workerEntry.js';

type Api = { qwen: WorkerApi };

describe('the engine in a Web Worker', () => {
  let bp: BrowserPage;
  let files: StaticServer;
  const url = () => `${files.url}tiny-dense/`;

  beforeAll(async () => {
    files = await startStaticServer(fixturesRoot);
    bp = await openPage('workerEntry.ts', { worker: '../../src/web/worker.ts' });
  });

  afterAll(async () => {
    await bp?.close();
    await files?.close();
    if (bp?.messages.length) console.warn(`page messages:\n${bp.messages.slice(0, 20).join('\n')}`);
  });

  it('streams the same greedy chat as Node on ref; the image bitmap and bytes are transferred, not copied', async () => {
    const images = ['tiny.png', 'camera_gray.png'].map((f) => readFileSync(path.join(fixturesRoot, 'processor', f)));
    const c: ChatCase = { images: images.map((b) => [...b]), prompt: 'What differs between these two pictures?', maxTokens: 6, pixels: { minPixels: 4096, maxPixels: 16384 } };
    const engine = await loadEngine(path.join(fixturesRoot, 'tiny-dense'), { backend: 'ref' });
    const want = await engine.complete(chatMessages(c.prompt, images.map((b) => new Uint8Array(b))), { maxTokens: c.maxTokens, temperature: 0, ...c.pixels });
    engine.dispose();
    const got = await bp.page.evaluate(([u, cc]) => (globalThis as unknown as Api).qwen.chat(u, cc), [url(), c] as const);
    console.log(`[worker] ${got.backend}: ${got.prompt} prompt tokens, ${got.events.length} events, tokens ${got.tokens.join(',')} (Node ${want.tokens.join(',')}); page's buffer after send ${got.afterSend.bytes} bytes, bitmap width ${got.afterSend.bitmapWidth}; longest gap between 10 ms page timer ticks while generating ${got.maxGapMs.toFixed(0)} ms (machine loaded)`);
    expect(got.tokens).toEqual([...want.tokens]);
    expect(got.text).toBe(want.text);
    expect(got.events.filter((e) => e.type === 'text').length).toBeGreaterThan(1);
    expect(got.events.at(-1)).toMatchObject({ type: 'done', finishReason: want.finishReason });
    expect(got.prompt).toBe(want.usage.promptTokens);
    expect(got.afterSend).toEqual({ bytes: 0, bitmapWidth: 0 });
  });

  it('an AbortSignal on the page stops generation in the worker, which then serves the next request', async () => {
    const r = await bp.page.evaluate((u) => (globalThis as unknown as Api).qwen.cancel(u), url());
    console.log(`[worker] cancelled after ${r.tokens} tokens: ${r.finish}; next request ${r.afterwards}`);
    expect(r.finish).toBe('cancelled');
    expect(r.tokens).toBeGreaterThan(0);
    expect(r.tokens).toBeLessThan(200);
    expect(r.afterwards).toBe('length');
  });

  it('a local folder (File objects, as the directory picker or a drop gives them) loads and chats like Node', async () => {
    const dir = path.join(fixturesRoot, 'tiny-dense');
    const names = readdirSync(dir).filter((f) => !f.startsWith('golden'));
    const engine = await loadEngine(dir, { backend: 'ref' });
    const want = await engine.complete([{ role: 'user', content: 'Hi' }], { maxTokens: 3, temperature: 0 });
    engine.dispose();
    const got = await bp.page.evaluate(([u, n]) => (globalThis as unknown as Api).qwen.folder(u, n), [url(), names] as const);
    console.log(`[worker folder] ${names.length} files from ${got.source}, ${got.weightBytes} weight bytes; tokens ${got.tokens.join(',')} (Node ${want.tokens.join(',')})`);
    expect(got.source).toBe('local folder');
    expect(got.weightBytes).toBeGreaterThan(0);
    expect(got.tokens).toEqual([...want.tokens]);
  });

  it('an MP4 Blob is decoded in the worker (WebCodecs there too): the prompt has the length Node gives it', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-worker-video-'));
    const clips = await startStaticServer(tmp);
    try {
      const npy = readNpyU8(path.join(videoDir, 'frames_30x256x256x3.npy')).data;
      const file = path.join(tmp, 'clip.mp4');
      const r = spawnSync(ffmpegPath(), ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '256x256', '-r', '10', '-i', 'pipe:0', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-colorspace', 'smpte170m', file], { input: npy });
      expect(r.status, String(r.stderr)).toBe(0);
      const prompt = 'What happens in this video?';
      const engine = await loadEngine(path.join(fixturesRoot, 'tiny-dense'), { backend: 'ref' });
      const want = await engine.processor!.prepare([{ role: 'user', content: [{ type: 'video', video: file }, { type: 'text', text: prompt }] }], { addGenerationPrompt: true });
      engine.dispose();
      const got = await bp.page.evaluate(([u, v, p]) => (globalThis as unknown as Api).qwen.video(u, v, p), [url(), `${clips.url}clip.mp4`, prompt] as const);
      console.log(`[worker video] ${got.prompt} prompt tokens (Node ${want.inputIds.length}); ${got.finish} after tokens ${got.tokens.join(',')}`);
      expect(got.prompt).toBe(want.inputIds.length);
      expect(got.finish).toBe('length');
    } finally {
      await clips.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('errors cross the boundary with their message', async () => {
    const errs = await bp.page.evaluate((u) => (globalThis as unknown as Api).qwen.errors(u), files.url);
    console.log(`[worker] ${errs.join(' | ')}`);
    expect(errs[0]).toMatch(/no model is loaded/);
    expect(errs[1]).toMatch(/does-not-exist\/config\.json.*404/);
  });
});

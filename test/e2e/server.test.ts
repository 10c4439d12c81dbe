// The real server (`qwen3-vl serve`, built binary, model in a worker thread) on the tiny-dense checkpoint, driven by
// the official `openai` client: greedy output equals the library's, images as data URLs, videos (frame list and
// file), tools reaching the template, cancellation on disconnect, and /health answering during a long prefill.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chat } from '../../src/generate/chat.js';
import { loadModel } from '../../src/generate/engine.js';
import { loadProcessor, ffmpegPath } from '../../src/processor/index.js';
import { fixturesRoot, projectRoot } from '../helpers/fixtures.js';
import { ensureBuilt, startServe, type ServeHandle } from './cliHarness.js';

const tiny = path.join(fixturesRoot, 'tiny-dense');

const png = `data:image/png;base64,${readFileSync(path.join(projectRoot, 'assets', 'demo.png')).toString('base64')}`;
let serve: ServeHandle;
let client: OpenAI;
let tmp: string;

const imageQuestion = [{ role: 'user' as const, content: [{ type: 'image_url' as const, image_url: { url: png } }, { type: 'text' as const, text: 'What is in this picture?' }] }];

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-serve-'));
  // The ref backend: the prefill and time-out tests below need a model slower than a health probe.
  serve = await startServe(['-m', tiny, '--backend', 'ref']);
  client = new OpenAI({ baseURL: `${serve.base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
});
afterAll(async () => {
  // SIGTERM must stop the server cleanly (exit 0) even after the tests.
  if (serve) expect(await serve.stop()).toBe(0);
  rmSync(tmp, { recursive: true, force: true });
});

const metrics = async () => (await fetch(`${serve.base}/metrics?format=json`)).json();

describe.skipIf(!existsSync(tiny))('qwen3-vl serve on tiny-dense (official openai client)', () => {
  it('greedy output through the server equals greedy output through the library (image as a data URL)', async () => {
    const model = await loadModel(tiny);
    const processor = await loadProcessor(tiny);
    const lib = await chat(model, processor, [{ role: 'user', content: [{ type: 'image', image: png }, { type: 'text', text: 'What is in this picture?' }] }], { temperature: 0, maxTokens: 12 });
    model.dispose();

    const r = await client.chat.completions.create({ model: 'tiny-dense', messages: imageQuestion, temperature: 0, max_tokens: 12 });
    expect(r.choices[0].message.content).toBe(lib.text);
    expect(r.usage).toMatchObject({ prompt_tokens: lib.usage.promptTokens, completion_tokens: lib.usage.completionTokens });

    const stream = await client.chat.completions.create({ model: 'tiny-dense', messages: imageQuestion, temperature: 0, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      usage = c.usage ?? usage;
    }
    expect(text).toBe(lib.text);
    expect(usage?.completion_tokens).toBe(lib.usage.completionTokens);
    // The re-sent conversation: every full block but the last came from the prefix cache.
    expect(r.usage!.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(usage?.prompt_tokens_details?.cached_tokens).toBe(Math.floor((r.usage!.prompt_tokens - 1) / 16) * 16);
    // The conversation was sent twice: the second request started from the first one's KV blocks (same answer above),
    // the image inside them never reaching the vision tower.
    await expect.poll(async () => (await metrics()).engine.prefixCache?.hitTokens ?? 0, { timeout: 10_000 }).toBeGreaterThanOrEqual(r.usage!.prompt_tokens - 16);
    const pc = (await metrics()).engine.prefixCache;
    expect(pc.promptTokens).toBeGreaterThanOrEqual(2 * r.usage!.prompt_tokens);
    expect(pc.hitRate).toBeGreaterThan(0.4);
    expect(pc.cachedBlocks).toBeGreaterThan(0);
    // New text before the image: the prefix misses, the image's features come from the vision cache.
    const edited = await client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'system', content: 'Be brief.' }, ...imageQuestion], temperature: 0, max_tokens: 2 });
    expect(edited.usage!.prompt_tokens).toBeGreaterThan(r.usage!.prompt_tokens);
    await expect.poll(async () => (await metrics()).engine.visionCache?.hits ?? 0, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    const vc = (await metrics()).engine.visionCache;
    expect(vc.misses).toBeGreaterThanOrEqual(1);
    expect(vc.bytes).toBeGreaterThan(0);
    expect(vc.capacityBytes).toBe(256e6);
    // The same counters in the Prometheus text.
    const prom = await (await fetch(`${serve.base}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(prom)?.[1]);
    expect(value('qwen3vl_prefix_cache_hits_tokens_total')).toBeGreaterThanOrEqual(r.usage!.prompt_tokens - 16);
    expect(value('qwen3vl_prefix_cache_hit_ratio')).toBeGreaterThan(0);
    expect(value('qwen3vl_vision_cache_hits_total')).toBeGreaterThanOrEqual(1);
    expect(value('qwen3vl_vision_cache_bytes')).toBeGreaterThan(0);
  });

  it('takes a video as a frame list (with timestamps) and as a video file', async () => {
    const frames = { type: 'video', video: [png, png, png, png], timestamps: [0, 0.5, 1, 1.5] };
    const r = await client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'user', content: [frames, { type: 'text', text: 'What happens?' }] }], max_tokens: 4 } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(r.usage!.completion_tokens).toBe(4);
    const textOnly = await client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'user', content: 'What happens?' }], max_tokens: 1 });
    // Two temporal patches of visual tokens plus their timestamps make the prompt longer.
    expect(r.usage!.prompt_tokens).toBeGreaterThan(textOnly.usage!.prompt_tokens + 10);

    const ffmpeg = ffmpegPath();
    try {
      execFileSync(ffmpeg, ['-version'], { stdio: 'ignore' });
    } catch {
      return; // no ffmpeg on this machine: video files cannot be decoded here (frame lists still work)
    }
    const mp4 = path.join(tmp, 'clip.mp4');
    execFileSync(ffmpeg, ['-v', 'error', '-loop', '1', '-i', path.join(projectRoot, 'assets', 'demo.png'), '-t', '2', '-r', '4', '-c:v', 'mpeg4', '-pix_fmt', 'yuv420p', '-y', mp4]);
    const url = `data:video/mp4;base64,${readFileSync(mp4).toString('base64')}`;
    const v = await client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'user', content: [{ type: 'video_url', video_url: { url } }, { type: 'text', text: 'What happens?' }] }], max_tokens: 2 } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(v.usage!.prompt_tokens).toBeGreaterThan(textOnly.usage!.prompt_tokens + 10);
  });

  it('sampling with a seed is reproducible; stop strings cut the answer', async () => {
    // top_k is an extension (vLLM's), so it is not in the client's types.
    const params = (extra: object) => ({ model: 'tiny-dense', messages: [{ role: 'user', content: 'hi' }], temperature: 1, top_k: 50, max_tokens: 10, ...extra }) as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const ask = (seed: number) => client.chat.completions.create(params({ seed }));
    const [a, b] = [await ask(42), await ask(42)];
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    const text = a.choices[0].message.content!;
    const cut = text.slice(3, 5);
    const stopped = await client.chat.completions.create(params({ seed: 42, stop: [cut] }));
    expect(stopped.choices[0].message.content).toBe(text.slice(0, text.indexOf(cut)));
    expect(stopped.choices[0].finish_reason).toBe('stop');
  });

  it('tools reach the chat template (the prompt grows by the tool preamble)', async () => {
    const messages = [{ role: 'user' as const, content: 'Weather in Paris?' }];
    const tool = { type: 'function' as const, function: { name: 'get_weather', description: 'Current weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
    const plain = await client.chat.completions.create({ model: 'tiny-dense', messages, max_tokens: 1 });
    const withTools = await client.chat.completions.create({ model: 'tiny-dense', messages, max_tokens: 1, tools: [tool] });
    const none = await client.chat.completions.create({ model: 'tiny-dense', messages, max_tokens: 1, tools: [tool], tool_choice: 'none' });
    expect(withTools.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens + 50);
    expect(none.usage!.prompt_tokens).toBe(plain.usage!.prompt_tokens);
  });

  it('a bad image is a 400 naming the problem, and the server keeps serving', async () => {
    const bad = `data:image/png;base64,${Buffer.from('definitely not a png').toString('base64')}`;
    const e = await client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: bad } }, { type: 'text', text: 'hi' }] }] }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.message).toMatch(/image/);
    const ok = await client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    expect(ok.usage!.completion_tokens).toBe(2);
  });

  it('a client that disconnects mid-stream stops its generation (metrics and log show it)', async () => {
    const before = (await metrics()).generations.cancelled;
    const ctl = new AbortController();
    const stream = await client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'user', content: 'Tell me a long story.' }], max_tokens: 4000, stream: true }, { signal: ctl.signal });
    let chunks = 0;
    try {
      for await (const _ of stream) if (++chunks === 3) ctl.abort();
    } catch {
      // The client's own abort.
    }
    await expect.poll(async () => (await metrics()).generations.cancelled, { timeout: 20_000 }).toBe(before + 1);
    const m = await metrics();
    const rec = m.recent[m.recent.length - 1];
    expect(rec.finish).toBe('cancelled');
    expect(rec.completionTokens).toBeLessThan(5000);
    expect(serve.log()).toContain(`cancelled ${rec.id}`);
    expect(m.engine.phase).toBe('idle');
  });

  it('/health answers quickly while a long prefill runs in the worker', async () => {
    // About 1200 tokens: a couple of seconds of prefill on the ref backend, far longer than a health check.
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(120);
    const pending = client.chat.completions.create({ model: 'tiny-dense', messages: [{ role: 'user', content: long }], max_tokens: 1 });
    const seen: { phase: string; ms: number }[] = [];
    let settled = false;
    pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) {
      const t0 = performance.now();
      const h = await (await fetch(`${serve.base}/health`)).json();
      seen.push({ phase: h.phase, ms: performance.now() - t0 });
      await new Promise((r) => setTimeout(r, 25));
    }
    const r = await pending;
    expect(r.usage!.prompt_tokens).toBeGreaterThan(1000);
    const during = seen.filter((s) => s.phase === 'prefill');
    expect(during.length, JSON.stringify(seen)).toBeGreaterThan(2);
    // The HTTP loop never waits on inference: every health check during the prefill is fast.
    expect(Math.max(...during.map((s) => s.ms))).toBeLessThan(500);
  });
});

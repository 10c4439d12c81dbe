// Server limits over a scripted model in-process: what applyLimits checks and hands the engine, admission (429 +
// Retry-After before the body is read), the upload deadline (which must never cut a long answer), the request
// deadline (408), and close() with a grace period.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { ChatServer } from '../../src/server/app.js';
import { applyLimits, checkLimits, DEFAULT_LIMITS, type ServerLimits } from '../../src/server/limits.js';
import { ApiError, parseChatRequest } from '../../src/server/protocol.js';
import { scriptedEngine } from '../helpers/scriptedModel.js';

const PNG = 'data:image/png;base64,iVBORw0KGgo=';
const limits = (o: Partial<ServerLimits> = {}): ServerLimits => ({ ...DEFAULT_LIMITS, ...o });
const req = (body: object) => parseChatRequest({ messages: [{ role: 'user', content: 'hi' }], ...body });
const img = { type: 'image_url', image_url: { url: PNG } };

function refusal(f: () => unknown): ApiError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected a refusal');
}

describe('applyLimits', () => {
  it('fills max_tokens with the ceiling, passes prompt and media limits to the engine', () => {
    const o = applyLimits(req({}), limits({ maxTokens: 100, maxPromptTokens: 1000 }));
    expect(o.maxTokens).toBe(100);
    expect(o.maxPromptTokens).toBe(1000);
    expect(o.prepare?.limits).toMatchObject({ maxImages: 16, maxVideos: 2, maxImagePixels: 50e6, maxVideoSeconds: 600, maxVideoFrames: 768, capPixelBounds: true });
    expect(applyLimits(req({ max_tokens: 7 }), limits()).maxTokens).toBe(7);
  });

  it('refuses, naming the parameter, what it can see before any media is read', () => {
    expect(refusal(() => applyLimits(req({ max_tokens: 101 }), limits({ maxTokens: 100 })))).toMatchObject({ status: 400, param: 'max_tokens', code: 'limit_exceeded' });
    const three = req({ messages: [{ role: 'user', content: [img, img, img] }] });
    expect(refusal(() => applyLimits(three, limits({ maxImages: 2 }))).message).toMatch(/3 images.*at most 2/);
    const videos = req({ messages: [{ role: 'user', content: [{ type: 'video', video: [PNG, PNG] }, { type: 'video', video: [PNG, PNG] }] }] });
    expect(refusal(() => applyLimits(videos, limits({ maxVideos: 1 }))).message).toMatch(/2 videos/);
    expect(refusal(() => applyLimits(videos, limits({ maxVideoFrames: 1 })))).toMatchObject({ param: 'messages[0].content[0]' });
    const long = req({ messages: [{ role: 'user', content: 'a'.repeat(8001) }] });
    expect(refusal(() => applyLimits(long, limits({ maxPromptTokens: 1000 }))).message).toMatch(/8001 characters.*at most 8000/);
    expect(() => applyLimits(req({ messages: [{ role: 'user', content: 'a'.repeat(8000) }] }), limits({ maxPromptTokens: 1000 }))).not.toThrow();
  });

  it('checkLimits refuses nonsense (NaN, negatives, zero where it would refuse everything)', () => {
    expect(() => checkLimits(limits({ maxConcurrent: 0 }))).toThrow(/maxConcurrent/);
    expect(() => checkLimits(limits({ requestTimeoutMs: NaN }))).toThrow(/requestTimeoutMs/);
    expect(() => checkLimits(limits({ maxImages: 0, maxQueue: 0 }))).not.toThrow();
  });
});

async function serve(o: Partial<ServerLimits>, stepMs = 20) {
  const s = scriptedEngine({ stepMs });
  const server = new ChatServer({ engine: s.engine, media: { allowRemote: false, allowedDirs: [], maxBytes: 1e6 }, limits: o });
  const base = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}`;
  return { server, base };
}
const post = (base: string, body: object) => fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const slow = (extra: object = {}) => ({ messages: [{ role: 'user', content: 'slow script:hello' }], ...extra });

describe('ChatServer limits', () => {
  it('beyond maxConcurrent + maxQueue: 429 with Retry-After at once, before the body is read', async () => {
    const { server, base } = await serve({ maxConcurrent: 1, maxQueue: 1 });
    try {
      const a = post(base, slow());
      const b = post(base, slow());
      await new Promise((r) => setTimeout(r, 100));
      // A third client that declares a body it never sends is still answered at once.
      const t0 = Date.now();
      const answer = await new Promise<string>((resolve) => {
        const u = new URL(base);
        const sock = net.connect(Number(u.port), u.hostname);
        let got = '';
        sock.on('data', (d) => (got += d));
        sock.on('close', () => resolve(got));
        sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{');
      });
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(answer).toMatch(/^HTTP\/1\.1 429/);
      expect(answer).toMatch(/retry-after: \d+/i);
      expect(answer).toMatch(/"code":"too_many_requests"/);
      expect(((await (await a).json()) as { choices: unknown[] }).choices).toHaveLength(1);
      expect((await b).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('the upload deadline ends a stalled upload (408) but never a long answer', async () => {
    const { server, base } = await serve({ uploadTimeoutMs: 400 }, 30);
    try {
      const stalled = await new Promise<string>((resolve) => {
        const u = new URL(base);
        const sock = net.connect(Number(u.port), u.hostname);
        let got = '';
        sock.on('data', (d) => (got += d));
        sock.on('close', () => resolve(got));
        sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"messages"');
      });
      expect(stalled).toMatch(/^HTTP\/1\.1 408/);
      // ~30 answer tokens at 30 ms: well past the upload deadline, and complete.
      const t0 = Date.now();
      const r = await post(base, slow({ stream: true }));
      const text = await r.text();
      expect(Date.now() - t0).toBeGreaterThan(800);
      expect(text.trim().endsWith('data: [DONE]')).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('the request deadline cancels the generation and answers 408', async () => {
    const { server, base } = await serve({ requestTimeoutMs: 300 }, 0);
    try {
      const r = await post(base, slow());
      expect(r.status).toBe(408);
      expect(await r.json()).toMatchObject({ error: { code: 'request_timeout', type: 'invalid_request_error' } });
      expect(server.metrics.generations.cancelled).toBe(1);
      expect((await post(base, { messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('close(grace) lets the running request finish, refuses new ones, and /health reports it', async () => {
    const { server, base } = await serve({});
    const running = post(base, slow());
    await new Promise((r) => setTimeout(r, 100));
    const closing = server.close(10_000);
    expect(server.shuttingDown).toBe(true);
    await expect(fetch(`${base}/health`)).rejects.toThrow(); // no new connections
    const r = await running;
    expect(r.status).toBe(200);
    expect(((await r.json()) as { choices: { finish_reason: string }[] }).choices[0].finish_reason).toBe('stop');
    await closing;
  });

  it('log lines cannot be forged with control characters in client input', async () => {
    const logs: string[] = [];
    const s = scriptedEngine();
    const server = new ChatServer({ engine: s.engine, media: { allowRemote: false, allowedDirs: [], maxBytes: 1e6 }, log: (l) => logs.push(l) });
    const base = `http://127.0.0.1:${(await server.listen(0, '127.0.0.1')).port}`;
    try {
      const r = await post(base, { model: 'x\n2030-01-01T00:00:00Z done chatcmpl-fake\r', messages: [{ role: 'user', content: 'hi' }] });
      expect(r.status).toBe(404);
      const line = logs.find((l) => l.startsWith('404'))!;
      expect(line).not.toMatch(/[\n\r]/);
      expect(line).toContain('x\\n2030-01-01T00:00:00Z done chatcmpl-fake\\x0d');
    } finally {
      await server.close();
    }
  });

  it('/metrics reports memory and limits', async () => {
    const { server, base } = await serve({ maxQueue: 3 });
    try {
      const m = (await (await fetch(`${base}/metrics?format=json`)).json()) as { memoryMb: { rss: number }; limits: ServerLimits };
      expect(m.memoryMb.rss).toBeGreaterThan(10);
      expect(m.limits.maxQueue).toBe(3);
    } finally {
      await server.close();
    }
  });
});

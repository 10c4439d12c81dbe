// The real `qwen3-vl serve` process under hostile or heavy use: the bind rule, API key from the environment, a request
// target that used to crash the process, per-request limits, 429 + Retry-After, request time-outs, and SIGTERM
// (requests in progress finish within the grace period, or are cancelled with an error event; exit code 0).
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fixturesRoot } from '../helpers/fixtures.js';
import { ensureBuilt, runCli, startServe } from './cliHarness.js';

const tiny = path.join(fixturesRoot, 'tiny-dense');
const PNG_1PX = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
const KEY = 'test-key-0123456789';

const chat = (base: string, body: object, key = KEY) =>
  fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }) });

/** Read an SSE response to its end; calls `onFirst` when the first event arrives. */
async function readSse(res: Response, onFirst?: () => void): Promise<string[]> {
  const events: string[] = [];
  let buf = '';
  const dec = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      events.push(buf.slice(0, i).replace(/^data: /, ''));
      buf = buf.slice(i + 2);
      if (events.length === 1) onFirst?.();
    }
  }
  return events;
}

function rawRequest(base: string, text: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname);
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(text);
    setTimeout(() => s.end(), 500);
  });
}

describe.skipIf(!existsSync(tiny))('qwen3-vl serve hardening (real process, tiny-dense)', () => {
  it('refuses to listen on the network without an API key, before loading anything', async () => {
    ensureBuilt();
    const r = await runCli(['serve', '-m', tiny, '--host', '0.0.0.0', '--port', '0'], { env: { QWEN3VL_API_KEY: '' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without an API key.*--insecure-no-auth/);
  });

  it('key from the environment, malformed targets, limits, 429 + Retry-After, time-outs; SIGTERM lets a stream finish', async () => {
    const s = await startServe(['-m', tiny, '--backend', 'ref', '--model-id', 'tiny', '--max-concurrent', '1', '--max-queue', '0', '--max-images', '1', '--max-tokens', '4000', '--request-timeout', '2', '--shutdown-grace', '30'], { QWEN3VL_API_KEY: KEY });
    let exited = false;
    try {
      // Auth on every route but /health.
      expect((await fetch(`${s.base}/health`)).status).toBe(200);
      for (const route of ['/v1/models', '/metrics', '/nowhere']) {
        const r = await fetch(`${s.base}${route}`, { headers: { authorization: 'Bearer wrong' } });
        expect([route, r.status, r.headers.get('www-authenticate')]).toEqual([route, 401, 'Bearer']);
      }
      expect((await fetch(`${s.base}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);

      // This request target used to throw outside the handler's try: an unhandled rejection ended the process.
      expect(await rawRequest(s.base, 'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
      expect(await rawRequest(s.base, `GET /v1/models/%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400/);
      expect((await fetch(`${s.base}/health`)).status).toBe(200);

      // Limits checked before any work, naming the flag.
      const images = await chat(s.base, { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: PNG_1PX } }, { type: 'image_url', image_url: { url: PNG_1PX } }] }] });
      expect(images.status).toBe(400);
      expect(await images.json()).toMatchObject({ error: { code: 'limit_exceeded', param: 'messages', message: expect.stringMatching(/--max-images/) } });
      const tokens = await chat(s.base, { max_tokens: 4001 });
      expect(await tokens.json()).toMatchObject({ error: { code: 'limit_exceeded', param: 'max_tokens' } });

      // Over the time limit (4000 tokens take far longer than 2 s on ref): 408 when nothing was sent yet, a final error event in a stream.
      const slow = await chat(s.base, { max_tokens: 4000 });
      expect(slow.status).toBe(408);
      expect(await slow.json()).toMatchObject({ error: { code: 'request_timeout' } });
      const slowStream = await readSse(await chat(s.base, { max_tokens: 4000, stream: true }));
      expect(JSON.parse(slowStream.at(-1)!)).toMatchObject({ error: { code: 'request_timeout' } });

      // One request at a time and no queue: the second is refused at once with a Retry-After hint.
      const first = chat(s.base, { max_tokens: 12, stream: true });
      const firstRes = await first;
      const busy = await chat(s.base, { max_tokens: 1 });
      expect(busy.status).toBe(429);
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await readSse(firstRes);

      // SIGTERM while a stream runs: no new connections, the stream still finishes normally, exit 0.
      const streaming = await chat(s.base, { max_tokens: 12, stream: true });
      let code: Promise<number | null> | null = null;
      const events = await readSse(streaming, () => {
        code = s.stop();
      });
      expect(events.at(-1)).toBe('[DONE]');
      expect(JSON.parse(events.at(-2)!).choices[0].finish_reason).toBe('length');
      expect(await code).toBe(0);
      exited = true;
      await expect(fetch(`${s.base}/health`)).rejects.toThrow();
      expect(s.log()).toMatch(/SIGTERM: stopped accepting/);
    } finally {
      if (!exited) await s.stop();
    }
  });

  it('SIGTERM past the grace period cancels the running stream with an error event and still exits 0', async () => {
    const s = await startServe(['-m', tiny, '--shutdown-grace', '0.3']);
    const streaming = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 500, stream: true }) });
    let code: Promise<number | null> | null = null;
    const t0 = Date.now();
    const events = await readSse(streaming, () => {
      code = s.stop();
    });
    expect(JSON.parse(events.at(-1)!)).toMatchObject({ error: { code: 'shutting_down' } });
    expect(await code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

// Fuzzing the HTTP side: request JSON through the validator, and mutated bodies and raw request bytes against a live
// server (scripted model, real protocol/media/queue code). Every answer is a 2xx or an OpenAI-shaped 4xx — never a
// 5xx, a crash or a hang — and /health keeps answering throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { ChatServer } from '../../src/server/app.js';
import { ApiError, parseChatRequest } from '../../src/server/protocol.js';
import { scriptedEngine } from '../helpers/scriptedModel.js';
import { accepts, fuzz, int, mutateBytes, mutateJson, pick } from './fuzz.js';

const PNG_1PX = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

const SEEDS: Record<string, unknown>[] = [
  { model: 'scripted', messages: [{ role: 'user', content: 'hi' }] },
  {
    model: 'scripted',
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 8,
    temperature: 0.7,
    top_p: 0.9,
    top_k: 20,
    stop: ['\n\n', 'END'],
    seed: 3,
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: PNG_1PX, detail: 'low' } }, { type: 'text', text: 'what is it?' }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      { role: 'user', content: [{ type: 'video', video: [PNG_1PX, PNG_1PX], timestamps: [0, 0.5] }, { type: 'text', text: 'script:weather' }] },
    ],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    tool_choice: 'auto',
  },
  { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://169.254.169.254/latest' } }, { type: 'text', text: 'x' }] }], min_pixels: 4096, max_pixels: 65536 },
  { messages: [{ role: 'user', content: [{ type: 'image', image: 'file:///etc/passwd' }, { type: 'video_url', video_url: { url: '../../etc/shadow' } }] }] },
  // Deep nesting where the server passes values through (tool arguments and schemas).
  { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f', parameters: JSON.parse('{"a":'.repeat(300) + '1' + '}'.repeat(300)) } }] },
];

let server: ChatServer;
let port: number;

beforeAll(async () => {
  const { engine } = scriptedEngine({ stepMs: 0 });
  server = new ChatServer({ engine, media: { allowRemote: false, allowedDirs: [], maxBytes: 100_000 }, maxBodyBytes: 200_000, maxQueue: 4 });
  port = (await server.listen(0, '127.0.0.1')).port;
});
afterAll(() => server?.close());

const OK_STATUSES = new Set([200, 400, 401, 403, 404, 405, 413, 429]);

async function post(body: string | Uint8Array): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : Buffer.from(body), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** A response is fine if it is a success or a client error with the OpenAI error shape; a 5xx fails the test. */
function checkAnswer(a: { status: number; text: string }): boolean {
  expect(OK_STATUSES.has(a.status), `status ${a.status}: ${a.text.slice(0, 300)}`).toBe(true);
  if (a.status === 200) return true;
  const j = JSON.parse(a.text) as { error: { message: string; type: string } };
  expect(typeof j.error.message).toBe('string');
  expect(j.error.type).toMatch(/invalid_request_error|authentication_error|rate_limit_error/);
  return false;
}

async function healthy(): Promise<void> {
  const h = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) });
  expect(h.status).toBe(200);
}

/**
 * Raw bytes over TCP; the reply's status code, or null if the server just closed. A request whose framing promises
 * more bytes gets a half-close after `patienceMs` (the client is done); no close within `ms` fails.
 */
function rawExchange(bytes: Uint8Array, patienceMs = 100, ms = 5000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const nudge = setTimeout(() => s.end(), patienceMs);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer or close within ${ms} ms`));
    }, ms);
    s.on('data', (c) => (got += c.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      clearTimeout(nudge);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve(m ? Number(m[1]) : null);
    });
    s.write(Buffer.from(bytes));
  });
}

describe('fuzz: HTTP requests', () => {
  it('request JSON through the validator (400s only)', async () => {
    const s = await fuzz('request JSON (validator)', (r) =>
      accepts(() => {
        let b: unknown = pick(r, SEEDS);
        for (let k = 1 + int(r, 3); k > 0; k--) b = mutateJson(r, b);
        try {
          parseChatRequest(b);
        } catch (e) {
          if (e instanceof ApiError) expect(e.status).toBe(400);
          throw e;
        }
      }, ApiError),
    31);
    expect(s.rejected).toBeGreaterThan(0);
  });

  it('mutated bodies against the live server (JSON- and byte-level)', async () => {
    const s = await fuzz('request bodies (live server)', async (r, i) => {
      let b: unknown = pick(r, SEEDS);
      for (let k = int(r, 3); k > 0; k--) b = mutateJson(r, b);
      const text = JSON.stringify(b) ?? 'null';
      const body = r() < 0.3 ? mutateBytes(r, new TextEncoder().encode(text)) : text;
      const ok = checkAnswer(await post(body));
      if (i % 25 === 0) await healthy();
      return ok;
    }, 32);
    expect(s.accepted).toBeGreaterThan(0);
    expect(s.rejected).toBeGreaterThan(0);
    await healthy();
  });

  it('raw request bytes (request line, headers, framing)', async () => {
    const body = JSON.stringify(SEEDS[0]);
    const seed = new TextEncoder().encode(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const chunked = new TextEncoder().encode(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    const seen = new Map<number | null, number>();
    // Absolute-form and percent-encoded targets: the parser passes some that are not URLs (this once ended the process).
    const targets = ['http://127.0.0.1/health', 'http://[::1]:1/v1/models', '/v1/models/%41%42', '//x/..%2f..%2fhealth'].map((t) => new TextEncoder().encode(`GET ${t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    const s = await fuzz('raw HTTP bytes', async (r, i) => {
      const status = await rawExchange(mutateBytes(r, pick(r, [seed, chunked, ...targets])));
      if (status !== null) expect(status, `status ${status}`).toBeLessThan(500);
      if (i % 25 === 0) await healthy();
      seen.set(status, (seen.get(status) ?? 0) + 1);
      return status === 200;
    }, 33);
    console.log(`[fuzz raw HTTP bytes] statuses: ${[...seen].map(([k, v]) => `${k ?? 'closed'}×${v}`).join(', ')}`);
    expect(s.tried).toBeGreaterThan(10);
    await healthy();
  });
});

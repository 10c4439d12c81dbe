// The OpenAI wire protocol, driven by the official `openai` client against the server in-process, over a scripted
// model (real streamChat, parser and server; fixed answers): tool calls, reasoning, errors, media policy, queueing,
// cancellation. The real-weights path is in server.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { existsSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ChatServer } from '../../src/server/app.js';
import { isBlockedAddress } from '../../src/server/fetchPolicy.js';
import { scriptedEngine, SCRIPTS, type PrepareCall } from '../helpers/scriptedModel.js';

const PNG_1PX = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

let server: ChatServer;
let calls: PrepareCall[];
let base: string;
let client: OpenAI;
let allowed: string;
const logs: string[] = [];

beforeAll(async () => {
  const s = scriptedEngine({ stepMs: 2 });
  calls = s.calls;
  allowed = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-allowed-'));
  writeFileSync(path.join(allowed, 'pic.png'), Buffer.from(PNG_1PX.split(',')[1], 'base64'));
  const outside = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-outside-'));
  writeFileSync(path.join(outside, 'secret.png'), 'not for you');
  symlinkSync(path.join(outside, 'secret.png'), path.join(allowed, 'link.png'));
  server = new ChatServer({ engine: s.engine, media: { allowRemote: false, allowedDirs: [allowed], maxBytes: 1e6 }, maxBodyBytes: 2e6, maxQueue: 2, limits: { maxConcurrent: 1 }, log: (l) => logs.push(l) });
  const addr = await server.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${addr.port}`;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => server?.close());

const user = (text: string) => [{ role: 'user' as const, content: text }];
const weatherTool = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };

async function errorOf(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  throw new Error('expected an API error');
}

describe('server protocol (scripted model, official openai client)', () => {
  it('lists the model and answers health', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['scripted']);
    const h = await (await fetch(`${base}/health`)).json();
    expect(h).toMatchObject({ status: 'ok', model: 'scripted', phase: 'idle', running: 0, waiting: 0 });
  });

  it('non-streaming: content, finish reason, usage', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('hi') });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0].message).toMatchObject({ role: 'assistant', content: SCRIPTS.hello });
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: SCRIPTS.hello.length, total_tokens: 2 + SCRIPTS.hello.length });
  });

  it('streaming with include_usage: same text, finish chunk, then a usage chunk', async () => {
    const stream = await client.chat.completions.create({ messages: user('hi'), model: 'scripted', stream: true, stream_options: { include_usage: true } });
    let text = '';
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      if (c.choices.length) {
        text += c.choices[0].delta.content ?? '';
        finishes.push(c.choices[0].finish_reason);
      } else usage = c.usage ?? undefined;
    }
    expect(text).toBe(SCRIPTS.hello);
    expect(finishes.filter(Boolean)).toEqual(['stop']);
    expect(usage?.completion_tokens).toBe(SCRIPTS.hello.length);
  });

  it('tool call round trip: tools reach the processor, the call comes back in the OpenAI shape, results go back in', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('script:weather What is the weather in Paris?'), tools: [weatherTool] });
    expect(calls[calls.length - 1].opts.tools).toEqual([weatherTool]);
    const choice = r.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_[0-9a-f]{16}$/);
    expect(call.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });

    await client.chat.completions.create({
      model: 'scripted',
      messages: [...user('What is the weather in Paris?'), choice.message, { role: 'tool', tool_call_id: call.id, content: '18°C, sunny' }],
      tools: [weatherTool],
    });
    const sent = calls[calls.length - 1].messages as Record<string, unknown>[];
    expect(sent[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] });
    expect(sent[2]).toEqual({ role: 'tool', tool_call_id: call.id, content: [{ type: 'text', text: '18°C, sunny' }] });
  });

  it('tool_choice none keeps tools out of the prompt; a named choice offers only that tool', async () => {
    const other = { type: 'function' as const, function: { name: 'other', parameters: { type: 'object' } } };
    await client.chat.completions.create({ model: 'scripted', messages: user('hi'), tools: [weatherTool, other], tool_choice: 'none' });
    expect(calls[calls.length - 1].opts.tools).toBeUndefined();
    await client.chat.completions.create({ model: 'scripted', messages: user('hi'), tools: [weatherTool, other], tool_choice: { type: 'function', function: { name: 'other' } } });
    expect(calls[calls.length - 1].opts.tools).toEqual([other]);
  });

  it('tool_choice required and a named choice are enforced: the answer opens with that call', async () => {
    // Left to itself the scripted model answers text ('XX…'); required forces `<tool_call>` first.
    const free = await client.chat.completions.create({ model: 'scripted', messages: user('script:forcedAny'), tools: [weatherTool] });
    expect(free.choices[0].message.content).toMatch(/^XX/);
    expect(free.choices[0].message.tool_calls ?? []).toHaveLength(0);
    const req = await client.chat.completions.create({ model: 'scripted', messages: user('script:forcedAny'), tools: [weatherTool], tool_choice: 'required' });
    expect(req.choices[0].finish_reason).toBe('tool_calls');
    expect(req.choices[0].message.tool_calls?.[0]).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    const named = await client.chat.completions.create({ model: 'scripted', messages: user('script:forcedNamed'), tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    expect(named.choices[0].message.tool_calls?.[0]).toMatchObject({ function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } });
    // Forced tokens are part of the completion.
    expect(named.usage!.completion_tokens).toBeGreaterThan(40);
  });

  it('streams tool calls as delta.tool_calls with finish_reason tool_calls', async () => {
    const stream = await client.chat.completions.create({ model: 'scripted', messages: user('script:weather'), tools: [weatherTool], stream: true });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      deltas.push(...(c.choices[0]?.delta.tool_calls ?? []));
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(deltas).toHaveLength(1);
    expect(deltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    expect(finish).toBe('tool_calls');
  });

  it('returns reasoning as reasoning_content, streaming and not', async () => {
    const r = await client.chat.completions.create({ model: 'scripted', messages: user('script:think') });
    const msg = r.choices[0].message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(msg.content).toBe('It is a house.');
    expect(msg.reasoning_content).toBe('\nThe roof is dark.\n');
    const stream = await client.chat.completions.create({ model: 'scripted', messages: user('script:think'), stream: true });
    let reasoning = '';
    for await (const c of stream) reasoning += (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '';
    expect(reasoning).toBe('\nThe roof is dark.\n');
  });

  it('passes sampling, stop, pixel budgets and media to the library', async () => {
    const body = {
      model: 'scripted', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: PNG_1PX } }, { type: 'image_url', image_url: { url: PNG_1PX }, max_pixels: 4096 }, { type: 'text', text: 'hi' }] }],
      temperature: 0.5, top_p: 0.9, top_k: 5, min_p: 0.05, seed: 7, max_completion_tokens: 20, stop: ['from'], max_pixels: 200704, min_pixels: 1024,
    } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const r = await client.chat.completions.create(body);
    expect(r.choices[0].message.content).toBe('Hello ');
    const c = calls[calls.length - 1];
    expect(c.opts).toMatchObject({ minPixels: 1024, maxPixels: 200704 });
    expect((c.messages[0] as { content: unknown[] }).content.slice(0, 2)).toEqual([{ type: 'image', image: PNG_1PX }, { type: 'image', image: PNG_1PX, maxPixels: 4096 }]);
    const r2 = await client.chat.completions.create({ model: 'scripted', messages: user('hi'), max_tokens: 3 });
    expect(r2.choices[0].finish_reason).toBe('length');
    expect(r2.usage?.completion_tokens).toBe(3);
  });

  it('accepts a video as a frame list with timestamps, and video_url (handed over as a temporary file)', async () => {
    const frames = [PNG_1PX, PNG_1PX, PNG_1PX];
    const clip = `data:video/mp4;base64,${Buffer.from('fake mp4 bytes').toString('base64')}`;
    const body = { model: 'scripted', messages: [{ role: 'user', content: [{ type: 'video', video: frames, timestamps: [0, 0.5, 1] }, { type: 'video_url', video_url: { url: clip } }, { type: 'text', text: 'hi' }] }] };
    let seen = '';
    const prepare = calls.push.bind(calls);
    // Look at the temporary file while the request runs: it exists then and is gone afterwards.
    calls.push = (c) => ((seen = readFileSync(((c.messages[0] as { content: { video: string }[] }).content[1]).video, 'utf8')), prepare(c));
    try {
      await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    } finally {
      calls.push = prepare;
    }
    const parts = (calls[calls.length - 1].messages[0] as { content: { video: unknown }[] }).content;
    expect(parts[0]).toEqual({ type: 'video', video: { frames, timestamps: [0, 0.5, 1] } });
    expect(seen).toBe('fake mp4 bytes');
    await expect.poll(() => existsSync(parts[1].video as string)).toBe(false);
  });

  it('local files only inside --allowed-dir (symlinks resolved), read by the server; remote URLs off by default', async () => {
    const part = (url: string) => [{ role: 'user' as const, content: [{ type: 'image_url' as const, image_url: { url } }, { type: 'text' as const, text: 'hi' }] }];
    await client.chat.completions.create({ model: 'scripted', messages: part(`file://${realpathSync(path.join(allowed, 'pic.png'))}`) });
    // The server reads the file once and hands over its bytes: nothing reads the client's path again later.
    expect((calls[calls.length - 1].messages[0] as { content: { image: string }[] }).content[0].image).toBe(PNG_1PX);
    await client.chat.completions.create({ model: 'scripted', messages: part('pic.png') });
    const link = await errorOf(client.chat.completions.create({ model: 'scripted', messages: part(path.join(realpathSync(allowed), 'link.png')) }));
    expect([link.status, link.code]).toEqual([403, 'path_not_allowed']);
    const up = await errorOf(client.chat.completions.create({ model: 'scripted', messages: part('../etc/passwd') }));
    expect([up.status, up.code]).toEqual([403, 'path_not_allowed']);
    const abs = await errorOf(client.chat.completions.create({ model: 'scripted', messages: part('file:///etc/passwd') }));
    expect([abs.status, abs.code]).toEqual([403, 'path_not_allowed']);
    const remote = await errorOf(client.chat.completions.create({ model: 'scripted', messages: part('https://example.com/cat.png') }));
    expect([remote.status, remote.code, remote.param]).toEqual([400, 'remote_media_disabled', 'messages[0].content[0].image_url.url']);
  });

  it('with --allow-remote-media, fetches http(s) images itself (size-capped) and hands the processor a data URL', async () => {
    const png = Buffer.from(PNG_1PX.split(',')[1], 'base64');
    const files = http.createServer((req, res) => {
      if (req.url === '/pic.png') res.end(png);
      else if (req.url === '/big.png') res.end(Buffer.alloc(2e6));
      else if (req.url === '/redirect') res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    const s = scriptedEngine();
    // The test's file server is on loopback, which the real policy refuses: let 127.0.0.1 through, nothing else.
    const fetch = { isBlocked: (a: string) => a !== '127.0.0.1' && isBlockedAddress(a) };
    const remote = new ChatServer({ engine: s.engine, media: { allowRemote: true, allowedDirs: [], maxBytes: 1e6, fetch }, maxBodyBytes: 1e6, maxQueue: 1 });
    const strict = new ChatServer({ engine: s.engine, media: { allowRemote: true, allowedDirs: [], maxBytes: 1e6 }, maxBodyBytes: 1e6, maxQueue: 1 });
    const strictPort = (await strict.listen(0, '127.0.0.1')).port;
    const port = (await remote.listen(0, '127.0.0.1')).port;
    const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'x', maxRetries: 0 });
    const files0 = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
    const ask = (url: string) => c.chat.completions.create({ model: 'scripted', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'hi' }] }] });
    try {
      await ask(`${files0}/pic.png`);
      expect((s.calls[0].messages[0] as { content: { image: string }[] }).content[0].image).toBe(PNG_1PX);
      const missing = await errorOf(ask(`${files0}/nope.png`));
      expect([missing.status, missing.code]).toEqual([400, 'fetch_failed']);
      const big = await errorOf(ask(`${files0}/big.png`));
      expect([big.status, big.code]).toEqual([413, 'media_too_large']);
      const local = await errorOf(ask('/etc/hostname'));
      expect([local.status, local.code]).toEqual([400, 'local_media_disabled']);
      const redirected = await errorOf(ask(`${files0}/redirect`));
      expect([redirected.status, redirected.code]).toEqual([403, 'url_not_allowed']);
      // With the real policy, loopback, private and metadata addresses are refused before any connection.
      const c2 = new OpenAI({ baseURL: `http://127.0.0.1:${strictPort}/v1`, apiKey: 'x', maxRetries: 0 });
      for (const url of [`${files0}/pic.png`, 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/x.png', 'http://10.0.0.1/x.png']) {
        const e = await errorOf(c2.chat.completions.create({ model: 'scripted', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'hi' }] }] }));
        expect([e.status, e.code]).toEqual([403, 'url_not_allowed']);
      }
    } finally {
      await strict.close();
      await remote.close();
      files.close();
    }
  });

  it('with --api-key, /v1 needs the bearer key (health stays open)', async () => {
    const locked = new ChatServer({ engine: scriptedEngine().engine, media: { allowRemote: false, allowedDirs: [], maxBytes: 1e6 }, maxBodyBytes: 1e6, maxQueue: 1, apiKey: 's3cret' });
    const url = `http://127.0.0.1:${(await locked.listen(0, '127.0.0.1')).port}`;
    try {
      const wrong = await errorOf(new OpenAI({ baseURL: `${url}/v1`, apiKey: 'guess', maxRetries: 0 }).models.list());
      expect([wrong.status, wrong.type, wrong.code]).toEqual([401, 'authentication_error', 'invalid_api_key']);
      expect((await new OpenAI({ baseURL: `${url}/v1`, apiKey: 's3cret', maxRetries: 0 }).models.list()).data).toHaveLength(1);
      expect((await fetch(`${url}/health`)).status).toBe(200);
    } finally {
      await locked.close();
    }
  });

  it('rejects bad requests with OpenAI-shaped errors naming the parameter', async () => {
    const cases: [Record<string, unknown>, number, string | null][] = [
      [{ temperature: -1 }, 400, 'temperature'],
      [{ top_p: 0 }, 400, 'top_p'],
      [{ max_tokens: 0 }, 400, 'max_tokens'],
      [{ n: 2 }, 400, 'n'],
      [{ stop: [''] }, 400, 'stop[0]'],
      [{ seed: 1.5 }, 400, 'seed'],
      [{ repetition_penalty: 0 }, 400, 'repetition_penalty'],
      [{ model: 'gpt-4o' }, 404, 'model'],
      [{ messages: [] }, 400, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 400, 'messages[0].role'],
      [{ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 400, 'messages[0].content[0].type'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,notbase64' } }] }] }, 400, 'messages[0].content[0].image_url.url'],
      [{ tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 400, 'tools[0].function.name'],
      [{ tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, 400, 'tool_choice'],
      [{ response_format: { type: 'json_object' } }, 400, 'response_format'],
    ];
    for (const [patch, status, param] of cases) {
      const e = await errorOf(client.chat.completions.create({ model: 'scripted', messages: user('hi'), ...patch } as OpenAI.ChatCompletionCreateParamsNonStreaming));
      expect([e.status, e.param], JSON.stringify(patch)).toEqual([status, param]);
      expect(e.type).toBe('invalid_request_error');
      expect(e.message.length).toBeGreaterThan(5);
    }
    const e = await errorOf(client.chat.completions.create({ model: 'scripted', messages: user('script:fail') }));
    expect([e.status, (e.error as { message: string }).message]).toEqual([400, 'cannot decode image: not an image']);
  });

  it('answers malformed HTTP with JSON errors: bad JSON, wrong route, wrong method, oversize body', async () => {
    const post = (body: string) => fetch(`${base}/v1/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const bad = await post('{"messages": [');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    expect((await fetch(`${base}/v2/nothing`)).status).toBe(404);
    expect((await fetch(`${base}/v1/chat/completions`)).status).toBe(405);
    const big = await post(JSON.stringify({ messages: user('x'.repeat(3e6)) }));
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe('body_too_large');
  });

  it('with --max-concurrent 1, serves requests one at a time in arrival order, and refuses beyond the queue limit', async () => {
    const order: number[] = [];
    const health = async () => (await fetch(`${base}/health`)).json();
    const reqs: Promise<unknown>[] = [];
    // Each "slow" answer takes about half a second; every request is sent once the previous one is in line.
    for (const i of [0, 1, 2]) {
      reqs.push(client.chat.completions.create({ model: 'scripted', messages: user('slow'), max_tokens: 10 }).then(() => order.push(i)));
      await expect.poll(async () => health(), { interval: 5 }).toMatchObject({ running: 1, waiting: i });
    }
    expect(await health()).toMatchObject({ running: 1, waiting: 2 });
    const full = await errorOf(client.chat.completions.create({ model: 'scripted', messages: user('hi') }));
    // max-concurrent + max-queue requests are in progress: refused at admission, before the body is read.
    expect([full.status, full.code]).toEqual([429, 'too_many_requests']);
    await Promise.all(reqs);
    expect(order).toEqual([0, 1, 2]);
  });

  it('a client that disconnects mid-stream cancels its generation', async () => {
    const before = { ...server.metrics.generations };
    const ctl = new AbortController();
    const stream = await client.chat.completions.create({ model: 'scripted', messages: user('script:long'), max_tokens: 400, stream: true }, { signal: ctl.signal });
    let n = 0;
    try {
      for await (const _ of stream) if (++n === 5) ctl.abort();
    } catch {
      // The client reports its own abort; what matters is what the server did.
    }
    await expect.poll(() => server.metrics.generations.cancelled, { timeout: 5000 }).toBe(before.cancelled + 1);
    const rec = server.metrics.recent[server.metrics.recent.length - 1];
    expect(rec.finish).toBe('cancelled');
    expect(rec.completionTokens).toBeLessThan(100);
    expect(logs.some((l) => l.startsWith(`cancelled ${rec.id}`))).toBe(true);
    const h = await (await fetch(`${base}/health`)).json();
    expect(h).toMatchObject({ phase: 'idle', running: 0 });
  });
});

describe('batched serving (scripted model behind the real scheduler)', () => {
  it('runs up to --max-concurrent generations at once, each with its own full answer; /metrics speaks Prometheus text', async () => {
    const s = scriptedEngine();
    const srv = new ChatServer({ engine: s.engine, media: { allowRemote: false, allowedDirs: [], maxBytes: 1e6 }, maxBodyBytes: 1e6, maxQueue: 4, limits: { maxConcurrent: 3 } });
    const addr = await srv.listen(0, '127.0.0.1');
    const b = `http://127.0.0.1:${addr.port}`;
    const c = new OpenAI({ baseURL: `${b}/v1`, apiKey: 'unused', maxRetries: 0 });
    try {
      let most = 0;
      let mostInBatch = 0;
      const poll = setInterval(async () => {
        const h = (await (await fetch(`${b}/health`)).json()) as { running: number };
        most = Math.max(most, h.running);
        mostInBatch = Math.max(mostInBatch, s.engine.status().running ?? 0);
      }, 10);
      const answers = await Promise.all([0, 1, 2, 3].map(() => c.chat.completions.create({ model: 'scripted', messages: user('slow'), max_tokens: 8 })));
      clearInterval(poll);
      for (const a of answers) expect(a.choices[0].message.content).toBe(SCRIPTS.hello.slice(0, 8));
      expect(most).toBe(3);
      expect(mostInBatch).toBeGreaterThanOrEqual(2);
      const text = await (await fetch(`${b}/metrics`)).text();
      expect(text).toMatch(/^# HELP qwen3vl_requests_waiting /m);
      expect(text).toMatch(/^qwen3vl_generation_tokens_total\{model="scripted"\} 32$/m);
      expect(text).toMatch(/^qwen3vl_time_to_first_token_seconds_count\{model="scripted"\} 4$/m);
      expect(text).toMatch(/^qwen3vl_kv_cache_usage_ratio\{model="scripted"\} 0$/m);
      expect(text).toMatch(/^qwen3vl_generations_total\{model="scripted",outcome="completed"\} 4$/m);
    } finally {
      await srv.close();
    }
  });
});

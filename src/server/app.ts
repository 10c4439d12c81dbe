// The OpenAI-compatible HTTP server (node:http): routes, limits (limits.ts), SSE streaming, admission with 429 +
// Retry-After, FIFO queue, cancellation on disconnect or time-out, graceful shutdown, metrics and one log line per
// request. Inference itself sits behind a ChatEngine (a worker in practice).

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorKind, HTTP_STATUS } from '../errors.js';
import type { ChatEvent, FinishReason, Usage, WireLogprob } from '../generate/chat.js';
import type { ToolCall } from '../generate/output.js';
import { apiKeyMatches } from './auth.js';
import type { ChatEngine } from '../generate/service.js';
import { applyLimits, checkLimits, DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { resolveMessages, type MediaPolicy, type ResolvedMessages } from './media.js';
import { ApiError, chunkBody, completionBody, parseChatRequest, toolCallDelta, usageChunkBody, type ResponseMeta } from './protocol.js';
import { Histogram, prometheusText } from './prometheus.js';
import { FifoQueue } from './queue.js';

export interface ServerOptions {
  readonly engine: ChatEngine;
  readonly media: MediaPolicy;
  /** Largest request body (JSON with data URLs), bytes (same as limits.maxBodyBytes). */
  readonly maxBodyBytes?: number;
  /** Requests allowed to wait behind the running one, 429 beyond (same as limits.maxQueue). */
  readonly maxQueue?: number;
  /** Resource limits; unset ones take DEFAULT_LIMITS. */
  readonly limits?: Partial<ServerLimits>;
  /** When set, every route but GET /health needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  readonly log?: (line: string) => void;
}

export interface GenerationRecord {
  readonly id: string;
  readonly finish: FinishReason | 'error';
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly ms: number;
}

export interface Metrics {
  requests: number;
  generations: { started: number; completed: number; cancelled: number; failed: number };
  tokens: { prompt: number; completion: number };
  /** The last few generations, newest last (for operators and tests). */
  recent: GenerationRecord[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ChatServer {
  readonly http: http.Server;
  readonly metrics: Metrics = { requests: 0, generations: { started: 0, completed: 0, cancelled: 0, failed: 0 }, tokens: { prompt: 0, completion: 0 }, recent: [] };
  readonly limits: ServerLimits;
  /** Time to first token, from arrival. */
  readonly ttft = new Histogram();
  private readonly media: MediaPolicy;
  private readonly queue: FifoQueue;
  private readonly running = new Set<AbortController>();
  private readonly created = Math.floor(Date.now() / 1000);
  /** Chat requests admitted and not finished (uploading, fetching, waiting or generating). */
  private inFlight = 0;
  private closing: Promise<void> | null = null;
  private hurry = false;

  constructor(private readonly opts: ServerOptions) {
    this.limits = checkLimits({
      ...DEFAULT_LIMITS,
      ...(opts.maxBodyBytes !== undefined && { maxBodyBytes: opts.maxBodyBytes }),
      ...(opts.maxQueue !== undefined && { maxQueue: opts.maxQueue }),
      ...opts.limits,
    });
    this.media = { maxTotalBytes: this.limits.maxBodyBytes, fetchTimeoutMs: this.limits.fetchTimeoutMs, ...opts.media };
    this.queue = new FifoQueue(this.limits.maxQueue, this.limits.maxConcurrent);
    // requestTimeout bounds only the *arrival* of a request (headers and body), never a long answer; it is what stops
    // slow uploads from holding admission slots. Node checks it every connectionsCheckingInterval.
    const upload = this.limits.uploadTimeoutMs;
    this.http = http.createServer(
      { requestTimeout: upload, headersTimeout: Math.min(upload, 30_000), connectionsCheckingInterval: Math.min(5000, Math.max(100, upload / 4)) },
      (req, res) => void this.handle(req, res),
    );
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** True once close() has begun: /health answers 503 so balancers stop sending, new requests get 503. */
  get shuttingDown(): boolean {
    return this.closing !== null;
  }

  /**
   * Graceful shutdown: stop accepting at once; give admitted requests up to `graceMs` to finish; then refuse the
   * waiting, cancel the running (each ends within a prefill chunk), close every connection and the engine.
   * Calling it again returns the same promise; hurry() cuts the grace short (a second Ctrl-C).
   */
  close(graceMs = 0): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((r) => this.http.close(() => r()));
      this.http.closeIdleConnections();
      const graceEnd = Date.now() + graceMs;
      while (this.inFlight > 0 && Date.now() < graceEnd && !this.hurry) await sleep(20);
      this.queue.drain(new ApiError(503, 'the server is shutting down', null, 'shutting_down'));
      for (const c of this.running) c.abort(new ApiError(503, 'the server is shutting down; the generation was cancelled', null, 'shutting_down'));
      // Let cancelled generations reach their end (usage, log line) before the engine goes, for a bounded time.
      const deadline = Date.now() + 5000;
      while (this.running.size && Date.now() < deadline) await sleep(20);
      this.http.closeAllConnections();
      await closed;
      await this.opts.engine.close();
    })();
    return this.closing;
  }

  /** End the grace period of a close() in progress now. */
  hurryClose(): void {
    this.hurry = true;
  }

  private log(line: string): void {
    // Messages quote client input (model names, paths): control characters would let a client forge log lines.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    this.opts.log?.(line.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).replace(/\n(?!\s+at )/g, '\\n'));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.metrics.requests++;
    let route = `${req.method} ?`;
    try {
      // Anything Node's parser let through may still not be a URL (`GET http://[ HTTP/1.1`): a 400, never a throw
      // outside this try (an unhandled rejection would end the process).
      const url = requestUrl(req.url);
      route = `${req.method} ${url.pathname.replace(/\/+$/, '') || '/'}`;
      if (this.closing) res.setHeader('connection', 'close');
      if (route === 'GET /health') return this.health(res);
      if (this.opts.apiKey && !apiKeyMatches(req.headers.authorization, this.opts.apiKey)) {
        res.setHeader('www-authenticate', 'Bearer');
        throw new ApiError(401, 'missing or wrong API key (send Authorization: Bearer <key>)', null, 'invalid_api_key');
      }
      if (this.closing) throw new ApiError(503, 'the server is shutting down', null, 'shutting_down');
      if (route === 'GET /metrics') {
        // ?gc=1 collects garbage first, only when Node was started with --expose-gc (bench:load does, to measure leaks).
        const gc = (globalThis as { gc?: () => void }).gc;
        if (url.searchParams.has('gc') && gc) {
          gc();
          this.opts.engine.gc?.();
        }
        // Prometheus text by default; the JSON document with ?format=json or Accept: application/json.
        if (url.searchParams.get('format') === 'json' || /application\/json/.test(req.headers.accept ?? '')) return sendJson(res, 200, this.metricsBody());
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(prometheusText({ model: this.opts.engine.info.id, engine: this.opts.engine.status(), queueWaiting: this.queue.waiting, queueRunning: this.queue.running, requests: this.metrics.requests, generations: this.metrics.generations, tokens: this.metrics.tokens, ttft: this.ttft, rssBytes: process.memoryUsage().rss }));
        return;
      }
      if (route === 'GET /v1/models') return sendJson(res, 200, { object: 'list', data: [this.modelCard()] });
      if (route.startsWith('GET /v1/models/')) {
        const id = decodePath(url.pathname.slice('/v1/models/'.length));
        if (id !== this.opts.engine.info.id) throw new ApiError(404, `The model '${id}' does not exist (this server serves '${this.opts.engine.info.id}')`, 'model', 'model_not_found');
        return sendJson(res, 200, this.modelCard());
      }
      if (route === 'POST /v1/chat/completions') return await this.admit(req, res);
      const known = ['/health', '/metrics', '/v1/models', '/v1/chat/completions'].includes(url.pathname);
      if (known) throw new ApiError(405, `${req.method} is not allowed on ${url.pathname}`, null, 'method_not_allowed');
      throw new ApiError(404, `no route ${req.method} ${url.pathname} (try POST /v1/chat/completions, GET /v1/models, GET /health)`, null, 'not_found');
    } catch (e) {
      this.fail(req, res, e, route);
    }
  }

  private health(res: http.ServerResponse): void {
    const alive = this.opts.engine.alive ?? true;
    const s = this.opts.engine.status();
    const status = this.closing ? 'shutting_down' : alive ? 'ok' : 'error';
    const kv = s.kvBlocksTotal ? { blocksUsed: s.kvBlocksUsed, blocksTotal: s.kvBlocksTotal } : null;
    sendJson(res, status === 'ok' ? 200 : 503, { status, model: this.opts.engine.info.id, phase: s.phase, prefill: s.prefill, running: this.queue.running, waiting: this.queue.waiting, inFlight: this.inFlight, kv });
  }

  private metricsBody() {
    const m = process.memoryUsage();
    const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
    return {
      ...this.metrics,
      queue: { running: this.queue.running, waiting: this.queue.waiting, inFlight: this.inFlight },
      engine: this.opts.engine.status(),
      // The whole process (worker threads included) for rss; the HTTP thread's heap for the rest.
      memoryMb: { rss: mb(m.rss), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) },
      limits: this.limits,
    };
  }

  /** Seconds a refused client should wait: the recent mean generation time for each request ahead of it. */
  private retryAfter(): number {
    const recent = this.metrics.recent;
    const mean = recent.length ? recent.reduce((n, r) => n + r.ms, 0) / recent.length : 5000;
    return Math.min(300, Math.max(1, Math.ceil((mean * (this.queue.waiting + 1)) / 1000)));
  }

  /** Admission before the body is read: beyond maxConcurrent + maxQueue a 429 costs the server nothing. */
  private async admit(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const cap = this.limits.maxConcurrent + this.limits.maxQueue;
    if (this.inFlight >= cap) {
      throw new ApiError(429, `the server is busy: ${this.inFlight} requests in progress (limit ${cap}: --max-concurrent ${this.limits.maxConcurrent} + --max-queue ${this.limits.maxQueue}); retry later`, null, 'too_many_requests');
    }
    this.inFlight++;
    try {
      await this.chatCompletions(req, res);
    } finally {
      this.inFlight--;
    }
  }

  private modelCard() {
    const i = this.opts.engine.info;
    return { id: i.id, object: 'model', created: this.created, owned_by: 'qwen3-vl', context_length: i.contextLength, model_type: i.modelType, backend: i.backend };
  }

  private async chatCompletions(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = Date.now();
    const body = await readJson(req, this.limits.maxBodyBytes);
    const r = parseChatRequest(body);
    const served = this.opts.engine.info.id;
    if (r.model !== null && r.model !== served) throw new ApiError(404, `The model '${r.model}' does not exist (this server serves '${served}')`, 'model', 'model_not_found');
    const options = applyLimits(r, this.limits);
    if (this.closing) throw new ApiError(503, 'the server is shutting down', null, 'shutting_down');

    // A client that goes away cancels its generation, whether it is waiting, prefilling or decoding; so does the
    // request deadline, which then answers 408 (or a final SSE error event).
    const ctl = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) ctl.abort();
    };
    res.on('close', onClose);
    const timer = setTimeout(() => {
      ctl.abort(new ApiError(408, `the request took longer than ${Math.round(this.limits.requestTimeoutMs / 1000)} s (--request-timeout); its generation was cancelled`, null, 'request_timeout'));
    }, Math.max(0, this.limits.requestTimeoutMs - (Date.now() - t0)));
    // Aborted with an ApiError (time-out, shutdown): the client is still there and gets that error. Otherwise it left.
    const verdict = () => (ctl.signal.reason instanceof ApiError ? ctl.signal.reason : null);
    const gone = () => ctl.signal.aborted && verdict() === null;
    const meta: ResponseMeta = { id: `chatcmpl-${randomBytes(12).toString('hex')}`, model: served, created: Math.floor(Date.now() / 1000) };
    let release: (() => void) | null = null;
    let media: ResolvedMessages | null = null;
    const accs: Acc[] = [];
    const total = (): Usage => {
      // The prompt is counted once, as OpenAI does for n > 1.
      const completion = accs.reduce((a, c) => a + c.usage.completionTokens, 0);
      const prompt = accs[0]?.usage.promptTokens ?? 0;
      const cached = accs[0]?.usage.cachedTokens;
      return { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, ...(cached !== undefined && { cachedTokens: cached }) };
    };
    const finishOf = () => accs.find((a) => a.finish === 'cancelled')?.finish ?? accs[accs.length - 1]?.finish ?? 'length';
    let counted = false;
    let recorded = false;
    try {
      media = await resolveMessages(r.messages, this.media, ctl.signal);
      release = await this.queue.acquire(ctl.signal);
      this.running.add(ctl);
      this.metrics.generations.started++;
      counted = true;
      const sse = r.stream ? new SseWriter(res, meta, r.includeUsage) : null;
      // n choices one after another in this queue slot; choice i samples with seed + i (a random base without one).
      const baseSeed = options.seed ?? randomBytes(4).readUInt32LE(0) >>> 1;
      let first = true;
      for (let i = 0; i < r.n && !ctl.signal.aborted; i++) {
        const acc: Acc = { text: '', reasoning: '', toolCalls: [], logprobs: options.logprobs ? [] : undefined, usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 }, finish: 'length' };
        accs.push(acc);
        const seed = r.n > 1 || options.seed !== undefined ? baseSeed + i : undefined;
        for await (const ev of this.opts.engine.stream(media.messages, { ...options, seed, signal: ctl.signal })) {
          if (first && (ev.type === 'text' || ev.type === 'reasoning' || ev.type === 'tool_call')) {
            first = false;
            this.ttft.observe((Date.now() - t0) / 1000);
          }
          collect(acc, ev);
          // A timed-out or shut-down stream ends with an error event, not with a normal finish chunk.
          if (verdict() && ev.type === 'done') continue;
          // The tool call's server-side id replaces the parser's per-answer one, in the stream too.
          sse?.write(ev.type === 'tool_call' ? { type: 'tool_call', call: acc.toolCalls[acc.toolCalls.length - 1] } : ev, i);
        }
      }
      this.record(meta.id, finishOf(), total(), t0);
      recorded = true;
      if (gone()) return;
      if (verdict()) throw verdict();
      if (r.stream) {
        sse?.end(total());
        res.end();
      } else sendJson(res, 200, completionBody(meta, accs.map((a) => ({ ...a, finishReason: a.finish })), total()));
    } catch (e) {
      if (counted && !recorded) this.record(meta.id, ctl.signal.aborted ? 'cancelled' : 'error', total(), t0);
      if (gone()) return;
      const err = verdict() ?? e;
      if (res.headersSent) {
        // Mid-stream failure: the status is already 200, so the error travels as a final SSE event.
        if (!res.destroyed) writeSse(res, toApiError(err).toJSON());
        res.end();
        this.log(`error ${meta.id}: ${(err as Error).message}`);
        return;
      }
      throw err;
    } finally {
      clearTimeout(timer);
      res.off('close', onClose);
      this.running.delete(ctl);
      release?.();
      await media?.cleanup();
    }
  }

  private record(id: string, finish: GenerationRecord['finish'], u: Usage, t0: number): void {
    const g = this.metrics.generations;
    if (finish === 'cancelled') g.cancelled++;
    else if (finish === 'error') g.failed++;
    else g.completed++;
    this.metrics.tokens.prompt += u.promptTokens;
    this.metrics.tokens.completion += u.completionTokens;
    const rec = { id, finish, promptTokens: u.promptTokens, completionTokens: u.completionTokens, ms: Date.now() - t0 };
    this.metrics.recent.push(rec);
    if (this.metrics.recent.length > 20) this.metrics.recent.shift();
    this.log(`${finish === 'cancelled' ? 'cancelled' : 'done'} ${id} finish=${finish} prompt=${u.promptTokens} completion=${u.completionTokens} ${rec.ms}ms`);
  }

  private fail(req: http.IncomingMessage, res: http.ServerResponse, e: unknown, route: string): void {
    const err = toApiError(e);
    if (err.status >= 500 && err.status !== 503) this.log(`error ${route}: ${(e as Error)?.stack ?? String(e)}`);
    else this.log(`${err.status} ${route}: ${err.message}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err.status === 429 || err.status === 503) res.setHeader('retry-after', String(this.retryAfter()));
    // A body left unread (refused before reading, or cut at the size limit) is not drained: the connection goes.
    if (!req.complete) res.setHeader('connection', 'close');
    sendJson(res, err.status, err.toJSON());
  }
}

interface Acc {
  text: string;
  reasoning: string;
  toolCalls: ToolCall[];
  logprobs: WireLogprob[] | undefined;
  usage: Usage;
  finish: FinishReason;
}

function collect(acc: Acc, ev: ChatEvent): void {
  if (ev.type === 'text') acc.text += ev.text;
  else if (ev.type === 'logprob') acc.logprobs?.push(ev.logprob);
  else if (ev.type === 'reasoning') acc.reasoning += ev.text;
  else if (ev.type === 'tool_call') acc.toolCalls.push({ ...ev.call, id: `call_${randomBytes(8).toString('hex')}` });
  else if (ev.type === 'usage') acc.usage = ev.usage;
  else acc.finish = ev.finishReason;
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const err = e as Error;
  // By kind (errors.ts); errors that crossed the worker boundary keep their name, which errorKind also knows.
  const kind = errorKind(e);
  if (kind === 'cancelled') return new ApiError(HTTP_STATUS.cancelled, 'the request was cancelled', null, 'cancelled');
  if (kind === 'invalid_input') return new ApiError(HTTP_STATUS.invalid_input, err.message, null, 'invalid_input');
  return new ApiError(500, `internal error: ${err?.message ?? String(e)}`, null, 'internal_error');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

/**
 * One streamed response: headers go out with the first event, each choice's chunks carry its index, log-probabilities
 * ride on the next chunk of their choice, and usage (if asked) follows the last finish chunk.
 */
class SseWriter {
  private started = false;
  private tools = 0;
  private pending: WireLogprob[] = [];
  /** Choices whose role chunk went out. */
  private opened = 0;

  constructor(
    private readonly res: http.ServerResponse,
    private readonly meta: ResponseMeta,
    private readonly includeUsage: boolean,
  ) {}

  write(ev: ChatEvent, index: number): void {
    if (ev.type === 'usage') return;
    if (!this.started) {
      // Headers wait for the first event so that errors found while preparing the prompt still get a real status.
      this.started = true;
      this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    }
    if (this.opened < index + 1) {
      this.opened = index + 1;
      this.send(chunkBody(this.meta, { role: 'assistant', content: '' }, null, index));
    }
    if (ev.type === 'logprob') {
      this.pending.push(ev.logprob);
      return;
    }
    const chunk = (delta: Record<string, unknown>, finish: FinishReason | null = null) => {
      this.send(chunkBody(this.meta, delta, finish, index, this.pending.length ? this.pending : undefined));
      this.pending = [];
    };
    if (ev.type === 'text') chunk({ content: ev.text });
    else if (ev.type === 'reasoning') chunk({ reasoning_content: ev.text });
    else if (ev.type === 'tool_call') chunk(toolCallDelta(ev.call, this.tools++));
    else {
      chunk({}, ev.finishReason);
      this.tools = 0;
    }
  }

  /** After the last choice: usage (when asked for) and the end marker. */
  end(usage: Usage): void {
    if (this.includeUsage) this.send(usageChunkBody(this.meta, usage));
    if (!this.res.destroyed) this.res.write('data: [DONE]\n\n');
  }

  private send(body: unknown): void {
    // After a disconnect the generation is being cancelled; its last events have nowhere to go.
    if (!this.res.destroyed) writeSse(this.res, body);
  }
}

function writeSse(res: http.ServerResponse, body: unknown): void {
  res.write(`data: ${JSON.stringify(body)}\n\n`);
}

/** The request target as a URL; anything unparsable is the client's mistake. */
function requestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://x');
  } catch {
    throw new ApiError(400, 'the request target is not a valid URL path', null, 'invalid_url');
  }
}

function decodePath(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError(400, `malformed percent-encoding in '${s.slice(0, 100)}'`, null, 'invalid_url');
  }
}

async function readJson(req: http.IncomingMessage, limit: number): Promise<unknown> {
  // A declared length over the limit is refused before a byte of the body is read.
  if (Number(req.headers['content-length']) > limit) throw tooLarge(limit);
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    // Keep reading (and dropping) a modestly oversized body so the client gets the 413 instead of a reset.
    if (total > 4 * limit) throw tooLarge(limit);
    if (total <= limit) parts.push(chunk);
  }
  if (total > limit) throw tooLarge(limit);
  const text = Buffer.concat(parts).toString('utf8');
  if (!text.trim()) throw new ApiError(400, 'the request body is empty (expected a JSON object)', null, 'invalid_json');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
  }
}

const tooLarge = (limit: number) => new ApiError(413, `the request body exceeds ${Math.round(limit / 1e6)} MB (start the server with a larger --max-body)`, null, 'body_too_large');

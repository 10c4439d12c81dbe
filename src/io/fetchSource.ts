// Checkpoint files behind a base URL (a Hugging Face `resolve/main/` URL, a static server): text files by GET,
// safetensors by HTTP Range requests streamed into the caller's buffer, so no shard is ever downloaded whole.

import { type CheckpointSource, type RangeFile, TooLargeError } from './sourceBase.js';

export interface FetchSourceOptions {
  /** Defaults to globalThis.fetch. */
  readonly fetch?: typeof fetch;
  /** Sent with every request (e.g. Authorization for gated repositories). */
  readonly headers?: Record<string, string>;
}

/** The first request of a file: its safetensors header usually fits, saving a round trip. */
const PROBE_BYTES = 256 * 1024;
/** A server that ignores Range sends whole files: accepted up to this size, refused beyond. */
const WHOLE_FILE_LIMIT = 32 * 1024 * 1024;
/** Bytes per Range request: bounds what one failed request costs. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;
const ATTEMPTS = 3;

export class FetchSource implements CheckpointSource {
  readonly location: string;
  private readonly base: URL;
  private readonly fetchFn: typeof fetch;

  constructor(
    baseUrl: string,
    private readonly opts: FetchSourceOptions = {},
  ) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    this.location = this.base.href;
    this.fetchFn = opts.fetch ?? ((...a) => globalThis.fetch(...a));
  }

  /** One file by its full URL. */
  static openUrl(url: string, opts: FetchSourceOptions = {}): Promise<RangeFile> {
    const i = url.lastIndexOf('/');
    return new FetchSource(url.slice(0, i + 1), opts).open(url.slice(i + 1));
  }

  resolve(name: string): string {
    return new URL(name, this.base).href;
  }

  /** GET with a one-byte range: works on servers without HEAD, and costs nothing when Range is ignored. */
  async exists(name: string): Promise<boolean> {
    const url = this.resolve(name);
    const r = await this.get(url, 'bytes=0-0');
    await r.body?.cancel();
    if (r.status === 404 || r.status === 410) return false;
    if (r.ok || r.status === 416) return true;
    throw httpError(url, r);
  }

  async readText(name: string, maxBytes = Infinity): Promise<string> {
    const url = this.resolve(name);
    const r = await this.get(url);
    if (!r.ok) {
      await r.body?.cancel();
      throw httpError(url, r);
    }
    const declared = Number(r.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      await r.body?.cancel();
      throw new TooLargeError(declared, maxBytes);
    }
    return new TextDecoder().decode(await readAll(r, maxBytes));
  }

  async open(name: string): Promise<RangeFile> {
    const url = this.resolve(name);
    const r = await this.get(url, `bytes=0-${PROBE_BYTES - 1}`);
    let size: number;
    let head: Uint8Array;
    if (r.status === 206) {
      size = totalOf(r, url);
      head = await readAll(r, PROBE_BYTES);
    } else if (r.status === 416) {
      await r.body?.cancel();
      size = totalOf(r, url);
      head = new Uint8Array(0);
    } else if (r.ok) {
      // The server ignored Range: fine for a small file, never for a multi-GB shard.
      const declared = Number(r.headers.get('content-length') ?? NaN);
      if (!(declared <= WHOLE_FILE_LIMIT)) {
        await r.body?.cancel();
        throw new Error(`GET ${url}: the server ignored the Range request (HTTP ${r.status}, ${Number.isNaN(declared) ? 'unknown size' : `${declared} bytes`}); files over ${WHOLE_FILE_LIMIT} bytes are only read from servers with HTTP Range support`);
      }
      head = await readAll(r, WHOLE_FILE_LIMIT);
      size = head.byteLength;
    } else {
      await r.body?.cancel();
      throw httpError(url, r);
    }
    return {
      name: url,
      size,
      read: async (into, position) => {
        const len = Math.min(into.byteLength, size - position);
        if (len <= 0) return 0;
        if (position + len <= head.byteLength) {
          into.set(head.subarray(position, position + len));
          return len;
        }
        return this.readRange(url, into.subarray(0, Math.min(len, MAX_REQUEST_BYTES)), position);
      },
      close: async () => {},
    };
  }

  private async readRange(url: string, into: Uint8Array, position: number): Promise<number> {
    const range = `bytes=${position}-${position + into.byteLength - 1}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.get(url, range);
        if (r.status !== 206) {
          await r.body?.cancel();
          throw r.ok ? new Error(`GET ${url} (${range}): expected HTTP 206, got ${r.status}`) : httpError(url, r);
        }
        const start = /^bytes (\d+)-/.exec(r.headers.get('content-range') ?? '');
        if (start && Number(start[1]) !== position) throw new Error(`GET ${url} (${range}): the server answered ${r.headers.get('content-range')}`);
        return await readInto(r, url, into);
      } catch (e) {
        // Retry what a flaky connection causes (network errors, 5xx, 429), not answers that will not change.
        const status = (e as { status?: number }).status;
        const transient = status === undefined ? e instanceof TypeError : status >= 500 || status === 429;
        if (!transient || attempt >= ATTEMPTS) throw e;
        await new Promise((ok) => setTimeout(ok, 250 * attempt));
      }
    }
  }

  private async get(url: string, range?: string): Promise<Response> {
    const headers: Record<string, string> = { ...this.opts.headers };
    if (range) headers.Range = range;
    try {
      return await this.fetchFn(url, { headers });
    } catch (e) {
      throw new TypeError(`GET ${url}: ${(e as Error).message}`);
    }
  }
}

function httpError(url: string, r: Response): Error & { status: number } {
  return Object.assign(new Error(`GET ${url}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`), { status: r.status });
}

/** Total size from `Content-Range: bytes a-b/total` (or `bytes *\/total` on a 416). */
function totalOf(r: Response, url: string): number {
  const cr = r.headers.get('content-range');
  const m = cr ? /\/(\d+)\s*$/.exec(cr) : null;
  if (!m) throw new Error(`GET ${url}: HTTP ${r.status} without a usable Content-Range header (${cr ?? 'none'}; cross-origin servers must expose it)`);
  return Number(m[1]);
}

/** The body streamed into `into`; returns the bytes received (a short answer is the caller's to retry). */
function readInto(r: Response, url: string, into: Uint8Array): Promise<number> {
  return r.body ? readStreamInto(r.body, into, `GET ${url}: the server`) : Promise.resolve(0);
}

/** Scratch memory of BYOB reads: handed to the stream and back on every read, so no chunk is ever allocated. */
let scratch: ArrayBuffer | null = null;
export const SCRATCH_BYTES = 256 * 1024;

/**
 * A stream's chunks, each valid only until the next is asked for. Byte streams (response bodies, Blob streams) are
 * read BYOB through one reused scratch buffer: a multi-GB load then leaves no per-chunk garbage in the JS heap.
 * Stopping early cancels the stream.
 */
export async function* streamChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = body.getReader({ mode: 'byob' });
  } catch {
    // Not a byte stream (older engines): the default reader below.
  }
  let done = false;
  if (byob) {
    let buf = scratch && scratch.byteLength ? scratch : new ArrayBuffer(SCRATCH_BYTES);
    scratch = null; // another read running at the same time takes its own
    try {
      for (;;) {
        const c = await byob.read(new Uint8Array(buf));
        if (c.value) buf = c.value.buffer as ArrayBuffer;
        if (c.done || !c.value) return void (done = true);
        yield c.value;
      }
    } finally {
      if (buf.byteLength) scratch = buf;
      if (!done) await byob.cancel().catch(() => {});
    }
  }
  const reader = body.getReader();
  try {
    for (;;) {
      const c = await reader.read();
      if (c.done) return void (done = true);
      yield c.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
  }
}

/** A stream copied into `into`; returns the bytes read, refusing more than fit. */
async function readStreamInto(body: ReadableStream<Uint8Array>, into: Uint8Array, who: string): Promise<number> {
  let n = 0;
  for await (const c of streamChunks(body)) {
    if (n + c.byteLength > into.byteLength) throw new Error(`${who} sent more than the ${into.byteLength} bytes asked for`);
    into.set(c, n);
    n += c.byteLength;
  }
  return n;
}

/** The whole body, refusing more than `max` bytes. */
async function readAll(r: Response, max: number): Promise<Uint8Array> {
  const reader = r.body?.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) break;
    n += chunk.value.byteLength;
    if (n > max) {
      await reader!.cancel();
      throw new TooLargeError(n, max);
    }
    chunks.push(chunk.value);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

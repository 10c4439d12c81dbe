// A local static file server for URL-loading tests: Range and CORS as the Hugging Face Hub answers them (via the
// `send` package), optionally a server that ignores Range, and a count of the body bytes it sent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import send from 'send';

export interface StaticServer {
  readonly url: string;
  /** Body bytes sent so far (what a client downloaded). */
  readonly sentBytes: number;
  /** Requests answered so far (preflights not counted). */
  readonly requests: number;
  close(): Promise<void>;
}

/** `headers`: added to every answer (and exposed to cross-origin pages), e.g. a stated sha256. */
export async function startStaticServer(root: string, opts: { ignoreRange?: boolean; headers?: Record<string, string> } = {}): Promise<StaticServer> {
  let sentBytes = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', ['content-range, content-length, accept-ranges', ...Object.keys(opts.headers ?? {})].join(', '));
    for (const [k, v] of Object.entries(opts.headers ?? {})) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.setHeader('access-control-allow-headers', 'range, authorization');
      res.end();
      return;
    }
    requests++;
    const write = res.write.bind(res);
    res.write = ((chunk: Uint8Array, ...rest: never[]) => {
      sentBytes += chunk.byteLength;
      return write(chunk, ...rest);
    }) as typeof res.write;
    if (opts.ignoreRange) delete req.headers.range;
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    send(req, pathname, { root: path.resolve(root), acceptRanges: !opts.ignoreRange, cacheControl: false, etag: false, lastModified: false })
      .on('error', (e: { status?: number }) => {
        res.statusCode = e.status ?? 500;
        res.end();
      })
      .pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    get sentBytes() {
      return sentBytes;
    },
    get requests() {
      return requests;
    },
    // Browsers keep connections alive: end them, or close() waits for them until the test times out.
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

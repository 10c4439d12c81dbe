// Turning an image/video reference (path, file:// or data: URL, bytes, Blob, http(s) URL) into bytes or a local
// path. Remote URLs go through a caller-supplied hook or an explicit opt-in; nothing is fetched by default.

import { nodeImport } from '../io/source.js';
import { InvalidInputError, RemoteFetchDisabledError } from '../errors.js';

export type FetchHook = (url: string) => Promise<Uint8Array>;

export interface SourceOptions {
  /** Allow plain `fetch` of http(s) URLs when no hook is given (off by default). */
  allowRemote?: boolean;
  /** Called for http(s) URLs; the server can enforce its own policy (hosts, size, time-outs) here. */
  fetchImage?: FetchHook;
  /** Refuse files or downloads larger than this many bytes (default 512 MiB). */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;

/** Short printable name of a source for error messages. */
export function describeSource(src: unknown): string {
  if (typeof src === 'string') {
    if (src.startsWith('data:')) return `${src.slice(0, Math.min(src.indexOf(',') + 1 || 40, 40))}… (${src.length} chars)`;
    return src.length > 200 ? `${src.slice(0, 200)}…` : src;
  }
  if (src instanceof Uint8Array) return `<${src.length} bytes>`;
  if (typeof Blob !== 'undefined' && src instanceof Blob) return `<${src.type || 'Blob'}, ${src.size} bytes>`;
  return `<${typeof src}>`;
}

function decodeDataUrl(url: string): Uint8Array {
  const comma = url.indexOf(',');
  if (comma < 0) throw new InvalidInputError(`malformed data URL ${describeSource(url)}: no comma`);
  const meta = url.slice(5, comma);
  const payload = url.slice(comma + 1);
  // Buffer where there is one (lenient base64, as before); atob in browsers.
  if (/;base64$/i.test(meta)) {
    if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(payload, 'base64'));
    try {
      return Uint8Array.from(atob(payload.replace(/\s+/g, '')), (c) => c.charCodeAt(0));
    } catch {
      throw new InvalidInputError(`malformed data URL ${describeSource(url)}: bad base64`);
    }
  }
  return Uint8Array.from(decodeURIComponent(payload), (c) => c.charCodeAt(0) & 0xff);
}

export function isRemote(src: string): boolean {
  return /^https?:\/\//i.test(src);
}

/** A string source as a local file path, or null if it is a data: or remote URL. */
export function localPath(src: string): string | null {
  if (src.startsWith('data:') || isRemote(src)) return null;
  if (src.startsWith('file://')) return fileUrlToPath(src);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src)) throw new InvalidInputError(`unsupported URL scheme in ${describeSource(src)}`);
  return src;
}

/** node:url's fileURLToPath where Node offers it synchronously (20.16+), else the POSIX reading of the URL. */
function fileUrlToPath(u: string): string {
  const p = globalThis.process as { getBuiltinModule?: (id: string) => unknown } | undefined;
  const url = p?.getBuiltinModule?.('node:url') as typeof import('node:url') | undefined;
  return url ? url.fileURLToPath(u) : decodeURIComponent(new URL(u).pathname);
}

/** Load the bytes of a source. */
export async function loadBytes(src: string | Uint8Array | Blob, opts: SourceOptions = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (src instanceof Uint8Array) return src;
  if (typeof Blob !== 'undefined' && src instanceof Blob) {
    if (src.size > maxBytes) throw new InvalidInputError(`${describeSource(src)}: ${src.size} bytes exceeds the ${maxBytes}-byte limit`);
    return new Uint8Array(await src.arrayBuffer());
  }
  if (typeof src !== 'string') throw new InvalidInputError(`expected a path, URL or bytes, got ${describeSource(src)}`);
  if (src.startsWith('data:')) return decodeDataUrl(src);
  if (isRemote(src)) {
    let bytes: Uint8Array;
    if (opts.fetchImage) bytes = await opts.fetchImage(src);
    else if (opts.allowRemote) {
      const res = await fetch(src);
      if (!res.ok) throw new InvalidInputError(`fetching ${src} failed: HTTP ${res.status}`);
      bytes = new Uint8Array(await res.arrayBuffer());
    } else throw new RemoteFetchDisabledError(src);
    if (bytes.length > maxBytes) throw new InvalidInputError(`${src}: ${bytes.length} bytes exceeds the ${maxBytes}-byte limit`);
    return bytes;
  }
  const file = localPath(src)!;
  if (!globalThis.process?.versions?.node) throw new InvalidInputError(`${describeSource(src)}: file paths need Node; in browsers pass a Blob, bytes or a URL`);
  const { readFile, stat } = await nodeImport<typeof import('node:fs/promises')>('node:fs/promises');
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new InvalidInputError(`${describeSource(src)} is not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof InvalidInputError) throw e;
    throw new InvalidInputError(`cannot read ${describeSource(src)}: ${(e as Error).message}`);
  }
  if (size > maxBytes) throw new InvalidInputError(`${describeSource(src)}: ${size} bytes exceeds the ${maxBytes}-byte limit`);
  return new Uint8Array(await readFile(file));
}

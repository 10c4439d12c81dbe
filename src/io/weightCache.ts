// Checkpoints cached in the browser's Origin Private File System: each file downloaded once (streamed to disk and
// hashed on the way), checked by size (and sha256 where the server states one), then read by range from disk, so a
// second visit loads with no network at all. `weightCache` lists, sizes and deletes what is stored.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { blobRangeFile } from './blobSource.js';
import { FetchSource, type FetchSourceOptions, streamChunks } from './fetchSource.js';
import { type CheckpointSource, type RangeFile, SourceError, TooLargeError } from './sourceBase.js';

export interface CacheProgress {
  readonly file: string;
  readonly loadedBytes: number;
  /** NaN when the server does not say. */
  readonly totalBytes: number;
  /** 'download': arriving from the network into the cache; 'cached': already stored (one call, loadedBytes = size). */
  readonly phase: 'download' | 'cached';
}

export interface WeightCacheOptions extends FetchSourceOptions {
  readonly onProgress?: (p: CacheProgress) => void;
  /** Re-hash cached files against their recorded sha256 on every open (slow for GB-sized shards; default false). */
  readonly verify?: boolean;
}

/** What the cache holds for one checkpoint URL. */
export interface CachedModel {
  readonly url: string;
  readonly files: readonly { readonly name: string; readonly size: number; readonly sha256: string }[];
  readonly bytes: number;
}

interface Manifest {
  url: string;
  files: Record<string, { size: number; sha256: string }>;
  /** Names the server answered 404 for (so optional files are not asked for again). */
  missing: string[];
}

const ROOT = 'qwen3-vl-weights';
const MANIFEST = 'manifest.json';

async function rootDir(): Promise<FileSystemDirectoryHandle> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.getDirectory) throw new SourceError('the weight cache needs the Origin Private File System (navigator.storage.getDirectory), found in browsers on https or localhost');
  return (await storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
}

/** A folder name per URL: its sha256, so any URL maps to a valid, fixed-length name. */
const dirName = (url: string) => bytesToHex(sha256(new TextEncoder().encode(url))).slice(0, 40);
const fileName = (name: string) => encodeURIComponent(name);
const normal = (url: string) => (url.endsWith('/') ? url : `${url}/`);
/** A sha256 the server states: Hugging Face's X-Linked-Etag for LFS files, or an ETag that is one. */
function statedSha256(r: Response): string | null {
  for (const h of ['x-linked-etag', 'etag']) {
    const m = /^(?:W\/)?"?([0-9a-f]{64})"?$/i.exec(r.headers.get(h)?.trim() ?? '');
    if (m) return m[1].toLowerCase();
  }
  return null;
}

/** `url` null: whichever URL the folder holds. */
async function readManifest(dir: FileSystemDirectoryHandle, url: string | null): Promise<Manifest> {
  try {
    const m = JSON.parse(await (await (await dir.getFileHandle(MANIFEST)).getFile()).text()) as Manifest;
    if ((url === null || m.url === url) && m.files && Array.isArray(m.missing)) return m;
  } catch {
    // No manifest yet, or an unreadable one: start over (files without a manifest entry are never trusted).
  }
  return { url: url ?? '', files: {}, missing: [] };
}

async function writeManifest(dir: FileSystemDirectoryHandle, m: Manifest): Promise<void> {
  const w = await (await dir.getFileHandle(MANIFEST, { create: true })).createWritable();
  await w.write(JSON.stringify(m));
  await w.close();
}

/** A checkpoint URL read through the cache: files come from disk when stored, else are downloaded into it first. */
export class CachedSource implements CheckpointSource {
  readonly location: string;
  private readonly net: FetchSource;

  private constructor(
    url: string,
    private readonly dir: FileSystemDirectoryHandle,
    private readonly manifest: Manifest,
    private readonly opts: WeightCacheOptions,
  ) {
    this.location = url;
    this.net = new FetchSource(url, opts);
  }

  static async open(url: string, opts: WeightCacheOptions = {}): Promise<CachedSource> {
    const u = normal(new URL(url).href);
    const dir = await (await rootDir()).getDirectoryHandle(dirName(u), { create: true });
    return new CachedSource(u, dir, await readManifest(dir, u), opts);
  }

  resolve(name: string): string {
    return this.net.resolve(name);
  }

  async exists(name: string): Promise<boolean> {
    if (this.manifest.files[name]) return true;
    if (this.manifest.missing.includes(name)) return false;
    const yes = await this.net.exists(name);
    if (!yes) {
      this.manifest.missing.push(name);
      await writeManifest(this.dir, this.manifest);
    }
    return yes;
  }

  async readText(name: string, maxBytes = Infinity): Promise<string> {
    const f = await this.file(name, maxBytes);
    if (f.size > maxBytes) throw new TooLargeError(f.size, maxBytes);
    return f.text();
  }

  async open(name: string): Promise<RangeFile> {
    return blobRangeFile(await this.file(name), this.resolve(name));
  }

  /** The stored file, downloading it first when absent or not as recorded. */
  private async file(name: string, maxBytes = Infinity): Promise<File> {
    const want = this.manifest.files[name];
    if (want) {
      const f = await this.dir
        .getFileHandle(fileName(name))
        .then((h) => h.getFile())
        .catch(() => null);
      if (f && f.size === want.size && (!this.opts.verify || (await hashFile(f)) === want.sha256)) {
        this.opts.onProgress?.({ file: name, loadedBytes: f.size, totalBytes: f.size, phase: 'cached' });
        return f;
      }
      delete this.manifest.files[name];
      await writeManifest(this.dir, this.manifest);
    }
    return this.download(name, maxBytes);
  }

  /** Stream one file from the network to disk, hashing it; recorded in the manifest only once complete and checked. */
  private async download(name: string, maxBytes: number): Promise<File> {
    const url = this.resolve(name);
    const fetchFn = this.opts.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a));
    let r: Response;
    try {
      r = await fetchFn(url, { headers: { ...this.opts.headers } });
    } catch (e) {
      throw new TypeError(`GET ${url}: ${(e as Error).message}`);
    }
    if (!r.ok || !r.body) {
      await r.body?.cancel();
      throw Object.assign(new Error(`GET ${url}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`), { status: r.status });
    }
    const total = Number(r.headers.get('content-length') ?? NaN);
    if (total > maxBytes) {
      await r.body.cancel();
      throw new TooLargeError(total, maxBytes);
    }
    const handle = await this.dir.getFileHandle(fileName(name), { create: true });
    const w = await handle.createWritable();
    const h = sha256.create();
    let n = 0;
    try {
      // Each chunk is written before the next is read: streamChunks reuses its buffer.
      for await (const c of streamChunks(r.body)) {
        n += c.byteLength;
        if (n > maxBytes) throw new TooLargeError(n, maxBytes);
        h.update(c);
        await w.write(c as Uint8Array<ArrayBuffer>);
        this.opts.onProgress?.({ file: name, loadedBytes: n, totalBytes: total, phase: 'download' });
      }
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      if ((e as DOMException).name === 'QuotaExceededError') {
        throw new SourceError(`the browser has no room to store ${url} (${mbText(n)} written): free space with weightCache.delete(), or load with cache: false`);
      }
      throw e;
    }
    const digest = bytesToHex(h.digest());
    const stated = statedSha256(r);
    const refuse = async (why: string): Promise<never> => {
      await this.dir.removeEntry(fileName(name)).catch(() => {}); // "not cached" means no bytes left behind either
      throw new SourceError(`GET ${url}: ${why}; not cached`);
    };
    if (!Number.isNaN(total) && n !== total) await refuse(`${n} bytes arrived, the server announced ${total}`);
    if (stated && stated !== digest) await refuse(`sha256 ${digest} of the download differs from the server's ${stated}`);
    this.manifest.files[name] = { size: n, sha256: digest };
    await writeManifest(this.dir, this.manifest);
    return handle.getFile();
  }
}

const mbText = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

async function hashFile(f: File): Promise<string> {
  const h = sha256.create();
  const reader = f.stream().getReader();
  for (;;) {
    const c = await reader.read();
    if (c.done) return bytesToHex(h.digest());
    h.update(c.value);
  }
}

/** The cache manager: what is stored, how much disk it takes, and removal. */
export const weightCache = {
  async list(): Promise<CachedModel[]> {
    const out: CachedModel[] = [];
    for await (const [, entry] of (await rootDir()) as unknown as AsyncIterable<[string, FileSystemHandle]>) {
      if (entry.kind !== 'directory') continue;
      const m = await readManifest(entry as FileSystemDirectoryHandle, null);
      if (!m.url) continue;
      const files = Object.entries(m.files).map(([name, f]) => ({ name, ...f }));
      out.push({ url: m.url, files, bytes: files.reduce((a, f) => a + f.size, 0) });
    }
    return out.sort((a, b) => (a.url < b.url ? -1 : 1));
  },

  /** Bytes of all cached checkpoint files. */
  async bytesUsed(): Promise<number> {
    return (await this.list()).reduce((a, m) => a + m.bytes, 0);
  },

  /** Remove one checkpoint URL's files; false when nothing was stored for it. */
  async delete(url: string): Promise<boolean> {
    const root = await rootDir();
    try {
      await whenUnlocked(() => root.removeEntry(dirName(normal(new URL(url).href)), { recursive: true }));
      return true;
    } catch (e) {
      if ((e as DOMException).name === 'NotFoundError') return false;
      throw e;
    }
  },

  /** Everything, partial downloads included. */
  async clear(): Promise<void> {
    await rootDir();
    const top = await navigator.storage.getDirectory();
    await whenUnlocked(() => top.removeEntry(ROOT, { recursive: true }));
  },
};

/**
 * A file with an open writable (a sibling download of a load that already failed, still finishing) refuses removal
 * with NoModificationAllowedError; wait for it a few seconds, then say what holds it.
 */
async function whenUnlocked(remove: () => Promise<void>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await remove();
    } catch (e) {
      if ((e as DOMException).name !== 'NoModificationAllowedError') throw e;
      if (i === 50) throw new SourceError('the weight cache is still being written by a download in progress: try again when it ends');
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

// A checkpoint folder the user picked in a browser (directory picker, drag and drop, <input webkitdirectory>):
// File objects by name, read by range (blobRangeFile, which the browser weight cache reads its files with too), so
// GB-sized shards are never read whole.

import { SCRATCH_BYTES } from './fetchSource.js';
import { type CheckpointSource, type RangeFile, SourceError, TooLargeError } from './sourceBase.js';

/** How long a read may make no progress before the BYOB stream is given up (reads take milliseconds). */
const STALL_MS = 2000;

/**
 * A Blob (a picked File, or a file of the browser's weight cache) read by range. Reads go through one BYOB stream per
 * run of consecutive reads and a reused buffer, so a multi-GB load leaves no per-read garbage in the JS heap; reads
 * are queued, so the stream's position is always the one the next read continues. Chromium's BYOB read of a
 * file-backed blob, one slice stream per read, hung a cached load for good (the browser tier's heap test, 1 run in
 * 3-4; default readers and arrayBuffer() did not in 8 runs each); with this reader no read has stalled in 10 runs, but
 * should one make no progress for STALL_MS it is abandoned and the blob is read by arrayBuffer() slices from then on.
 * Engines whose Blob streams are not byte streams read by slices throughout.
 */
export function blobRangeFile(b: Blob, who: string): RangeFile {
  let cur: { reader: ReadableStreamBYOBReader; pos: number } | null = null;
  let byob = true;
  let buf: ArrayBuffer = new ArrayBuffer(SCRATCH_BYTES);
  let queue: Promise<unknown> = Promise.resolve();
  const drop = () => {
    void cur?.reader.cancel().catch(() => {});
    cur = null;
  };
  const sliceRead = async (into: Uint8Array, position: number, len: number): Promise<number> => {
    into.set(new Uint8Array(await b.slice(position, position + len).arrayBuffer()));
    return len;
  };
  const read = async (into: Uint8Array, position: number): Promise<number> => {
    const len = Math.min(into.byteLength, b.size - position);
    if (len <= 0) return 0;
    if (!byob) return sliceRead(into, position, len);
    if (cur?.pos !== position) {
      drop();
      try {
        cur = { reader: b.slice(position).stream().getReader({ mode: 'byob' }), pos: position };
      } catch {
        byob = false; // not a byte stream
        return sliceRead(into, position, len);
      }
    }
    const c0 = cur;
    let n = 0;
    try {
      while (n < len) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stalled = new Promise<null>((res) => (timer = setTimeout(() => res(null), STALL_MS)));
        const c = await Promise.race([c0.reader.read(new Uint8Array(buf, 0, Math.min(buf.byteLength, len - n))), stalled]);
        clearTimeout(timer);
        if (!c) {
          console.warn(`qwen3-vl: reading ${who} stalled at byte ${position + n}; reading it without streams from here`);
          byob = false; // the buffer stays with the abandoned read
          drop();
          return n + (await sliceRead(into.subarray(n), position + n, len - n));
        }
        if (c.value) buf = c.value.buffer as ArrayBuffer;
        if (c.done || !c.value?.byteLength) throw new SourceError(`${who}: ended at byte ${position + n} of ${b.size}`);
        into.set(c.value, n);
        n += c.value.byteLength;
      }
    } catch (e) {
      drop(); // the stream's position is no longer known
      throw e;
    }
    c0.pos += len;
    return len;
  };
  return {
    name: who,
    size: b.size,
    read: (into, position) => {
      const r = queue.then(() => read(into, position));
      queue = r.catch(() => {});
      return r;
    },
    close: async () => {
      await queue;
      drop();
    },
  };
}

export class BlobSource implements CheckpointSource {
  readonly location: string;
  private readonly files: ReadonlyMap<string, Blob>;

  /** `files`: by name in the folder (sub-folders ignored: a checkpoint is flat), or File objects named as they are. */
  constructor(files: Iterable<readonly [string, Blob]> | Iterable<File>, label = 'local folder') {
    const m = new Map<string, Blob>();
    for (const f of files as Iterable<File | readonly [string, Blob]>) {
      const [name, blob] = Array.isArray(f) ? (f as [string, Blob]) : [(f as File).name, f as File];
      m.set(name.slice(name.lastIndexOf('/') + 1), blob);
    }
    this.files = m;
    this.location = label;
  }

  resolve(name: string): string {
    return `${this.location}/${name}`;
  }

  async exists(name: string): Promise<boolean> {
    return this.files.has(name);
  }

  async readText(name: string, maxBytes = Infinity): Promise<string> {
    const b = this.get(name);
    if (b.size > maxBytes) throw new TooLargeError(b.size, maxBytes);
    return b.text();
  }

  async open(name: string): Promise<RangeFile> {
    return blobRangeFile(this.get(name), this.resolve(name));
  }

  private get(name: string): Blob {
    const b = this.files.get(name);
    if (!b) throw new SourceError(`${this.resolve(name)}: the folder has no ${name} (it has ${[...this.files.keys()].sort().join(', ') || 'no files'})`);
    return b;
  }
}

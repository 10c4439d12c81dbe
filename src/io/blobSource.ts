// A checkpoint folder the user picked in a browser (directory picker, drag and drop, <input webkitdirectory>):
// File objects by name, read by range with Blob.slice, so GB-sized shards are never read whole.

import { readStreamInto } from './fetchSource.js';
import { type CheckpointSource, type RangeFile, SourceError, TooLargeError } from './sourceBase.js';

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
    const b = this.get(name);
    return {
      name: this.resolve(name),
      size: b.size,
      read: async (into, position) => {
        const len = Math.min(into.byteLength, b.size - position);
        if (len <= 0) return 0;
        return readStreamInto(b.slice(position, position + len).stream(), into.subarray(0, len), this.resolve(name));
      },
      close: async () => {},
    };
  }

  private get(name: string): Blob {
    const b = this.files.get(name);
    if (!b) throw new SourceError(`${this.resolve(name)}: the folder has no ${name} (it has ${[...this.files.keys()].sort().join(', ') || 'no files'})`);
    return b;
  }
}

// Checkpoint files on a local disk (Node): byte-range reads through a file handle, so a multi-GB shard is never
// held in one buffer. Built-ins load through nodeImport, so a browser bundle that includes this module stays clean.

import type { FileHandle } from 'node:fs/promises';
import { type CheckpointSource, type RangeFile, SourceError, TooLargeError, nodeImport } from './sourceBase.js';

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

let mods: Promise<{ fs: Fs; path: Path; existsSync: (p: string) => boolean }> | null = null;
function node() {
  mods ??= Promise.all([nodeImport<Fs>('node:fs/promises'), nodeImport<Path>('node:path'), nodeImport<typeof import('node:fs')>('node:fs')]).then(([fs, p, fsSync]) => ({
    fs,
    // Namespace imports of CommonJS built-ins carry the module on `default` as well; either works.
    path: (p as Path & { default?: Path }).default ?? p,
    existsSync: fsSync.existsSync,
  }));
  return mods;
}

export class NodeSource implements CheckpointSource {
  private constructor(
    readonly location: string,
    private readonly m: Awaited<ReturnType<typeof node>>,
  ) {}

  static async create(dir: string): Promise<NodeSource> {
    return new NodeSource(dir, await node());
  }

  resolve(name: string): string {
    return this.m.path.join(this.location, name);
  }

  async exists(name: string): Promise<boolean> {
    return this.m.existsSync(this.resolve(name));
  }

  async readText(name: string, maxBytes?: number): Promise<string> {
    const file = this.resolve(name);
    if (maxBytes === undefined) return this.m.fs.readFile(file, 'utf8');
    const { size } = await this.m.fs.stat(file);
    if (size > maxBytes) throw new TooLargeError(size, maxBytes);
    return this.m.fs.readFile(file, 'utf8');
  }

  open(name: string): Promise<RangeFile> {
    return openNodeFile(this.resolve(name));
  }
}

export async function openNodeFile(file: string): Promise<RangeFile> {
  const { fs } = await node();
  const fh: FileHandle = await fs.open(file, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SourceError('not a regular file');
    return {
      name: file,
      size: st.size,
      // A single read() is capped at 2 GiB.
      read: async (into, position) => (await fh.read(into, 0, Math.min(into.byteLength, 1 << 30), position)).bytesRead,
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

// Local media files named by clients: only inside allowed folders, no traversal, no symlink escape. The file is
// opened once and the check is made on what was opened (its /proc/self/fd link, or its device and inode), so a
// swap after the check cannot redirect the read; the bytes are returned, and nothing reads the path again.

import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type PathFailure = 'disabled' | 'invalid' | 'not_found' | 'outside' | 'not_file' | 'too_large';

export class PathPolicyError extends Error {
  constructor(
    message: string,
    readonly code: PathFailure,
  ) {
    super(message);
    this.name = 'PathPolicyError';
  }
}

/** The real paths of the allowed folders (call once at start-up; a missing folder is an error then, not later). */
export async function realAllowedDirs(dirs: readonly string[]): Promise<string[]> {
  return Promise.all(
    dirs.map(async (d) => {
      try {
        const real = await realpath(d);
        if (!(await stat(real)).isDirectory()) throw new PathPolicyError(`allowed folder '${d}' is not a folder`, 'invalid');
        return real;
      } catch (e) {
        if (e instanceof PathPolicyError) throw e;
        throw new PathPolicyError(`allowed folder '${d}' does not exist`, 'not_found');
      }
    }),
  );
}

const inside = (file: string, dirs: readonly string[]) => dirs.some((d) => file === d || file.startsWith(d.endsWith(path.sep) ? d : d + path.sep));

/** Absolute path for a client string: a file:// URL, an absolute path, or a path relative to the first folder. */
export function clientPath(ref: string, dirs: readonly string[]): string {
  if (ref.includes('\0')) throw new PathPolicyError('paths cannot contain NUL bytes', 'invalid');
  if (/^file:/i.test(ref)) {
    try {
      return path.resolve(fileURLToPath(ref));
    } catch {
      throw new PathPolicyError('not a valid file:// URL (it must be file:///absolute/path on this host)', 'invalid');
    }
  }
  return path.resolve(dirs[0] ?? '/', ref);
}

export interface AllowedFile {
  /** The file's real path (for messages and logs). */
  readonly path: string;
  readonly bytes: Uint8Array;
}

/**
 * Read a client-named file if, and only if, it is a regular file inside one of `dirs` (real paths, see
 * realAllowedDirs) once every symlink is resolved, and at most `maxBytes` long.
 */
export async function readAllowedFile(ref: string, dirs: readonly string[], maxBytes: number): Promise<AllowedFile> {
  if (dirs.length === 0) throw new PathPolicyError('local files are disabled on this server', 'disabled');
  const file = clientPath(ref, dirs);
  // Lexically outside: refused without touching the disk, so existence outside the folders is never revealed.
  if (!inside(file, dirs)) throw new PathPolicyError('the path is outside the allowed folders', 'outside');
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    throw new PathPolicyError('no such file under the allowed folders', 'not_found');
  }
  if (!inside(real, dirs)) throw new PathPolicyError('the path leads outside the allowed folders (symlink)', 'outside');
  let fh;
  try {
    // O_NONBLOCK: a FIFO must not hang the open; O_NOFOLLOW: the last component cannot have become a link.
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new PathPolicyError('the path leads outside the allowed folders (symlink)', 'outside');
    throw new PathPolicyError(`cannot open the file (${code ?? 'error'})`, code === 'ENOENT' ? 'not_found' : 'invalid');
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PathPolicyError('not a regular file', 'not_file');
    await checkOpened(fh.fd, real, st, dirs);
    if (st.size > maxBytes) throw new PathPolicyError(`the file is ${st.size} bytes, over the ${maxBytes}-byte limit`, 'too_large');
    // Read at most one byte past the limit: a file that grew since the stat is caught too.
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > maxBytes) throw new PathPolicyError(`the file is over the ${maxBytes}-byte limit`, 'too_large');
    return { path: real, bytes: new Uint8Array(buf.buffer, buf.byteOffset, n) };
  } finally {
    await fh.close();
  }
}

/** The opened descriptor must be the checked file: by its /proc link where there is one, else by device + inode. */
async function checkOpened(fd: number, real: string, st: { dev: number; ino: number }, dirs: readonly string[]): Promise<void> {
  let opened: string | null = null;
  try {
    opened = await realpath(`/proc/self/fd/${fd}`);
  } catch {
    opened = null;
  }
  if (opened !== null && opened.startsWith('/')) {
    if (!inside(opened, dirs)) throw new PathPolicyError('the path leads outside the allowed folders (changed while opening)', 'outside');
    return;
  }
  const now = await stat(real).catch(() => null);
  if (!now || now.dev !== st.dev || now.ino !== st.ino) throw new PathPolicyError('the file changed while it was being opened', 'outside');
}

// Local media paths: inside the allowed folders only — traversal, absolute paths elsewhere, symlinks (file and
// folder) pointing out, FIFOs, folders, oversize files and NUL bytes are all refused with a typed code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PathPolicyError, readAllowedFile, realAllowedDirs } from '../../src/server/pathPolicy.js';

let root: string;
let allowed: string;
let dirs: string[];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-paths-'));
  allowed = path.join(root, 'allowed');
  const outside = path.join(root, 'outside');
  mkdirSync(path.join(allowed, 'sub'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(allowed, 'pic.png'), 'inside');
  writeFileSync(path.join(allowed, 'sub', 'deep.png'), 'deeper');
  writeFileSync(path.join(allowed, 'big.bin'), Buffer.alloc(2000));
  writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  symlinkSync(path.join(outside, 'secret.txt'), path.join(allowed, 'link.png'));
  symlinkSync(outside, path.join(allowed, 'outdir'));
  symlinkSync(path.join(allowed, 'pic.png'), path.join(allowed, 'innerlink.png'));
  execFileSync('mkfifo', [path.join(allowed, 'fifo')]);
  // A sibling whose name starts with the allowed folder's name must not count as inside it.
  mkdirSync(`${allowed}-evil`);
  writeFileSync(`${allowed}-evil/x.png`, 'evil');
  dirs = await realAllowedDirs([allowed]);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function code(ref: string, max = 1000): Promise<string> {
  try {
    await readAllowedFile(ref, dirs, max);
  } catch (e) {
    expect(e).toBeInstanceOf(PathPolicyError);
    return (e as PathPolicyError).code;
  }
  return 'ok';
}

describe('readAllowedFile', () => {
  it('reads files inside the folder by relative path, absolute path, file:// URL and inner symlink', async () => {
    expect(Buffer.from((await readAllowedFile('pic.png', dirs, 100)).bytes).toString()).toBe('inside');
    expect(Buffer.from((await readAllowedFile('sub/deep.png', dirs, 100)).bytes).toString()).toBe('deeper');
    expect(Buffer.from((await readAllowedFile(path.join(allowed, 'pic.png'), dirs, 100)).bytes).toString()).toBe('inside');
    expect(Buffer.from((await readAllowedFile(pathToFileURL(path.join(allowed, 'sub', 'deep.png')).href, dirs, 100)).bytes).toString()).toBe('deeper');
    const inner = await readAllowedFile('innerlink.png', dirs, 100);
    expect(inner.path).toBe(path.join(dirs[0], 'pic.png'));
  });

  it('refuses traversal and absolute paths elsewhere without revealing what exists there', async () => {
    expect(await code('../outside/secret.txt')).toBe('outside');
    expect(await code('sub/../../outside/secret.txt')).toBe('outside');
    expect(await code('/etc/passwd')).toBe('outside');
    expect(await code('/etc/does-not-exist')).toBe('outside');
    expect(await code('file:///etc/passwd')).toBe('outside');
    expect(await code(`${allowed}-evil/x.png`)).toBe('outside');
    expect(await code('../allowed-evil/x.png')).toBe('outside');
  });

  it('refuses symlinks that lead outside (file and folder links)', async () => {
    expect(await code('link.png')).toBe('outside');
    expect(await code('outdir/secret.txt')).toBe('outside');
  });

  it('refuses missing files, folders, FIFOs, NUL bytes, bad file URLs and oversize files', async () => {
    expect(await code('missing.png')).toBe('not_found');
    expect(await code('sub')).toBe('not_file');
    const t0 = Date.now();
    expect(await code('fifo')).toBe('not_file');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await code('pic.png\0.txt')).toBe('invalid');
    expect(await code('file://otherhost/x.png')).toBe('invalid');
    expect(await code('big.bin', 1999)).toBe('too_large');
    expect((await readAllowedFile('big.bin', dirs, 2000)).bytes.length).toBe(2000);
  });

  it('is disabled without folders, and a missing allowed folder fails at start-up', async () => {
    await expect(readAllowedFile('pic.png', [], 100)).rejects.toMatchObject({ code: 'disabled' });
    await expect(realAllowedDirs([path.join(root, 'nope')])).rejects.toMatchObject({ code: 'not_found' });
    await expect(realAllowedDirs([path.join(allowed, 'pic.png')])).rejects.toMatchObject({ code: 'invalid' });
  });
});

// The bench's native llama.cpp build never deletes a folder it did not make: --llama-dir pointed at a folder whose
// `src` is someone's files stops with an error and leaves them as they were.
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ensureNativeLlama } from '../../bench/llamaNative.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('refuses a --llama-dir whose src is not a llama.cpp checkout, and keeps its files', () => {
  dir = mkdtempSync(path.join(tmpdir(), 'qv-llama-'));
  mkdirSync(path.join(dir, 'src', 'backend'), { recursive: true });
  writeFileSync(path.join(dir, 'src', 'backend', 'index.ts'), 'export {};\n');
  expect(() => ensureNativeLlama(dir, 1, 'avx2')).toThrow(/src exists and is not a llama.cpp checkout/);
  expect(readFileSync(path.join(dir, 'src', 'backend', 'index.ts'), 'utf8')).toBe('export {};\n');
});

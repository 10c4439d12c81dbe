// Locating the golden fixtures (vendored in test/fixtures; QWEN3VL_FIXTURES overrides the qwen3-vl root) and reading
// a case's goldens.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../../src/backend/index.js';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { vendoredFixtures } from '../fixtures/store.js';

// Browser-safe (the WebGPU tier bundles them); re-exported for the Node suites.
export { type Golden, goldenInputs, loadGolden, relErr } from './compare.js';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The qwen3-vl fixtures root: QWEN3VL_FIXTURES, else the copy vendored in test/fixtures (unpacked on first use). */
export const fixturesRoot = process.env.QWEN3VL_FIXTURES ? path.resolve(process.env.QWEN3VL_FIXTURES) : path.join(vendoredFixtures(), 'qwen3-vl');
/** The Qwen tokenizer files (tokenizer.json, tokenizer_config.json with the text-only Qwen3 template), beside it. */
export const tokenizerDir = path.resolve(fixturesRoot, '..', 'tokenizer');

/** Backend under test for model-level suites (QWEN3VL_BACKEND, default ref). */
export const testBackend = (process.env.QWEN3VL_BACKEND ?? 'ref') as BackendName;

/** Backends the golden parity suite runs on: QWEN3VL_BACKEND alone, else ref and (when its addon loads) cpu. */
export const parityBackends: BackendName[] = process.env.QWEN3VL_BACKEND
  ? [testBackend]
  : ['ref', ...(loadAddon() instanceof Error ? [] : (['cpu'] as const))];

/** Every case folder: a checkpoint with golden.json and golden.safetensors. */
export function modelCases(): string[] {
  if (!existsSync(fixturesRoot)) return [];
  return readdirSync(fixturesRoot, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(fixturesRoot, d.name))
    .filter((d) => ['golden.json', 'golden.safetensors', 'config.json'].every((f) => existsSync(path.join(d, f))))
    .sort();
}

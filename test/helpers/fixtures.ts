// Locating the golden fixtures (QWEN3VL_FIXTURES overrides the qwen3-vl root) and reading a case's goldens.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, type RawTensor } from '../../src/io/safetensors.js';
import type { BackendName } from '../../src/backend/index.js';
import { loadAddon } from '../../src/backend/cpu/native.js';
import type { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedFixtures = path.resolve(projectRoot, '../shared/fixtures');
export const fixturesRoot = process.env.QWEN3VL_FIXTURES ? path.resolve(process.env.QWEN3VL_FIXTURES) : path.join(sharedFixtures, 'qwen3-vl');

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

export interface Golden {
  readonly json: Record<string, unknown> & {
    input_ids: number[];
    mm_token_type_ids?: number[];
    image_grid_thw?: number[][];
    video_grid_thw?: number[][];
    rope_deltas?: number[];
    greedy_new_tokens?: number[];
  };
  readonly tensors: Map<string, RawTensor>;
}

export async function loadGolden(dir: string): Promise<Golden> {
  const json = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8'));
  const f = await SafetensorsFile.open(path.join(dir, 'golden.safetensors'));
  const tensors = new Map<string, RawTensor>();
  for (const name of f.tensors.keys()) tensors.set(name, await f.read(name));
  await f.close();
  return { json, tensors };
}

/** The forward inputs a golden case was produced from (ids, token types, pixels and grids). */
export function goldenInputs(g: Golden): Parameters<Qwen3VLModel['forward']>[0] {
  return {
    inputIds: g.json.input_ids,
    mmTokenTypeIds: g.json.mm_token_type_ids,
    pixelValues: g.tensors.get('pixel_values')?.f32(),
    imageGridThw: g.json.image_grid_thw?.length ? g.json.image_grid_thw : undefined,
    pixelValuesVideos: g.tensors.get('pixel_values_videos')?.f32(),
    videoGridThw: g.json.video_grid_thw?.length ? g.json.video_grid_thw : undefined,
  };
}

/** max|a − b| / max|b| over the first b.length values. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / (m || 1);
}

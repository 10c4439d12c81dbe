// Golden cases and comparisons with them, free of Node built-ins so the browser tier bundles them too.
import { type RawTensor, SafetensorsFile } from '../../src/io/safetensors.js';
import { type SourceLike, openSource } from '../../src/io/source.js';
import type { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';

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

/** FNV-1a over the bytes of a typed array: exact equality of large outputs across the page boundary. */
export function hashBytes(a: ArrayBufferView): string {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return `${(h >>> 0).toString(16)}:${b.length}`;
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

/** A case's golden.json and golden.safetensors, from its folder or URL. */
export async function loadGolden(dir: SourceLike): Promise<Golden> {
  const src = await openSource(dir);
  const json = JSON.parse(await src.readText('golden.json'));
  const f = await SafetensorsFile.open(await src.open('golden.safetensors'));
  const tensors = new Map<string, RawTensor>();
  for (const name of f.tensors.keys()) tensors.set(name, await f.read(name));
  await f.close();
  return { json, tensors };
}

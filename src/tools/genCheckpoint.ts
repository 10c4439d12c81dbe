// Random-weight Qwen3-VL checkpoints with the published shapes (spec §1.5) in the Hub layout: sharded bf16
// safetensors + model.safetensors.index.json + config.json, written tensor by tensor (never the whole model in memory).
// Script: npx vite-node bench/gen.ts -- OUT --shape 2B [--layers N] [--vision-depth N] [--seed S]

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsWriter, type TensorSpec } from '../io/safetensors.js';
import { type Init, type ModelShape, type ShapeName, SHAPES, checkpointTensors, configJson, generationConfigJson } from '../models/qwen3vl/checkpoint.js';
import { parseConfig } from '../models/qwen3vl/config.js';
import { type QuantDType, QBLOCK, QBLOCK_BYTES, f32ToF16 } from '../tensor/dtype.js';
import { QUANT_META_KEY, type QuantizedTensorInfo, quantPlan } from './quantize.js';

// The published shapes and the config.json synthesis live with the model family; re-exported for the benches.
export { SHAPES, VOCAB, type ModelShape, type ShapeName } from '../models/qwen3vl/checkpoint.js';

export interface GenCheckpointOptions {
  /** Output folder (created). */
  readonly out: string;
  readonly shape: ShapeName | ModelShape;
  /** Keep only the first N decoder layers (default: all). */
  readonly layers?: number;
  /** Vision blocks (default: the shape's depth); DeepStack indexes past it are dropped. */
  readonly visionDepth?: number;
  readonly seed?: number;
  /** Target shard size in bytes (default 4 GiB, like the Hub's). */
  readonly shardBytes?: number;
  /**
   * Write the large matrices already quantized (the format of src/tools/quantize.ts) with random blocks: a q4_0
   * 30B-A3B is ~17 GB on disk instead of 62 GB of bf16. Default bf16.
   */
  readonly dtype?: 'bf16' | QuantDType;
  readonly onProgress?: (p: { tensor: string; writtenBytes: number; totalBytes: number }) => void;
}

type Spec = TensorSpec & { readonly init: Init };

/**
 * Fill `out` with bf16 bits of a roughly normal distribution with std ≈ 0.02 (the checkpoints' init range): a
 * 32-bit xorshift, the sum of two uniforms (triangular) as the shape. Fast enough to stream tens of GB.
 */
export function fillRandomBf16(out: Uint16Array, seed: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const a = (s & 0xffff) / 65536;
    const b = (s >>> 16) / 65536;
    f[0] = (a + b - 1) * 0.049; // std of a triangular on [-1, 1] is 1/√6; 0.049/√6 ≈ 0.02
    out[i] = (u[0] + 0x8000) >>> 16;
  }
  return s;
}

const ELEM = 2;

/** Random q8_0/q4_0 blocks whose values have std ≈ 0.02, like the bf16 init. */
function fillRandomBlocks(out: Uint8Array, fmt: QuantDType, seed: number): number {
  const words = new Uint32Array(out.buffer, out.byteOffset, out.byteLength >>> 2);
  let s = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s;
  }
  // Uniform 8-bit quants (std 73.6) or 4-bit nibbles (std 4.6) scaled to std 0.02.
  const scale = f32ToF16(fmt === 'q8_0' ? 0.02 / 73.6 : 0.02 / 4.6);
  const bb = QBLOCK_BYTES[fmt];
  for (let o = 0; o < out.length; o += bb) {
    out[o] = scale & 0xff;
    out[o + 1] = scale >>> 8;
    if (fmt === 'q8_0') for (let j = 2; j < bb; j++) if (out[o + j] === 0x80) out[o + j] = 0x81; // no −128
  }
  return s;
}

/** Write a random checkpoint; returns the files written and their total bytes. */
export async function genCheckpoint(opts: GenCheckpointOptions): Promise<{ files: string[]; bytes: number }> {
  const shape: ModelShape = typeof opts.shape === 'string' ? SHAPES[opts.shape] : opts.shape;
  if (!shape) throw new Error(`genCheckpoint: unknown shape '${String(opts.shape)}' (known: ${Object.keys(SHAPES).join(', ')})`);
  const layers = opts.layers ?? shape.layers;
  const depth = opts.visionDepth ?? shape.vision.depth;
  if (!(layers >= 1 && layers <= shape.layers)) throw new Error(`genCheckpoint: --layers ${layers} outside [1, ${shape.layers}]`);
  const config = configJson(shape, { layers, visionDepth: depth });
  const table = checkpointTensors(parseConfig(config));
  const plans = new Map<string, QuantizedTensorInfo>();
  const specs: Spec[] = table.map((t) => {
    const s: Spec = { name: t.name, dtype: 'BF16', shape: [...t.shape], init: t.init };
    const p = opts.dtype && opts.dtype !== 'bf16' ? quantPlan(t, opts.dtype) : null;
    if (!p) return s;
    plans.set(s.name, p);
    const numel = p.shape.reduce((a, b) => a * b, 1);
    return { ...s, dtype: 'U8', shape: [numel / p.k, (p.k / QBLOCK) * QBLOCK_BYTES[p.dtype]] };
  });
  const size = (s: Spec) => s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'U8' ? 1 : ELEM);
  const shardBytes = opts.shardBytes ?? 4 * 2 ** 30;
  const shards: Spec[][] = [[]];
  let cur = 0;
  for (const s of specs) {
    if (cur > 0 && cur + size(s) > shardBytes) {
      shards.push([]);
      cur = 0;
    }
    shards.at(-1)!.push(s);
    cur += size(s);
  }
  await mkdir(opts.out, { recursive: true });
  const names = shards.map((_, i) => (shards.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
  const totalBytes = specs.reduce((a, s) => a + size(s), 0);
  let writtenBytes = 0;
  let seed = (opts.seed ?? 1) * 2654435761;
  const weightMap: Record<string, string> = {};
  const chunk = new Uint16Array(1 << 24);
  for (let i = 0; i < shards.length; i++) {
    const quantized = Object.fromEntries(shards[i].filter((s) => plans.has(s.name)).map((s) => [s.name, plans.get(s.name)!]));
    const meta: Record<string, string> = { format: 'pt' };
    if (plans.size) meta[QUANT_META_KEY] = JSON.stringify({ version: 1, tensors: quantized });
    const w = await SafetensorsWriter.create(path.join(opts.out, names[i]), shards[i], meta);
    for (const s of shards[i]) {
      const p = plans.get(s.name);
      if (p) {
        const data = new Uint8Array(size(s));
        seed = fillRandomBlocks(data, p.dtype, seed);
        await w.write(s.name, data);
      } else {
        const n = size(s) / ELEM;
        const buf = n <= chunk.length ? chunk.subarray(0, n) : new Uint16Array(n);
        if (s.init === 'normal') seed = fillRandomBf16(buf, seed);
        else buf.fill(s.init === 'ones' ? 0x3f80 : 0);
        await w.write(s.name, buf);
      }
      weightMap[s.name] = names[i];
      writtenBytes += size(s);
      opts.onProgress?.({ tensor: s.name, writtenBytes, totalBytes });
    }
    await w.close();
  }
  if (shards.length > 1) {
    await writeFile(path.join(opts.out, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));
  }
  await writeFile(path.join(opts.out, 'config.json'), JSON.stringify(config, null, 2));
  await writeFile(path.join(opts.out, 'generation_config.json'), JSON.stringify(generationConfigJson(), null, 2));
  return { files: [...names, ...(shards.length > 1 ? ['model.safetensors.index.json'] : []), 'config.json', 'generation_config.json'], bytes: totalBytes };
}

/** Command-line entry: `genCheckpoint OUT --shape 2B [--layers N] [--vision-depth N] [--seed S]`. */
export async function genCheckpointMain(args: readonly string[]): Promise<void> {
  const argv = args.filter((a) => a !== '--');
  const opt = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const out = argv.find((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--')));
  if (!out) throw new Error('usage: genCheckpoint OUT --shape 2B|4B|8B|30B-A3B [--layers N] [--vision-depth N] [--seed S] [--dtype bf16|q8_0|q4_0]');
  const t0 = Date.now();
  const r = await genCheckpoint({
    out,
    shape: (opt('shape') ?? '2B') as ShapeName,
    layers: opt('layers') ? Number(opt('layers')) : undefined,
    visionDepth: opt('vision-depth') ? Number(opt('vision-depth')) : undefined,
    seed: opt('seed') ? Number(opt('seed')) : undefined,
    dtype: opt('dtype') as GenCheckpointOptions['dtype'],
  });
  console.log(`wrote ${r.files.length} files, ${(r.bytes / 2 ** 30).toFixed(2)} GiB in ${((Date.now() - t0) / 1000).toFixed(1)} s to ${out}`);
}

// Script entry (node dist/tools/genCheckpoint.js …); from sources use bench/gen.ts.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await genCheckpointMain(process.argv.slice(2));

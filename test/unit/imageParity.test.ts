// Image parity on every photo of qwen3-vl/processor: grids exact; pixels against the reference's default
// (`fast`, torchvision) backend with our torchvision port, and against its `slow` (PIL) backend with our PIL port.
// The goldens are float16, so ours are rounded to float16 before comparing: an exact port shows 0.
import { beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadProcessor, type Qwen3VLProcessor } from '../../src/processor/index.js';
import { diffStats, processorDir, readJson, readTensors, toF16Precision } from '../helpers/processorFixtures.js';

interface Case {
  image_grid_thw: number[][];
  input_size: [number, number];
  kwargs: { size?: { shortest_edge: number; longest_edge: number } };
}

const golden = readJson<Record<string, Case>>(path.join(processorDir, 'golden.json'));
let tensors: Map<string, { shape: readonly number[]; data: Float32Array }>;
const procs: Record<string, Qwen3VLProcessor> = {};

beforeAll(async () => {
  tensors = await readTensors(path.join(processorDir, 'golden.safetensors'));
  // processor/ has only preprocessor_config.json; the tokenizer comes from tiny-dense.
  for (const r of ['torchvision', 'pil'] as const) procs[r] = await loadProcessor(path.join(processorDir, '..', 'tiny-dense'), { resampler: r });
});

const f16Step = 2 ** -11; // float16 spacing just below 1: the storage error of the goldens

describe.each(Object.keys(golden).map((k) => [k]))('%s', (key) => {
  const c = golden[key];
  const [backend, name, bounds] = key.split('.');
  it(`grid exact and pixels match the ${backend} reference`, async () => {
    const resampler = backend === 'fast' ? 'torchvision' : 'pil';
    const p = procs[resampler];
    const out = await p.processImage(path.join(processorDir, `${name}.png`), {
      minPixels: c.kwargs.size?.shortest_edge,
      maxPixels: c.kwargs.size?.longest_edge,
    });
    expect([...out.grid]).toEqual(c.image_grid_thw[0]);
    const want = tensors.get(`${key}.pixel_values`)!.data;
    const raw = diffStats(out.data, want);
    const rounded = diffStats(toF16Precision(out.data), want);
    let scale = '';
    const other = tensors.get(`${backend === 'fast' ? 'slow' : 'fast'}.${name}.${bounds}.pixel_values`);
    if (other) {
      const fs = diffStats(other.data, want);
      scale = ` | fast vs slow reference: mean ${fs.mean.toExponential(2)} max ${fs.max.toExponential(2)}`;
    }
    console.log(
      `[image parity] ${key} (${resampler}) grid ${JSON.stringify(out.grid)}: mean ${raw.mean.toExponential(2)} max ${raw.max.toExponential(2)}` +
        ` (after float16 rounding: mean ${rounded.mean.toExponential(2)} max ${rounded.max.toExponential(2)})${scale}`,
    );
    // Stated tolerance: the goldens' float16 storage error; after rounding ours to float16 the port is exact.
    expect(raw.max).toBeLessThanOrEqual(f16Step);
    expect(rounded.max).toBe(0);
  });
});

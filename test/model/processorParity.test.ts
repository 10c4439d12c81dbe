// End to end on the input side: the full_processor prompt of video/golden.json (an image and a video) through
// loadProcessor(tiny-dense). Ids equal the reference's modulo its known extra outer video wrappers (and exactly
// with the compatibility switch), pixels equal after float16 rounding; then tiny-dense runs on our outputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import type { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import type { PreparedInputs } from '../../src/processor/index.js';
import { diffStats, readJson, readTensors, toF16Precision, videoDir, tinyDenseDir } from '../helpers/processorFixtures.js';
import { prepareFullProcessorInputs } from '../helpers/processorInputs.js';
import { relErr, testBackend } from '../helpers/fixtures.js';

interface Full {
  prompt: string;
  input_ids: number[];
  mm_token_type_ids: number[];
  image_grid_thw: number[][];
  video_grid_thw: number[][];
}
const g = readJson<{ full_processor: Full; e2e_greedy_new_tokens: number[] }>(path.join(videoDir, 'golden.json'));
const want = g.full_processor;
const VS = 151652;
const VE = 151653;
let ours: PreparedInputs;
let compat: PreparedInputs;
let tensors: Map<string, { shape: readonly number[]; data: Float32Array }>;

/** The reference ids with transformers 5.17's extra wrapper pair around each expanded video removed. */
function dropOuterVideoWrappers(ids: number[]): number[] {
  const out = [...ids];
  // The quirk: <|vision_start|> directly followed by the first timestamp text "<" (id 27), and a doubled <|vision_end|>.
  for (let i = 0; i < out.length - 1; i++) {
    if (out[i] === VS && out[i + 1] === 27) out.splice(i, 1);
  }
  for (let i = 0; i < out.length - 1; i++) {
    if (out[i] === VE && out[i + 1] === VE) out.splice(i, 1);
  }
  return out;
}

beforeAll(async () => {
  ours = await prepareFullProcessorInputs();
  compat = await prepareFullProcessorInputs({ keepOuterVideoWrappers: true });
  tensors = await readTensors(path.join(videoDir, 'golden.safetensors'), ['full.pixel_values', 'full.pixel_values_videos', 'e2e.logits.last4']);
});

describe('full processor parity (tiny-dense folder, built-in chat template)', () => {
  it('renders the reference prompt', () => {
    expect(ours.text.startsWith('<|im_start|>user\n<|vision_start|><|image_pad|>')).toBe(true);
    expect(ours.text.endsWith('What happens in this video?<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
  });

  it('ids equal the reference modulo its outer video wrappers; exactly with keepOuterVideoWrappers', () => {
    expect(ours.imageGridThw).toEqual(want.image_grid_thw);
    expect(ours.videoGridThw).toEqual(want.video_grid_thw);
    const normalised = dropOuterVideoWrappers(want.input_ids);
    expect(normalised.length).toBe(want.input_ids.length - 2);
    expect(ours.inputIds).toEqual(normalised);
    expect(compat.inputIds).toEqual(want.input_ids);
    expect(compat.mmTokenTypeIds).toEqual(want.mm_token_type_ids);
    expect(ours.text).toContain('<0.3 seconds><|vision_start|>');
    expect(ours.text).toContain('<|vision_end|><1.4 seconds><|vision_start|>');
    expect(ours.text).toContain('<|vision_end|><2.6 seconds><|vision_start|>');
  });

  it('mm_token_type_ids mark image pads 1 and video pads 2', () => {
    expect(ours.mmTokenTypeIds.filter((t) => t === 1)).toHaveLength(64);
    expect(ours.mmTokenTypeIds.filter((t) => t === 2)).toHaveLength(3 * 64);
    ours.inputIds.forEach((id, i) => expect(ours.mmTokenTypeIds[i]).toBe(id === 151655 ? 1 : id === 151656 ? 2 : 0));
  });

  it('pixel values equal the reference after float16 rounding', () => {
    for (const [name, got] of [
      ['full.pixel_values', ours.pixelValues!],
      ['full.pixel_values_videos', ours.pixelValuesVideos!],
    ] as const) {
      const w = tensors.get(name)!.data;
      const raw = diffStats(got, w);
      const r = diffStats(toF16Precision(got), w);
      console.log(`[e2e parity] ${name}: mean ${raw.mean.toExponential(2)} max ${raw.max.toExponential(2)} (after float16 rounding: max ${r.max.toExponential(2)})`);
      expect(r.max).toBe(0);
    }
  });
});

describe('tiny-dense on our processor outputs (training-format wrappers and reference-compatible ids)', () => {
  let model: Qwen3VLModel;
  beforeAll(async () => {
    model = await loadModel(tinyDenseDir, { backend: testBackend });
  });
  afterAll(() => model?.dispose());

  it('with the reference-compatible ids, the last 4 logits match e2e.logits.last4', async () => {
    const out = await model.forward({
      inputIds: compat.inputIds,
      pixelValues: compat.pixelValues,
      imageGridThw: compat.imageGridThw,
      pixelValuesVideos: compat.pixelValuesVideos,
      videoGridThw: compat.videoGridThw,
      logits: 4,
    });
    const e = relErr(out.logits, tensors.get('e2e.logits.last4')!.data);
    console.log(`[e2e parity] logits.last4 relative error on our processor outputs: ${e.toExponential(2)}`);
    expect(e).toBeLessThanOrEqual(1e-4);
  });

  it('the training-format prompt runs (two tokens shorter)', async () => {
    const out = await model.forward({
      inputIds: ours.inputIds,
      pixelValues: ours.pixelValues,
      imageGridThw: ours.imageGridThw,
      pixelValuesVideos: ours.pixelValuesVideos,
      videoGridThw: ours.videoGridThw,
      logits: 1,
    });
    expect(out.logits.length).toBeGreaterThan(0);
    expect(Number.isFinite(out.logits[0])).toBe(true);
  });
});

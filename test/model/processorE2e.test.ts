// The reference processor's own ids and pixels for an image + video prompt, through tiny-dense: the last four
// logits and the greedy continuation must match the reference run (video/golden.json `e2e*`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { loadModel } from '../../src/generate/engine.js';
import type { ForwardInputs } from '../../src/models/qwen3vl/model.js';
import type { Qwen3VL } from '../../src/generate/engine.js';
import { fixturesRoot, relErr, testBackend } from '../helpers/fixtures.js';

const video = path.join(fixturesRoot, 'video');
let model: Qwen3VL;
let inputs: ForwardInputs;
let want: { logits: Float32Array; tokens: number[] };

beforeAll(async () => {
  const g = JSON.parse(readFileSync(path.join(video, 'golden.json'), 'utf8'));
  const f = await SafetensorsFile.open(path.join(video, 'golden.safetensors'));
  const fp = g.full_processor;
  inputs = {
    inputIds: fp.input_ids,
    pixelValues: (await f.read('full.pixel_values')).f32(),
    imageGridThw: fp.image_grid_thw,
    pixelValuesVideos: (await f.read('full.pixel_values_videos')).f32(),
    videoGridThw: fp.video_grid_thw,
  };
  want = { logits: (await f.read('e2e.logits.last4')).f32(), tokens: g.e2e_greedy_new_tokens };
  await f.close();
  model = await loadModel(path.join(fixturesRoot, 'tiny-dense'), { backend: testBackend });
});
afterAll(() => model?.dispose());

describe('reference processor outputs through tiny-dense', () => {
  it('last-4 logits agree to 1e-4 (pixels stored as float16 in the fixture)', async () => {
    const out = await model.forward({ ...inputs, logits: 4 });
    const e = relErr(out.logits, want.logits);
    console.log(`[video e2e] logits.last4 relative error ${e.toExponential(2)}`);
    expect(e).toBeLessThanOrEqual(1e-4);
  });

  it('greedy continuation is exact', async () => {
    expect(await model.generateGreedy(inputs, want.tokens.length)).toEqual(want.tokens);
  });
});

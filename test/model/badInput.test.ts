// Bad multimodal input is refused with an error that names the problem, before any work is recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import type { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import { InputError } from '../../src/models/qwen3vl/positions.js';
import { fixturesRoot } from '../helpers/fixtures.js';

let m: Qwen3VLModel;
beforeAll(async () => {
  m = await loadModel(path.join(fixturesRoot, 'tiny-dense'));
});
afterAll(() => m.dispose());

const IMG = 151655;
const px = (patches: number) => new Float32Array(patches * 1536);

describe('bad input', () => {
  it('grid that does not match the patch count', async () => {
    await expect(m.forward({ inputIds: [1, IMG, IMG, 2], pixelValues: px(12), imageGridThw: [[1, 4, 2]] })).rejects.toThrow(/pixelValues holds 12 patches of 1536 values, but the grids \[\[1,4,2\]\] need 8/);
  });
  it('token count that does not match the grids', async () => {
    await expect(m.forward({ inputIds: [1, IMG, IMG, IMG, 2], pixelValues: px(8), imageGridThw: [[1, 4, 2]] })).rejects.toThrow(/more image token runs|image tokens, but imageGridThw needs 2/);
  });
  it('grid not divisible by the merge size', async () => {
    await expect(m.forward({ inputIds: [1, IMG, 2], pixelValues: px(6), imageGridThw: [[1, 3, 2]] })).rejects.toThrow(/divisible by the merge size 2/);
  });
  it('an image token in a text-only call', async () => {
    await expect(m.forward({ inputIds: [1, IMG, 2] })).rejects.toThrow(/hold 1 image token\(s\) \(id 151655\) but no pixelValues/);
  });
  it('ids outside the vocabulary and empty input', async () => {
    await expect(m.forward({ inputIds: [1, 151936] })).rejects.toThrow(/inputIds\[1\] = 151936 is outside the vocabulary/);
    await expect(m.forward({ inputIds: [] })).rejects.toThrow(InputError);
    await expect(m.forward({ inputIds: [1.5] as number[] })).rejects.toThrow(/not an integer/);
  });
  it('logits for every row of a long prompt (more than 4 GiB) are refused before any work', async () => {
    const ids = new Int32Array(8000).fill(1);
    const cache = m.createCache();
    await expect(m.forward({ inputIds: ids, cache })).rejects.toThrow(/logits for 8000 rows × 151936 would take 4\.5 GiB; ask for logits: 'last'/);
    expect(cache.length).toBe(0);
    cache.dispose();
  });
  it('a video grid without video pixels', async () => {
    await expect(m.forward({ inputIds: [1, 2], videoGridThw: [[2, 2, 2]] })).rejects.toThrow(/pixelValuesVideos and videoGridThw must be given together/);
  });
});

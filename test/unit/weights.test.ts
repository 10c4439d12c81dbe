// Strict weight binding: missing, unused and misshapen tensors are errors naming them; tied heads bind to the
// embedding. Broken checkpoints are made here from the untied text fixture.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SafetensorsFile, writeSafetensors, type StDType } from '../../src/io/safetensors.js';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { WeightError } from '../../src/models/qwen3vl/weights.js';
import { fixturesRoot } from '../helpers/fixtures.js';

const src = path.join(fixturesRoot, 'tiny-dense-untied-text');
let tmp: string;
let tensors: { name: string; dtype: StDType; shape: number[]; data: Uint8Array }[];

async function variant(name: string, edit: (t: typeof tensors) => typeof tensors, config?: (c: Record<string, unknown>) => void): Promise<string> {
  const d = path.join(tmp, name);
  mkdirSync(d);
  const cfg = JSON.parse(readFileSync(path.join(src, 'config.json'), 'utf8'));
  config?.(cfg);
  writeFileSync(path.join(d, 'config.json'), JSON.stringify(cfg));
  copyFileSync(path.join(src, 'generation_config.json'), path.join(d, 'generation_config.json'));
  await writeSafetensors(path.join(d, 'model.safetensors'), edit(tensors.map((t) => ({ ...t }))));
  return d;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'w-'));
  const f = await SafetensorsFile.open(path.join(src, 'model.safetensors'));
  tensors = [];
  for (const [name, info] of f.tensors) tensors.push({ name, dtype: info.dtype, shape: [...info.shape], data: (await f.read(name)).bytes });
  await f.close();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('weight binding', () => {
  it('loads the untouched copy', async () => {
    const m = await loadModel(await variant('ok', (t) => t));
    expect(m.weights.text.lmHead).not.toBe(m.weights.text.embedTokens);
    m.dispose();
  });

  it('names a missing tensor', async () => {
    const d = await variant('missing', (t) => t.filter((x) => x.name !== 'model.language_model.layers.2.self_attn.k_norm.weight'));
    await expect(loadModel(d)).rejects.toThrow(WeightError);
    await expect(loadModel(d)).rejects.toThrow(/lacks 1 tensor\(s\): model\.language_model\.layers\.2\.self_attn\.k_norm\.weight/);
  });

  it('names an unused tensor', async () => {
    const extra = { name: 'model.language_model.layers.9.mystery.weight', dtype: 'BF16' as StDType, shape: [2], data: new Uint8Array(4) };
    const d = await variant('unused', (t) => [...t, extra]);
    await expect(loadModel(d)).rejects.toThrow(/1 tensor\(s\) this model does not use: model\.language_model\.layers\.9\.mystery\.weight/);
  });

  it('names a misshapen tensor with both shapes', async () => {
    const d = await variant('shape', (t) =>
      t.map((x) => (x.name === 'model.language_model.layers.0.mlp.down_proj.weight' ? { ...x, shape: [x.shape[1], x.shape[0]] } : x)),
    );
    await expect(loadModel(d)).rejects.toThrow(/layers\.0\.mlp\.down_proj\.weight: \[160,64\] in the checkpoint, expected \[64,160\]/);
  });

  it('ties lm_head to the embedding when it is absent', async () => {
    const d = await variant('tied', (t) => t.filter((x) => x.name !== 'lm_head.weight'));
    const m = await loadModel(d);
    expect(m.weights.text.lmHead).toBe(m.weights.text.embedTokens);
    m.dispose();
  });

  it('ties when the config says so even if lm_head.weight is present', async () => {
    const d = await variant('tiedcfg', (t) => t, (c) => (c.tie_word_embeddings = true));
    const m = await loadModel(d);
    expect(m.weights.text.lmHead).toBe(m.weights.text.embedTokens);
    m.dispose();
  });
});

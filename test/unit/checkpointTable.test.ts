// The one Qwen3-VL tensor table (models/qwen3vl/checkpoint.ts): it names exactly the tensors of the checkpoints
// transformers saved (the vendored fixtures), config.json synthesis round-trips through parseConfig, and the
// quantization plan follows the loader's policy (formatFor) tensor by tensor.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { SHAPES, checkpointTensors, configJson, rowLength, type ModelShape } from '../../src/models/qwen3vl/checkpoint.js';
import { loadConfig, parseConfig } from '../../src/models/qwen3vl/config.js';
import { quantPlan } from '../../src/tools/quantize.js';
import { fixturesRoot } from '../helpers/fixtures.js';

const fixtureDirs = existsSync(fixturesRoot)
  ? readdirSync(fixturesRoot).map((d) => path.join(fixturesRoot, d)).filter((d) => existsSync(path.join(d, 'model.safetensors')) && existsSync(path.join(d, 'config.json')))
  : [];

describe('tensor table', () => {
  it.skipIf(fixtureDirs.length === 0)(`names and shapes every tensor of the transformers-saved fixtures${fixtureDirs.length ? '' : ' (skipped: no fixtures at ${fixturesRoot})'}`, async () => {
    for (const dir of fixtureDirs) {
      const cfg = await loadConfig(dir);
      const f = await SafetensorsFile.open(path.join(dir, 'model.safetensors'));
      const tied = cfg.tieWordEmbeddings || !f.tensors.has('lm_head.weight');
      const have = new Map([...f.tensors].map(([n, i]) => [n, [...i.shape]]));
      await f.close();
      const want = new Map(checkpointTensors(cfg, tied).map((t) => [t.name, [...t.shape]]));
      expect([path.basename(dir), [...want.keys()].sort()]).toEqual([path.basename(dir), [...have.keys()].sort()]);
      for (const [n, s] of want) expect([n, s]).toEqual([n, have.get(n)]);
    }
  });

  it('config.json synthesis parses back to the shape it was made from', () => {
    for (const [name, s] of Object.entries(SHAPES) as [string, ModelShape][]) {
      const c = parseConfig(configJson(s, { layers: 4 }), name);
      expect([c.text.hiddenSize, c.text.numHiddenLayers, c.text.numAttentionHeads, c.text.numKeyValueHeads, c.text.headDim, c.text.intermediateSize]).toEqual([s.H, 4, s.nh, s.nkv, s.hd, s.I]);
      expect([c.tieWordEmbeddings, c.text.mropeSection, c.vision.depth, c.vision.hiddenSize, c.vision.outHiddenSize]).toEqual([s.tie, [24, 20, 20], s.vision.depth, s.vision.Hv, s.H]);
      expect([c.imageTokenId, c.videoTokenId, c.visionStartTokenId, c.visionEndTokenId, c.text.eosTokenId]).toEqual([151655, 151656, 151652, 151653, 151645]);
      expect(c.text.moe?.numExperts ?? 0).toBe(s.moe?.experts ?? 0);
    }
  });
});

describe('quantization plan', () => {
  const plan = (shape: ModelShape) => new Map(checkpointTensors(parseConfig(configJson(shape, { layers: 3 }))).map((t) => [t.name, { t, p: quantPlan(t, 'q4_0') }]));

  it('keeps norms, biases, the position table, the router, the vision qkv and rows that are not whole blocks', () => {
    const moe = plan(SHAPES['30B-A3B']);
    const kept = (n: string) => expect([n, moe.get(n)!.p]).toEqual([n, null]);
    kept('model.language_model.layers.0.input_layernorm.weight');
    kept('model.language_model.layers.0.mlp.gate.weight');
    kept('model.visual.pos_embed.weight');
    kept('model.visual.blocks.0.attn.qkv.weight');
    kept('model.visual.blocks.0.attn.proj.bias');
    kept('model.visual.blocks.0.mlp.linear_fc2.weight'); // K = 4304, not a multiple of 32
    // Experts: stored transposed to output-major rows along `in`.
    expect(moe.get('model.language_model.layers.0.mlp.experts.gate_up_proj')!.p).toEqual({ dtype: 'q4_0', shape: [128, 1536, 2048], k: 2048, layout: 'output-major' });
    expect(moe.get('model.language_model.layers.0.mlp.experts.down_proj')!.p).toEqual({ dtype: 'q4_0', shape: [128, 2048, 768], k: 768, layout: 'output-major' });
    // The patch kernel's rows are the flattened C·T·P·P = 1536.
    expect(moe.get('model.visual.patch_embed.proj.weight')!.p).toMatchObject({ k: 1536, layout: 'hub' });
    expect(moe.get('model.language_model.embed_tokens.weight')!.p).toMatchObject({ k: 2048, shape: [151936, 2048] });
    expect(moe.get('lm_head.weight')!.p).toMatchObject({ k: 2048 });
  });

  it('quantizes exactly the linear, embedding and head matrices whose rows are whole blocks', () => {
    for (const [, { t, p }] of plan(SHAPES['2B'])) {
      const want = t.layout !== 'split' && ['linear', 'embedding', 'lmHead'].includes(t.role) && rowLength(t) % 32 === 0;
      expect([t.name, p !== null]).toEqual([t.name, want]);
    }
  });
});

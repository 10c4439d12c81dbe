// config.json in both layouts, dense and MoE, and the errors for unsupported or inconsistent fields.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig, isMoeLayer, ConfigError } from '../../src/models/qwen3vl/config.js';
import { parseGenerationConfig } from '../../src/config/generation.js';
import { fixturesRoot } from '../helpers/fixtures.js';

const read = (c: string, f = 'config.json') => JSON.parse(readFileSync(path.join(fixturesRoot, c, f), 'utf8'));
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON edited by the cases
type Json = Record<string, any>;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

describe('config', () => {
  it('reads the legacy and the transformers 5 layouts to the same object', () => {
    for (const c of ['tiny-dense', 'tiny-dense-untied-text', 'tiny-moe']) {
      expect(parseConfig(read(c, 'config.saved-by-transformers.json'))).toEqual(parseConfig(read(c)));
    }
  });

  it('types the dense fixture', () => {
    const c = parseConfig(read('tiny-dense'));
    expect(c.modelType).toBe('qwen3_vl');
    expect(c.text).toMatchObject({ hiddenSize: 64, numHiddenLayers: 4, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 32, ropeTheta: 5000000, mropeSection: [6, 5, 5], moe: null });
    expect(c.vision).toMatchObject({ depth: 4, hiddenSize: 48, deepstackVisualIndexes: [0, 2], numPositionEmbeddings: 64, ropeTheta: 10000 });
    expect(c.tieWordEmbeddings).toBe(true);
    expect(parseConfig(read('tiny-dense-untied-text')).tieWordEmbeddings).toBe(false);
  });

  it('types the MoE fixture and decides MoE layers', () => {
    const c = parseConfig(read('tiny-moe'));
    expect(c.text.moe).toEqual({ numExperts: 8, numExpertsPerTok: 2, moeIntermediateSize: 48, decoderSparseStep: 1, mlpOnlyLayers: [] });
    expect(c.imageTokenId).toBe(4000);
    const raw = clone(read('tiny-moe'));
    raw.text_config.mlp_only_layers = [1];
    raw.text_config.decoder_sparse_step = 2;
    const t = parseConfig(raw).text;
    expect([0, 1, 2, 3].map((l) => isMoeLayer(t, l))).toEqual([false, false, false, true]);
  });

  it('fills spec defaults for absent fields', () => {
    const raw = clone(read('tiny-dense'));
    delete raw.text_config.rope_scaling;
    delete raw.text_config.rope_theta;
    delete raw.text_config.head_dim;
    raw.text_config.hidden_size = 128 * 4;
    raw.vision_config.out_hidden_size = 512;
    const c = parseConfig(raw);
    expect(c.text.ropeTheta).toBe(5000000);
    expect(c.text.mropeSection).toEqual([24, 20, 20]);
    expect(c.text.headDim).toBe(128);
  });

  const bad: [string, (r: Json) => void, RegExp][] = [
    ['unsupported model_type', (r) => (r.model_type = 'qwen2_5_vl'), /model_type 'qwen2_5_vl' is not supported/],
    ['mrope_section not summing to head_dim/2', (r) => (r.text_config.rope_scaling.mrope_section = [6, 5, 4]), /mrope_section \[6,5,4\] sums to 15, but head_dim\/2 is 16/],
    ['unsupported rope_type', (r) => (r.text_config.rope_scaling.rope_type = 'yarn'), /rope_type 'yarn' is not supported/],
    ['heads not a multiple of kv heads', (r) => (r.text_config.num_key_value_heads = 3), /not a multiple of num_key_value_heads 3/],
    ['out_hidden_size mismatch', (r) => (r.vision_config.out_hidden_size = 65), /out_hidden_size 65 must equal text hidden_size 64/],
    ['deepstack index beyond depth', (r) => (r.vision_config.deepstack_visual_indexes = [0, 9]), /names block 9, but depth is 4/],
    ['non-integer size', (r) => (r.text_config.hidden_size = 64.5), /text_config\.hidden_size must be an integer/],
    ['missing text_config', (r) => delete r.text_config, /text_config is required/],
    ['non-square position table', (r) => (r.vision_config.num_position_embeddings = 60), /num_position_embeddings 60 is not a square/],
  ];
  for (const [what, mutate, msg] of bad) {
    it(`rejects ${what}`, () => {
      const raw = clone(read('tiny-dense'));
      mutate(raw);
      expect(() => parseConfig(raw, 'x/config.json')).toThrow(ConfigError);
      expect(() => parseConfig(raw, 'x/config.json')).toThrow(msg);
    });
  }

  it('reads generation_config.json', () => {
    const g = parseGenerationConfig(read('tiny-dense', 'generation_config.json'));
    expect(g.eosTokenIds).toEqual([151645]);
    expect(g.bosTokenId).toBe(151643);
    expect(parseGenerationConfig({ eos_token_id: [151645, 151643], top_k: 20, top_p: 0.8, temperature: 0.7, do_sample: true })).toMatchObject({ eosTokenIds: [151645, 151643], topK: 20, topP: 0.8, temperature: 0.7, doSample: true });
    expect(() => parseGenerationConfig({ top_p: 2 })).toThrow(/top_p must be a number in \[0, 1\]/);
  });
});

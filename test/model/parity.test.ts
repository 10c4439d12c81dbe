// Golden parity: every case folder under the fixtures root, run through the engine and compared key by key with the
// reference (transformers 5.17, f32 compute from bf16 weights): positions exact, activations and logits ≤ 1e-4
// relative, greedy tokens exact, and each decode step's top-16 logits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import type { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import { argmax } from '../../src/tensor/math.js';
import { ropeIndex } from '../../src/models/qwen3vl/positions.js';
import { type Golden, fixturesRoot, goldenInputs, loadGolden, modelCases, parityBackends, relErr } from '../helpers/fixtures.js';

const TOL = 1e-4;
const cases = modelCases();

for (const backend of parityBackends) describe(`golden parity on '${backend}' (${fixturesRoot})`, () => {
  it('finds cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  for (const dir of cases) {
    describe(path.basename(dir), () => {
      let model: Qwen3VLModel;
      let g: Golden;
      const got = new Map<string, Promise<Float32Array | Int32Array>>();
      let inputs: Parameters<Qwen3VLModel['forward']>[0];

      beforeAll(async () => {
        g = await loadGolden(dir);
        model = await loadModel(dir, { backend });
        inputs = goldenInputs(g);
        const out = await model.forward({ ...inputs, trace: (name, t) => got.set(name, t.read()) });
        got.set('logits', Promise.resolve(out.logits));
      });
      afterAll(() => model?.dispose());

      it('position ids and rope delta are exact', () => {
        const cfg = model.config;
        const r = ropeIndex(g.json.input_ids, { imageTokenId: cfg.imageTokenId, videoTokenId: cfg.videoTokenId, spatialMergeSize: cfg.vision.spatialMergeSize }, inputs.imageGridThw, inputs.videoGridThw);
        const want = g.tensors.get('position_ids')!.i32();
        const s = g.json.input_ids.length;
        for (let a = 0; a < 3; a++) expect(Array.from(r.positions[a])).toEqual(Array.from(want.subarray(a * s, (a + 1) * s)));
        if (g.json.rope_deltas) expect(r.ropeDelta).toBe(g.json.rope_deltas[0]);
      });

      it('every golden activation and the logits agree to 1e-4', async () => {
        const keys = [...g.tensors.keys()].filter((k) => /^(hidden_states|visual)\./.test(k) || k === 'logits' || k === 'logits.last4');
        const report: string[] = [];
        for (const key of keys) {
          const want = g.tensors.get(key)!.f32();
          const mine = key === 'logits.last4' ? await got.get('logits') : await got.get(key);
          expect(mine, `engine produced no '${key}'`).toBeDefined();
          const a = key === 'logits.last4' ? mine!.subarray(mine!.length - want.length) : mine!;
          expect(a.length, key).toBe(want.length);
          const e = relErr(a, want);
          report.push(`${key}: ${e.toExponential(2)}`);
          expect(e, `${key} relative error`).toBeLessThanOrEqual(TOL);
        }
        console.log(`[${backend} ${path.basename(dir)}] ${report.join(', ')}`);
      });

      it('prefill in 7-token chunks (splitting image runs) gives the same last logits', async () => {
        const want = (await got.get('logits'))!;
        const progress: number[] = [];
        const out = await model.forward({ ...inputs, logits: 3, chunkSize: 7, onProgress: (d) => progress.push(d) });
        expect(relErr(out.logits, want.subarray(want.length - out.logits.length))).toBeLessThanOrEqual(TOL);
        expect(progress.at(-1)).toBe(g.json.input_ids.length);
        expect(progress.length).toBe(Math.ceil(g.json.input_ids.length / 7));
      });

      it('greedy decoding matches tokens and per-step top-16 logits', async () => {
        const want = g.json.greedy_new_tokens!;
        const ids = g.tensors.get('decode.top16.ids')!.i32();
        const vals = g.tensors.get('decode.top16.values')!.f32();
        const cache = model.createCache(g.json.input_ids.length + want.length + 8);
        let logits = (await model.forward({ ...inputs, cache, logits: 'last' })).logits;
        const tokens: number[] = [];
        let worst = 0;
        for (let step = 0; step < want.length; step++) {
          const w = vals.subarray(step * 16, step * 16 + 16);
          const mine = Array.from(ids.subarray(step * 16, step * 16 + 16), (id) => logits[id]);
          worst = Math.max(worst, relErr(mine, w));
          tokens.push(argmax(logits));
          if (step + 1 < want.length) logits = await model.decode(cache, [tokens[step]]);
        }
        cache.dispose();
        console.log(`[${backend} ${path.basename(dir)}] decode top-16 worst relative error ${worst.toExponential(2)}`);
        expect(tokens).toEqual(want);
        expect(worst).toBeLessThanOrEqual(TOL);
      });
    });
  }
});

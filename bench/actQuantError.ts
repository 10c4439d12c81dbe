// The error of the CPU backend's 8-bit activation path, measured on the golden fixtures: each case loaded at q8_0 and
// q4_0 with activation quantization off (f32 activations, the exact mode) and on (the default: q8 activations, int8
// dot products), compared with the reference (f32 compute from the bf16 weights) on the vision outputs, the last
// hidden state and the logits, plus the share of positions whose argmax equals the reference's. `--dtype bf16` does
// the same for precision 'fast' (bf16-rounded activations and AMX-BF16 or AVX512-BF16 products in the GEMMs) against 'exact'.
// Run: npx vite-node bench/actQuantError.ts [-- --dtype q8_0,q4_0,bf16]

import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import { fixturesRoot, goldenInputs, loadGolden, modelCases, relErr } from '../test/helpers/fixtures.js';
import { benchArgs } from './common.js';

const { list } = benchArgs('npx vite-node bench/actQuantError.ts -- [options]: the 8-bit activation path\'s error on the golden fixtures', {
  dtype: { value: 'LIST', default: 'q8_0,q4_0', help: "weight formats: q8_0, q4_0 (activation quantization) and bf16 (precision 'fast')" },
});
const dtypes = list('dtype', ['q8_0', 'q4_0', 'bf16']);

/** Rows of `a` and `b` ([rows, vocab]) whose argmax agree. */
function top1(a: Float32Array, b: Float32Array, vocab: number): [number, number] {
  let same = 0;
  const rows = b.length / vocab;
  const am = (x: Float32Array, r: number) => {
    let best = 0;
    for (let j = 1; j < vocab; j++) if (x[r * vocab + j] > x[r * vocab + best]) best = j;
    return best;
  };
  for (let r = 0; r < rows; r++) same += am(a, r) === am(b, r) ? 1 : 0;
  return [same, rows];
}

console.log(`fixtures: ${fixturesRoot}`);
console.log("| case | dtype | tensor | f32 activations (exact) | q8 activations (default) for q8_0/q4_0; precision 'fast' for bf16 |\n|---|---|---|---|---|");
for (const dir of modelCases()) {
  const g = await loadGolden(dir);
  const keys = [...g.tensors.keys()].filter((k) => /^visual\.(pooler_output|deepstack_features|last_hidden_state)/.test(k) || /^logits/.test(k));
  const last = [...g.tensors.keys()].filter((k) => k.startsWith('hidden_states.')).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1])).pop()!;
  keys.push(last);
  for (const dtype of dtypes) {
    const res: Map<string, string[]> = new Map();
    for (const lowered of [false, true]) {
      const backend = dtype === 'bf16' ? new CpuBackend({ precision: lowered ? 'fast' : 'exact' }) : new CpuBackend({ actQuant: lowered });
      if (dtype === 'bf16' && lowered && !backend.capabilities().info.bf16Products) console.warn("this CPU has neither AMX-BF16 nor AVX512-BF16: precision 'fast' computes as exact here");
      const model = await loadModel(dir, { backend, dtype });
      const got = new Map<string, Promise<Float32Array | Int32Array>>();
      const out = await model.forward({ ...goldenInputs(g), trace: (name, t) => got.set(name, t.read()) });
      for (const key of keys) {
        const want = g.tensors.get(key)!.f32();
        const mine = (key.startsWith('logits') ? out.logits : await got.get(key)) as Float32Array;
        const a = mine.subarray(mine.length - want.length);
        let cell = relErr(a, want).toExponential(2);
        if (key.startsWith('logits')) {
          const vocab = model.config.text.vocabSize;
          const [s, n] = top1(a, want, vocab);
          cell += ` (top-1 ${s}/${n})`;
        }
        res.set(key, [...(res.get(key) ?? []), cell]);
      }
      model.dispose();
      backend.destroy();
    }
    for (const [key, [exact, q8]] of res) console.log(`| ${path.basename(dir)} | ${dtype} | ${key} | ${exact} | ${q8} |`);
  }
}

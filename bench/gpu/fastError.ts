// The error of WebGPU precision 'fast' on the golden fixtures (transformers, f32 compute): for every case, the
// prefill logits' relative error (max|Δ| / max|ref|, as the parity suite measures), the worst per-step error of
// the decode top-16 logits, and greedy agreement with the golden tokens (teacher-forced: each step is fed the
// golden token, so one early difference does not hide the rest). The same for 'exact' beside it.
// Usage: node fast-error.mjs [--json out.json] [--fast-choice choice.json]   (QWEN3VL_FIXTURES: the fixtures root)
// --fast-choice: the kernels bench.mjs --kernels-only picked (matmul variant and tiling, attention variant).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createWebGpuBackend } from '../../src/backend/webgpu/index.js';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { argmax } from '../../src/tensor/math.js';
import { goldenInputs, loadGolden, modelCases, relErr } from '../../test/helpers/fixtures.js';

const args = process.argv.slice(2);
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : '';
const choiceFile = args.includes('--fast-choice') ? args[args.indexOf('--fast-choice') + 1] : '';
const choice = choiceFile && existsSync(choiceFile) ? (JSON.parse(readFileSync(choiceFile, 'utf8')) as { matmul: 'direct' | 'staged'; tile: [number, number, number, number]; attn: 'direct' | 'staged' }) : null;
const rows: Record<string, string | number>[] = [];
for (const dir of modelCases()) {
  const g = await loadGolden(dir);
  for (const precision of ['exact', 'fast'] as const) {
    const backend = await createWebGpuBackend({ precision });
    if (choice) Object.assign(backend.rt, { fastMatmul: choice.matmul, fastTile: choice.tile, fastAttn: choice.attn });
    const model = await loadModel(dir, { backend });
    const inputs = goldenInputs(g);
    const out = await model.forward(inputs);
    const key = g.tensors.has('logits') ? 'logits' : 'logits.last4';
    const want = g.tensors.get(key)!.f32();
    const logitsErr = relErr(out.logits.subarray(out.logits.length - want.length), want);
    const tokens = g.json.greedy_new_tokens ?? [];
    const ids = g.tensors.get('decode.top16.ids')?.i32();
    const vals = g.tensors.get('decode.top16.values')?.f32();
    const cache = model.createCache(g.json.input_ids.length + tokens.length + 8);
    let logits = (await model.forward({ ...inputs, cache, logits: 'last' })).logits;
    let agree = 0;
    let worst = 0;
    for (let step = 0; step < tokens.length; step++) {
      if (argmax(logits) === tokens[step]) agree++;
      if (ids && vals) {
        const mine = Array.from(ids.subarray(step * 16, step * 16 + 16), (id) => logits[id]);
        worst = Math.max(worst, relErr(mine, vals.subarray(step * 16, step * 16 + 16)));
      }
      if (step + 1 < tokens.length) logits = await model.decode(cache, [tokens[step]]);
    }
    cache.dispose();
    model.dispose(); // destroys the backend too
    const row = { case: path.basename(dir), precision, active: backend.rt.info.precision as string, logitsRelErr: +logitsErr.toExponential(2), decodeTop16RelErr: +worst.toExponential(2), greedyAgree: `${agree}/${tokens.length}` };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
console.log('\n| case | precision | logits rel. error | decode top-16 rel. error (worst step) | greedy tokens agreeing (teacher-forced) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.active} | ${r.logitsRelErr} | ${r.decodeTop16RelErr} | ${r.greedyAgree} |`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 1));
process.exit(0);

// Decode-step timing of a real checkpoint (for profiling the per-token time outside weight streaming):
// npx vite-node bench/decodeProf.ts -- DIR [--dtype q4_0] [--prompt 512] [--gen 32] [--pause-ms 0]
// Prints per-token ms (best and median); --pause-ms waits before decoding so a profiler can attach.
import { loadModel } from '../src/models/qwen3vl/load.js';
import { argmax } from '../src/tensor/math.js';
import { promptIds } from '../src/tools/speed.js';
import { BENCH_FORMATS, benchArgs } from './common.js';

const { num, choice, given, positional } = benchArgs(
  'npx vite-node bench/decodeProf.ts -- DIR [options]: per-token decode ms of the checkpoint in DIR',
  {
    dtype: { value: 'DTYPE', help: `weight format: ${BENCH_FORMATS.join(', ')} (default: the checkpoint's)` },
    prompt: { value: 'N', default: '512', help: 'prompt tokens before decoding' },
    gen: { value: 'N', default: '32', help: 'decoded tokens' },
    'pause-ms': { value: 'MS', default: '0', help: 'wait before decoding (for a profiler to attach)' },
  },
  'DIR',
);
const dir = positional!;
const dtype = given('dtype') ? choice('dtype', BENCH_FORMATS) : '';
const prompt = num('prompt');
const gen = num('gen');
const model = await loadModel(dir, { backend: 'cpu', ...(dtype ? { dtype } : {}) });
const cache = model.createCache(prompt + gen + 1);
let logits = (await model.forward({ inputIds: promptIds(prompt, model.config.text.vocabSize), cache, logits: 'last' })).logits;
const pause = num('pause-ms');
if (pause) {
  console.log(`pid ${process.pid}: decoding in ${pause} ms`);
  await new Promise((r) => setTimeout(r, pause));
}
const ts: number[] = [];
for (let i = 0; i < gen; i++) {
  const t0 = performance.now();
  logits = await model.decode(cache, [argmax(logits)]);
  ts.push(performance.now() - t0);
}
ts.sort((a, b) => a - b);
console.log(`decode ms/token: best ${ts[0].toFixed(1)} median ${ts[ts.length >> 1].toFixed(1)} (${gen} tokens after ${prompt})`);
model.dispose();

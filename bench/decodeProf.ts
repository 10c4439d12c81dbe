// Decode-step timing of a real checkpoint (for profiling the per-token time outside weight streaming):
// npx vite-node bench/decodeProf.ts -- DIR [--dtype q4_0] [--prompt 512] [--gen 32] [--pause-ms 0]
// Prints per-token ms (best and median); --pause-ms waits before decoding so a profiler can attach.
import { loadModel } from '../src/models/qwen3vl/load.js';
import { argmax } from '../src/tensor/math.js';
import { promptIds } from '../src/tools/speed.js';
import type { WeightFormat } from '../src/weights/convert.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const dir = process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'))!;
const dtype = arg('dtype', '') as WeightFormat | '';
const prompt = Number(arg('prompt', '512'));
const gen = Number(arg('gen', '32'));
const model = await loadModel(dir, { backend: 'cpu', ...(dtype ? { dtype } : {}) });
const cache = model.createCache(prompt + gen + 1);
let logits = (await model.forward({ inputIds: promptIds(prompt, model.config.text.vocabSize), cache, logits: 'last' })).logits;
const pause = Number(arg('pause-ms', '0'));
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

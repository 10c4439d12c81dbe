// Decode-step timing of a real checkpoint (for profiling the per-token time outside weight streaming):
// npx vite-node bench/decodeProf.ts -- DIR [--dtype q4_0] [--kv f16|q8_0|f32] [--precision exact|fast|both] [--prompt 512] [--gen 32]
// [--pause-ms 0]
// Prints per-token ms (best and median). --precision both loads the model twice (exact and 'fast') and alternates
// blocks of 8 tokens between them, so the two are compared in the same minutes of a machine whose bandwidth moves.
// --pause-ms waits before decoding so a profiler can attach.
import { CpuBackend } from '../src/backend/cpu/index.js';
import { KV_DTYPES } from '../src/generate/contextPlan.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import { argmax } from '../src/tensor/math.js';
import { promptIds, servingSession } from '../src/tools/speed.js';
import { BENCH_FORMATS, benchArgs } from './common.js';

const { num, choice, given, positional } = benchArgs(
  'npx vite-node bench/decodeProf.ts -- DIR [options]: per-token decode ms of the checkpoint in DIR',
  {
    dtype: { value: 'DTYPE', help: `weight format: ${BENCH_FORMATS.join(', ')} (default: the checkpoint's)` },
    kv: { value: 'FORMAT', default: 'f16', help: "the paged KV cache's format: f16 (the CPU default), q8_0 or f32" },
    precision: { value: 'P', default: 'exact', help: "exact, fast (bf16-rounded activations against bf16 weights) or both, alternating" },
    prompt: { value: 'N', default: '512', help: 'prompt tokens before decoding' },
    gen: { value: 'N', default: '32', help: 'decoded tokens (per precision)' },
    'pause-ms': { value: 'MS', default: '0', help: 'wait before decoding (for a profiler to attach)' },
  },
  'DIR',
);
const dir = positional!;
const dtype = given('dtype') ? choice('dtype', BENCH_FORMATS) : '';
const precision = choice('precision', ['exact', 'fast', 'both']);
const kv = choice('kv', KV_DTYPES);
const [prompt, gen] = [num('prompt'), num('gen')];

async function session(p: 'exact' | 'fast') {
  const backend = new CpuBackend({ precision: p });
  const model = await loadModel(dir, { backend, ...(dtype ? { dtype } : {}) });
  const s = servingSession(model, prompt + gen + 1, kv); // the serving path: paged KV
  let logits = await s.prefill(Int32Array.from(promptIds(prompt, model.config.text.vocabSize)));
  const ts: number[] = [];
  /** Decode n more tokens, timing each. */
  const step = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      logits = await s.decode(argmax(logits), prompt + ts.length);
      ts.push(performance.now() - t0);
    }
  };
  return { p, ts, step, dispose: () => (s.dispose(), model.dispose()) };
}

const sessions = await Promise.all((precision === 'both' ? (['exact', 'fast'] as const) : [precision]).map(session));
const pause = num('pause-ms');
if (pause) {
  console.log(`pid ${process.pid}: decoding in ${pause} ms`);
  await new Promise((r) => setTimeout(r, pause));
}
const block = sessions.length > 1 ? 8 : gen;
for (let done = 0; done < gen; done += block) for (const s of sessions) await s.step(Math.min(block, gen - done));
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const s of sessions) {
  const sorted = [...s.ts].sort((a, b) => a - b);
  console.log(`${s.p} decode ms/token: best ${sorted[0].toFixed(1)} median ${median(s.ts).toFixed(1)} (${gen} tokens after ${prompt})`);
}
if (sessions.length > 1) {
  // Per block of 8: exact's median over fast's, the two blocks run back to back.
  const r = [];
  for (let i = 0; i < gen; i += block) r.push(median(sessions[0].ts.slice(i, i + block)) / median(sessions[1].ts.slice(i, i + block)));
  console.log(`fast vs exact, per block of ${block}: ${r.map((x) => `${x.toFixed(2)}×`).join(' ')}`);
}
for (const s of sessions) s.dispose();

// A hash of the logits of a prefill and 8 greedy decode steps on the serving path, to check that two builds of the
// addon (QWEN3VL_CPU_ADDON) or two ISA paths (QWEN3VL_CPU_ISA) compute the same bits; prints the hash and the tokens.
// npx vite-node bench/logitsHash.ts -- DIR [--dtype q4_0] [--kv f16|q8_0|f32] [--prompt 300]
import { createHash } from 'node:crypto';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { KV_DTYPES } from '../src/generate/contextPlan.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import { argmax } from '../src/tensor/math.js';
import { promptIds, servingSession } from '../src/tools/speed.js';
import { BENCH_FORMATS, benchArgs } from './common.js';

const STEPS = 8;
const { num, choice, given, positional } = benchArgs(
  'npx vite-node bench/logitsHash.ts -- DIR [options]: a hash of the logits of a prefill and 8 greedy decode steps',
  {
    dtype: { value: 'DTYPE', help: `weight format: ${BENCH_FORMATS.join(', ')} (default: the checkpoint's)` },
    kv: { value: 'FORMAT', default: 'f16', help: "the paged KV cache's format: f16 (the CPU default), q8_0 or f32" },
    prompt: { value: 'N', default: '300', help: 'prompt tokens (prefilled in the scheduler\'s chunks)' },
  },
  'DIR',
);
const dtype = given('dtype') ? choice('dtype', BENCH_FORMATS) : '';
const kv = choice('kv', KV_DTYPES);
const prompt = num('prompt');
const backend = new CpuBackend({});
const model = await loadModel(positional!, { backend, ...(dtype ? { dtype } : {}) });
const s = servingSession(model, prompt + STEPS + 1, kv);
const h = createHash('sha256');
const tokens: number[] = [];
let logits = await s.prefill(Int32Array.from(promptIds(prompt, model.config.text.vocabSize)));
for (let i = 0; i <= STEPS; i++) {
  h.update(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
  if (i === STEPS) break;
  tokens.push(argmax(logits));
  logits = await s.decode(tokens[i], prompt + i);
}
console.log(`${dtype || 'checkpoint format'}, ${kv} KV, isa ${backend.capabilities().info.isa}: logits ${h.digest('hex').slice(0, 16)}, tokens ${tokens.join(' ')}`);
s.dispose();
model.dispose();
backend.destroy();

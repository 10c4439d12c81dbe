// Decode paired with native llama.cpp seconds apart, for machines whose read bandwidth moves from minute to minute:
// npx vite-node bench/decodePair.ts -- DIR --gguf FILE [--dtype bf16] [--precision fast] [--depth 512] [--gen 32] [--rounds 6]
// Each round runs llama-bench (-n gen -d depth, one run) and then ours in this process (gen tokens after a depth-token
// prompt, model loaded once); prints both rates and their ratio per round, then the medians.
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import { argmax } from '../src/tensor/math.js';
import { promptIds, servingSession } from '../src/tools/speed.js';
import { ensureNativeLlama, runNativeDecode } from './llamaNative.js';
import { BENCH_FORMATS, benchArgs, benchFail } from './common.js';

const { opt, num, choice, given, flag, positional } = benchArgs(
  'npx vite-node bench/decodePair.ts -- DIR --gguf FILE [options]: decode tok/s of ours and native llama.cpp, alternating',
  {
    gguf: { value: 'FILE', help: 'the same weights as a llama.cpp GGUF (bench/run.ts writes them into .cache/bench/)' },
    dtype: { value: 'DTYPE', help: `our weight format: ${BENCH_FORMATS.join(', ')} (default: the checkpoint's)` },
    precision: { value: 'P', default: 'exact', help: "ours: exact or fast (bf16-rounded activations against bf16 weights)" },
    isa: { value: 'ISA', default: 'auto', help: 'auto, or avx2: our AVX2 kernels and llama.cpp built AVX2-only' },
    depth: { value: 'N', default: '512', help: 'context depth of the decode' },
    gen: { value: 'N', default: '32', help: 'tokens decoded per round and engine' },
    rounds: { value: 'N', default: '6', help: 'rounds (llama.cpp, then ours)' },
    threads: { value: 'N', default: '0', help: 'threads for both (0: all)' },
    fa: { help: 'llama.cpp with flash attention on (default off: its faster decode setting in the bench tables)' },
    'llama-dir': { value: 'DIR', default: '.cache/llama.cpp', help: "native llama.cpp's source and builds" },
  },
  'DIR',
);
const gguf = opt('gguf') ?? benchFail('--gguf FILE is required (the same weights as ours, e.g. .cache/bench/2B-L28-bf16-qwen3vl.gguf)');
const isa = choice('isa', ['auto', 'avx2']);
const threads = num('threads') || (await import('node:os')).availableParallelism();
const [depth, gen] = [num('depth'), num('gen')];
const native = ensureNativeLlama(path.resolve(opt('llama-dir')!), 2, isa === 'avx2' ? 'avx2' : 'native');
const backend = new CpuBackend({ threads, isa: isa === 'avx2' ? 'avx2' : undefined, precision: choice('precision', ['exact', 'fast']) });
const model = await loadModel(positional!, { backend, ...(given('dtype') ? { dtype: choice('dtype', BENCH_FORMATS) } : {}) });
await backend.sync();
const session = servingSession(model, depth + gen + 1); // the serving path: paged f16 KV, as llama.cpp's f16 cache
const prompt = Int32Array.from(promptIds(depth, model.config.text.vocabSize));
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const ours: number[] = [], peer: number[] = [], ratio: number[] = [];
console.log(`${JSON.stringify(backend.capabilities().info)}\nllama.cpp ${native.version}, ${native.build}; depth ${depth}, ${gen} tokens a round\n`);
console.log('| round | llama.cpp tok/s | ours tok/s | ours / llama.cpp |\n|---|---|---|---|');
for (let r = 0; r < num('rounds'); r++) {
  const p = runNativeDecode(native, gguf, { depth, gen, threads, fa: flag('fa') });
  let logits = await session.prefill(prompt);
  const t0 = performance.now();
  for (let i = 0; i < gen; i++) logits = await session.decode(argmax(logits), depth + i);
  const o = (gen / (performance.now() - t0)) * 1000;
  ours.push(o);
  peer.push(p);
  ratio.push(o / p);
  console.log(`| ${r + 1} | ${p.toFixed(2)} | ${o.toFixed(2)} | ${(o / p).toFixed(2)}× |`);
}
console.log(`\nmedians: llama.cpp ${med(peer).toFixed(2)} tok/s, ours ${med(ours).toFixed(2)} tok/s, paired ratio ${med(ratio).toFixed(2)}× (lowest ${Math.min(...ratio).toFixed(2)}×, highest ${Math.max(...ratio).toFixed(2)}×)`);
session.dispose();
model.dispose();
backend.destroy();

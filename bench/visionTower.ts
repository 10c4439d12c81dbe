// The whole vision tower of a checkpoint (patch embedding to the mergers) on one image, timed in wall clock and in
// process CPU time (with --threads 1, the figure to compare kernels by on a shared box; A/B an older addon through
// QWEN3VL_CPU_ADDON). Run: npx vite-node bench/visionTower.ts -- DIR [--dtype q8_0] [--threads 1] [--side 448] [--reps 2]
// [--precision fast] (bf16 weights: AMX-BF16 GEMMs on bf16-rounded activations).
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import type { WeightFormat } from '../src/weights/convert.js';
import { benchArgs } from './common.js';

const { argv, opt } = benchArgs();
const dir = argv.find((a, i) => !a.startsWith('--') && !(argv[i - 1] ?? '').startsWith('--'));
if (!dir) throw new Error('usage: bench/visionTower.ts DIR [--dtype q8_0] [--threads 1] [--side 448] [--reps 2]');
const backend = new CpuBackend({ threads: Number(opt('threads', '1')), precision: opt('precision', 'exact') as 'exact' | 'fast' });
const dtype = opt('dtype', 'q8_0') as WeightFormat;
const model = await loadModel(dir, { backend, dtype });
await backend.sync();
const side = Number(opt('side', '448'));
const gh = side / 16;
const px = new Float32Array(gh * gh * 1536);
for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37);
await model.encodeImages(px, [[1, gh, gh]]); // warm-up: first-touch of weights and buffers
for (let r = 0; r < Number(opt('reps', '2')); r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await model.encodeImages(px, [[1, gh, gh]]);
  const c = process.cpuUsage(c0);
  console.log(`${dtype}${backend.capabilities().info.precision === 'fast' ? ' fast' : ''} ${side}² (${gh * gh} patches), ${backend.capabilities().info.isa} × ${backend.capabilities().info.threads}: wall ${(performance.now() - t0).toFixed(0)} ms, CPU ${((c.user + c.system) / 1000).toFixed(0)} ms`);
}
model.dispose();

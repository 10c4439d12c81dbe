// The whole vision tower of a checkpoint (patch embedding to the mergers) on one image, timed in wall clock and in
// process CPU time (with --threads 1, the figure to compare kernels by on a shared box; A/B an older addon through
// QWEN3VL_CPU_ADDON). Run: npx vite-node bench/visionTower.ts -- DIR [--dtype q8_0] [--threads 1] [--side 448] [--reps 2]
// [--precision fast] (bf16 weights: AMX-BF16 or AVX512-BF16 GEMMs on bf16-rounded activations).
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import { BENCH_FORMATS, benchArgs, benchFail } from './common.js';

const { num, choice, positional } = benchArgs(
  'npx vite-node bench/visionTower.ts -- DIR [options]: the vision tower of the checkpoint in DIR on one image, wall and CPU time',
  {
    dtype: { value: 'DTYPE', default: 'q8_0', help: `weight format: ${BENCH_FORMATS.join(', ')}` },
    threads: { value: 'N', default: '1', help: 'CPU threads' },
    side: { value: 'PX', default: '448', help: "the image's side (a multiple of 32)" },
    reps: { value: 'N', default: '2', help: 'timed encodes after one warm-up' },
    precision: { value: 'P', default: 'exact', help: "exact, or fast (bf16 weights: AMX-BF16 or AVX512-BF16 GEMMs on bf16-rounded activations)" },
  },
  'DIR',
);
const dir = positional!;
const backend = new CpuBackend({ threads: num('threads'), precision: choice('precision', ['exact', 'fast']) });
const dtype = choice('dtype', BENCH_FORMATS);
const model = await loadModel(dir, { backend, dtype });
await backend.sync();
const side = num('side');
if (side % 32) benchFail(`--side ${side}: expected a multiple of 32 (patch 16 × merge 2)`);
const gh = side / 16;
const px = new Float32Array(gh * gh * 1536);
for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37);
await model.encodeImages(px, [[1, gh, gh]]); // warm-up: first-touch of weights and buffers
for (let r = 0; r < num('reps'); r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await model.encodeImages(px, [[1, gh, gh]]);
  const c = process.cpuUsage(c0);
  console.log(`${dtype}${backend.capabilities().info.precision === 'fast' ? ' fast' : ''} ${side}² (${gh * gh} patches), ${backend.capabilities().info.isa} × ${backend.capabilities().info.threads}: wall ${(performance.now() - t0).toFixed(0)} ms, CPU ${((c.user + c.system) / 1000).toFixed(0)} ms`);
}
model.dispose();

// The CPU benchmark: `npm run bench -- --shape 2B --dtype q8_0 [--vs-llama] [--json]`. Each row (engine × shape ×
// dtype) runs in its own child process (so peak RSS is that row's), on a random-weight checkpoint of the real shape:
// prefill tok/s (512-token prompt), decode tok/s (128 tokens), vision tower ms (448² and 1024²), load time, read
// bandwidth and the share of it decode moves. --vs-llama adds llama.cpp on the same weights and our/llama.cpp ratios.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import { measureSpeed, promptIds } from '../src/tools/speed.js';
import { genCheckpoint, SHAPES, VOCAB, type ModelShape, type ShapeName } from '../src/tools/genCheckpoint.js';
import { ensureGguf, type WeightType } from './gguf.js';
import { runLlama } from './llama.js';

interface Row {
  engine: 'ours' | 'llama.cpp';
  shape: string;
  dtype: string;
  layers: number;
  prefillTokS: number;
  decodeTokS: number;
  vision448Ms?: number;
  vision1024Ms?: number;
  peakRssGiB: number;
  loadS: number;
  readBwGBs?: number;
  decodeGBs?: number;
  decodeBwFrac?: number;
  isa?: string;
  threads: number;
}

const argv = process.argv.slice(2).filter((a) => a !== '--');
const opt = (name: string, def?: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const flag = (name: string) => argv.includes(`--${name}`);

const CACHE = path.resolve(opt('cache', '.cache/bench')!);
const PROMPT = Number(opt('prompt', '512'));
const GEN = Number(opt('gen', '128'));
const THREADS = Number(opt('threads', '0')) || (await import('node:os')).availableParallelism();
// Best of REPS timed runs of prefill and decode: this machine is shared, so the best run is the least disturbed.
const REPS = Number(opt('reps', '2'));

/** Bytes of weights one decode step reads: every text matrix once, plus the output projection. */
function decodeBytes(s: ModelShape, layers: number, dtype: string): number {
  const bpw = dtype === 'q4_0' ? 18 / 32 : dtype === 'q8_0' ? 34 / 32 : dtype === 'f32' ? 4 : 2;
  const attn = s.H * s.hd * (2 * s.nh + 2 * s.nkv);
  const mlp = s.moe ? 3 * s.H * s.moe.inter * s.moe.topK + s.moe.experts * s.H * (2 / bpw) /* router stays bf16 */ : 3 * s.H * s.I;
  return (layers * (attn + mlp) + VOCAB * s.H) * bpw;
}

async function checkpoint(shape: ShapeName, layers: number): Promise<string> {
  if (opt('ckpt')) return path.resolve(opt('ckpt')!);
  const dir = path.join(CACHE, `${shape}-L${layers}`);
  if (!existsSync(path.join(dir, 'config.json'))) {
    mkdirSync(dir, { recursive: true });
    console.error(`generating ${shape} (${layers} layers) in ${dir} …`);
    await genCheckpoint({ out: dir, shape, layers });
  }
  return dir;
}

async function ours(shape: ShapeName, dtype: string, layers: number, vision: boolean): Promise<Row> {
  const dir = await checkpoint(shape, layers);
  const backend = new CpuBackend({ threads: THREADS });
  const readBwGBs = backend.measureReadBandwidth(1 << 30, 5);
  const t0 = performance.now();
  const model = await loadModel(dir, { backend, dtype: dtype as 'q4_0' });
  await backend.sync();
  const loadS = (performance.now() - t0) / 1000;
  const { prefillTokS, decodeTokS } = await measureSpeed(model, { prompt: PROMPT, gen: GEN, reps: REPS });
  const row: Row = {
    engine: 'ours', shape, dtype, layers, prefillTokS, decodeTokS, peakRssGiB: 0, loadS, readBwGBs,
    isa: String(backend.capabilities().info.isa), threads: THREADS,
  };
  const s = SHAPES[shape];
  row.decodeGBs = (decodeBytes(s, layers, dtype) * row.decodeTokS) / 1e9;
  row.decodeBwFrac = row.decodeGBs / readBwGBs;
  if (vision) {
    for (const side of (opt('vision', '448,1024')!).split(',').map(Number)) {
      const g = side / 16;
      const px = new Float32Array(g * g * 1536);
      for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37);
      const v0 = performance.now();
      await model.encodeImages(px, [[1, g, g]]);
      const ms = performance.now() - v0;
      if (side === 448) row.vision448Ms = ms;
      else row.vision1024Ms = ms;
    }
  }
  model.dispose();
  row.peakRssGiB = process.resourceUsage().maxRSS / 2 ** 20;
  return row;
}

async function llama(shape: ShapeName, dtype: string, layers: number): Promise<Row> {
  const dir = await checkpoint(shape, layers);
  const gguf = await ensureGguf(dir, path.join(CACHE, `${shape}-L${layers}-${dtype}.gguf`), dtype as WeightType, THREADS);
  const r = await runLlama(gguf, { prompt: promptIds(PROMPT, VOCAB), gen: GEN, threads: THREADS, reps: REPS });
  return {
    engine: 'llama.cpp', shape, dtype, layers, prefillTokS: r.prefillTokS, decodeTokS: r.decodeTokS, loadS: r.loadS,
    peakRssGiB: process.resourceUsage().maxRSS / 2 ** 20, threads: THREADS, isa: r.build,
  };
}

function child(args: string[]): Row {
  const r = spawnSync(process.execPath, [process.argv[1], 'bench/run.ts', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"engine"'));
  if (r.status !== 0 || !line) throw new Error(`bench child ${args.join(' ')} failed (exit ${r.status}): ${r.stdout.slice(-2000)}`);
  return JSON.parse(line) as Row;
}

const f = (x: number | undefined, d = 1) => (x === undefined ? '—' : x.toFixed(d));

if (flag('child')) {
  const shape = opt('shape') as ShapeName;
  const row = opt('engine') === 'llama.cpp'
    ? await llama(shape, opt('dtype')!, Number(opt('layers')))
    : await ours(shape, opt('dtype')!, Number(opt('layers')), !flag('no-vision'));
  console.log(JSON.stringify(row));
  process.exit(0);
}

const shapes = opt('shape', '2B')!.split(',') as ShapeName[];
const dtypes = opt('dtype', 'q8_0')!.split(',');
const rows: Row[] = [];
for (const shape of shapes) {
  if (!SHAPES[shape]) throw new Error(`unknown --shape ${shape} (known: ${Object.keys(SHAPES).join(', ')})`);
  const layers = Number(opt('layers', String(SHAPES[shape].layers)));
  for (const dtype of dtypes) {
    const base = ['--child', '--shape', shape, '--dtype', dtype, '--layers', String(layers), '--prompt', String(PROMPT), '--gen', String(GEN), '--threads', String(THREADS), '--cache', CACHE, '--reps', String(REPS)];
    if (opt('ckpt')) base.push('--ckpt', opt('ckpt')!);
    const mine = child([...base, '--engine', 'ours', ...(flag('no-vision') ? ['--no-vision'] : []), '--vision', opt('vision', '448,1024')!]);
    rows.push(mine);
    if (flag('json')) console.log(JSON.stringify(mine));
    if (flag('vs-llama')) {
      const theirs = child([...base, '--engine', 'llama.cpp']);
      rows.push(theirs);
      if (flag('json')) console.log(JSON.stringify({ ...theirs, prefillRatio: mine.prefillTokS / theirs.prefillTokS, decodeRatio: mine.decodeTokS / theirs.decodeTokS }));
    }
  }
}

console.log(`\nthreads ${THREADS}, prompt ${PROMPT} tokens, decode ${GEN} tokens, best of ${REPS} (random weights, real shapes)`);
console.log('| shape | dtype | engine | prefill tok/s | decode tok/s | vs llama.cpp (prefill / decode) | decode GB/s (% of read bw) | vision 448² ms | vision 1024² ms | peak RSS GiB | load s |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const l = rows.find((x) => x.engine === 'llama.cpp' && x.shape === r.shape && x.dtype === r.dtype);
  const ratio = r.engine === 'ours' && l ? `${(r.prefillTokS / l.prefillTokS).toFixed(2)}× / ${(r.decodeTokS / l.decodeTokS).toFixed(2)}×` : '';
  const bw = r.decodeGBs !== undefined ? `${f(r.decodeGBs)} (${f((r.decodeBwFrac ?? 0) * 100, 0)}% of ${f(r.readBwGBs)})` : '';
  console.log(`| ${r.shape}${r.layers !== SHAPES[r.shape as ShapeName].layers ? ` (L${r.layers})` : ''} | ${r.dtype} | ${r.engine} | ${f(r.prefillTokS)} | ${f(r.decodeTokS, 2)} | ${ratio} | ${bw} | ${f(r.vision448Ms, 0)} | ${f(r.vision1024Ms, 0)} | ${f(r.peakRssGiB, 2)} | ${f(r.loadS)} |`);
}

// The CPU benchmark: `npm run bench -- --shape 2B --dtype q8_0 [--vs-llama] [--json]`. Each row (engine × shape ×
// dtype) runs in its own child process (so peak RSS is that row's), on a random-weight checkpoint of the real shape:
// prefill tok/s (512-token prompt), decode tok/s (128 tokens at depth 512), vision tower ms (448², 1024², 640×480)
// with GFLOP/s as a share of the measured FP32 FMA roof, load time, read bandwidth and the share of it decode moves.
// --vs-llama adds native llama.cpp (llama-bench, llama-mtmd-cli; bench/llamaNative.ts) on the same weights, with
// node-llama-cpp as an extra column and a check that both engines compute the same function (top-1 agreement).
// Ours and native llama.cpp alternate, one timed run each per repetition (--reps), so every ratio has a paired form
// taken minutes apart at most; each engine's best is also kept.
// bf16 rows also run precision 'fast' (AMX-BF16 or AVX512-BF16 products on bf16-rounded activations) where the CPU has it: its
// prefill, decode and vision tower print as 'bf16 (fast)' beside the same llama.cpp peer (--no-fast leaves it out).
// --isa avx2 compares the AVX2 paths: ours with the AVX2 kernels (QWEN3VL_CPU_ISA=avx2) and native llama.cpp built
// AVX2-only (.cache/llama.cpp/build-avx2), whatever the CPU; node-llama-cpp still picks its own CPU variant.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { loadModel } from '../src/models/qwen3vl/load.js';
import { measureSpeed, promptIds } from '../src/tools/speed.js';
import { genCheckpoint, SHAPES, VOCAB, type ModelShape, type ShapeName } from '../src/tools/genCheckpoint.js';
import { ensureGguf, type WeightType } from './gguf.js';
import { exportMmprojGguf } from './ggufVision.js';
import { runLlama } from './llama.js';
import { ensureNativeLlama, runNativeImage, runNativeText } from './llamaNative.js';
import { BENCH_FORMATS, benchArgs, benchFail } from './common.js';

/** One image of the vision table: ours, and llama-mtmd-cli on the same weights where it ran. */
interface VisionRow {
  image: string;
  w: number;
  h: number;
  patches: number;
  gflop: number;
  ms: number;
  llamaMs?: number;
  llamaFa?: boolean;
}

interface Row {
  engine: 'ours' | 'llama.cpp' | 'node-llama-cpp';
  shape: string;
  dtype: string;
  layers: number;
  prefillTokS: number;
  decodeTokS: number;
  vision?: VisionRow[];
  peakRssGiB: number;
  loadS: number;
  /** Read bandwidth (GB/s), the higher of the measurements just before loading and just after decoding. */
  readBwGBs?: number;
  /** The lower of the two (the machine's bandwidth moves from minute to minute). */
  readBwLowGBs?: number;
  decodeGBs?: number;
  decodeBwFrac?: number;
  isa?: string;
  threads: number;
  fmaPeakGflops?: number;
  /** Teacher-forced top-1 agreement with node-llama-cpp's greedy tokens on the same GGUF (ours only). */
  agree?: { n: number; same: number };
  /** Greedy tokens after the prompt (node-llama-cpp only), for the agreement check. */
  greedy?: number[];
  fa?: string;
  note?: string;
  /** bf16 rows: precision 'fast' (bf16-rounded activations: prefill, decode and vision). */
  fast?: { prefillTokS: number; decodeTokS: number; vision?: VisionRow[] };
  /** The int8 GEMM's roof (GOP/s, q8_0 and q4_0 instruction sequences) where ours has one (quantized rows). */
  int8PeakGops?: { q8_0: number; q4_0: number };
  cpuFeatures?: string;
  /** Ours over native llama.cpp per repetition (the two engines run back to back in each): prefill, decode, vision. */
  paired?: { prefill: number[]; decode: number[]; fastPrefill: number[]; fastDecode: number[]; vision: Record<string, number[]>; fastVision: Record<string, number[]> };
}

const { opt, num, list, choice, flag } = benchArgs('npm run bench -- [options]: prefill, decode and the vision tower on random weights of a real shape, beside native llama.cpp', {
  shape: { value: 'LIST', default: '2B', help: `model shapes: ${Object.keys(SHAPES).join(', ')}` },
  dtype: { value: 'LIST', default: 'q8_0', help: `weight formats: ${BENCH_FORMATS.join(', ')}` },
  layers: { value: 'N', help: "decoder layers (default: the shape's)" },
  prompt: { value: 'N', default: '512', help: 'prompt tokens (prefill); decode runs at this depth' },
  gen: { value: 'N', default: '128', help: 'decoded tokens' },
  threads: { value: 'N', default: '0', help: 'CPU threads (0: all)' },
  reps: { value: 'N', default: '2', help: 'timed runs (the best is kept: the least disturbed on a shared machine)' },
  isa: { value: 'ISA', default: 'auto', help: 'auto, avx2 (our AVX2 kernels and llama.cpp built AVX2-only) or avx512' },
  vision: { value: 'LIST', default: '448,1024,640x480', help: 'images for the vision table (sides multiples of 32)' },
  'no-vision': { help: 'leave out the vision table' },
  'no-fast': { help: "leave out bf16 rows at precision 'fast' (AMX-BF16 or AVX512-BF16)" },
  'vs-llama': { help: 'add native llama.cpp (built once into --llama-dir) and node-llama-cpp on the same weights' },
  'no-node-llama': { help: 'with --vs-llama: leave out node-llama-cpp' },
  'llama-dir': { value: 'DIR', default: '.cache/llama.cpp', help: "native llama.cpp's source and builds" },
  ckpt: { value: 'DIR', help: 'a checkpoint to use instead of the generated random one' },
  cache: { value: 'DIR', default: '.cache/bench', help: 'where generated checkpoints and GGUFs are kept' },
  agree: { value: 'N', default: '32', help: 'greedy tokens compared between engines (top-1 agreement)' },
  json: { help: 'also print the rows as JSON' },
  child: { internal: true, help: 'one row, in a child process' },
  engine: { internal: true, value: 'ENGINE', help: 'ours, llama.cpp or node-llama-cpp' },
  'ref-tokens': { internal: true, value: 'LIST', help: "the peer's greedy tokens" },
});

const CACHE = path.resolve(opt('cache')!);
const PROMPT = num('prompt');
const GEN = num('gen');
const THREADS = num('threads') || (await import('node:os')).availableParallelism();
// Best of REPS timed runs of prefill and decode: this machine is shared, so the best run is the least disturbed.
const REPS = num('reps');
const ISA = choice('isa', ['auto', 'avx2', 'avx512']);
/** Our kernel build: --isa forces one (as QWEN3VL_CPU_ISA does); auto leaves the choice to the environment. */
const oursIsa = ISA === 'auto' ? undefined : ISA;
mkdirSync(CACHE, { recursive: true });

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

/** The images of the vision table: [name, width, height] (multiples of 32, so both engines keep the size). */
const IMAGES: [string, number, number][] = list('vision')
  .map((v) => {
    const [w, h] = v.includes('x') ? v.split('x').map(Number) : [Number(v), Number(v)];
    if (!(w > 0 && h > 0 && w % 32 === 0 && h % 32 === 0)) benchFail(`--vision ${v}: expected SIDE or WxH, sides multiples of 32 (patch 16 × merge 2)`);
    return [w === h ? `${w}²` : `${w}×${h}`, w, h];
  });

/** FLOPs of the vision tower on one image of n patches (matmuls and attention; norms and activations left out). */
function visionFlops(s: ModelShape, n: number, O: number): number {
  const { Hv, Iv, depth, deepstack } = s.vision;
  const block = 2 * n * Hv * (4 * Hv + 2 * Iv) + 4 * n * n * Hv;
  const merger = 2 * (n / 4) * 4 * Hv * (4 * Hv + O);
  return 2 * n * 1536 * Hv + depth * block + (1 + deepstack.length) * merger;
}

async function ours(shape: ShapeName, dtype: string, layers: number, vision: boolean, refTokens?: number[]): Promise<Row> {
  const dir = await checkpoint(shape, layers);
  const backend = new CpuBackend({ threads: THREADS, isa: oursIsa });
  const readBwGBs = backend.measureReadBandwidth(1 << 30, 5);
  const fmaPeakGflops = backend.measureFmaPeak(20_000_000, 5);
  const t0 = performance.now();
  const model = await loadModel(dir, { backend, dtype: dtype as 'q4_0' });
  await backend.sync();
  const loadS = (performance.now() - t0) / 1000;
  const { prefillTokS, decodeTokS } = await measureSpeed(model, { prompt: PROMPT, gen: GEN, reps: REPS });
  // Again after decoding: decode is weight streaming, and its share of the bus is taken against the better minute.
  const readBwAfter = backend.measureReadBandwidth(1 << 30, 5);
  const bwHigh = Math.max(readBwGBs, readBwAfter);
  const row: Row = {
    engine: 'ours', shape, dtype, layers, prefillTokS, decodeTokS, peakRssGiB: 0, loadS, fmaPeakGflops,
    readBwGBs: bwHigh, readBwLowGBs: Math.min(readBwGBs, readBwAfter),
    isa: String(backend.capabilities().info.isa), threads: THREADS, cpuFeatures: String(backend.capabilities().info.cpuFeatures),
  };
  if ((dtype === 'q8_0' || dtype === 'q4_0') && backend.capabilities().info.actQuant)
    row.int8PeakGops = { q8_0: backend.measureInt8Peak('q8_0', 20_000_000, 5), q4_0: backend.measureInt8Peak('q4_0', 20_000_000, 5) };
  const s = SHAPES[shape];
  row.decodeGBs = (decodeBytes(s, layers, dtype) * row.decodeTokS) / 1e9;
  row.decodeBwFrac = row.decodeGBs / bwHigh;
  if (refTokens?.length) {
    // node-llama-cpp re-feeds the prompt's last token before generating; feed the same sequence, teacher-forced.
    const ids = promptIds(PROMPT, VOCAB);
    const seq = [...ids, ids[ids.length - 1], ...refTokens.slice(0, -1)];
    const top = await model.forwardArgmax({ inputIds: seq, logits: refTokens.length });
    row.agree = { n: refTokens.length, same: refTokens.filter((t, i) => top[i] === t).length };
  }
  if (vision) row.vision = await visionTimes(model, s);
  model.dispose();
  backend.destroy();
  if (dtype === 'bf16' && !flag('no-fast') && oursIsa !== 'avx2') {  // 'fast' needs the AVX-512 kernels (AMX or AVX512-BF16)
    const fb = new CpuBackend({ threads: THREADS, isa: oursIsa, precision: 'fast' });
    if (fb.capabilities().info.bf16Products) {
      const fm = await loadModel(dir, { backend: fb, dtype: 'bf16' });
      await fb.sync();
      const sp = await measureSpeed(fm, { prompt: PROMPT, gen: GEN, reps: REPS });
      row.fast = { prefillTokS: sp.prefillTokS, decodeTokS: sp.decodeTokS, vision: vision ? await visionTimes(fm, s) : undefined };
      fm.dispose();
    }
    fb.destroy();
  }
  row.peakRssGiB = process.resourceUsage().maxRSS / 2 ** 20;
  return row;
}

/** Our vision tower on each image of the table (best of REPS, at least one). */
async function visionTimes(model: Awaited<ReturnType<typeof loadModel>>, s: ModelShape): Promise<VisionRow[]> {
  const out: VisionRow[] = [];
  for (const [image, w, h] of IMAGES) {
    const gh = h / 16, gw = w / 16, n = gh * gw;
    const px = new Float32Array(n * 1536);
    for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37);
    let ms = Infinity;
    for (let r = 0; r < Math.max(1, REPS); r++) {
      const v0 = performance.now();
      await model.encodeImages(px, [[1, gh, gw]]);
      ms = Math.min(ms, performance.now() - v0);
    }
    out.push({ image, w, h, patches: n, gflop: visionFlops(s, n, (s.vision as ModelShape['vision']).outHidden ?? s.H) / 1e9, ms });
  }
  return out;
}

/** Our checkpoint's text model as a `qwen3vl` GGUF in the row's weight format (written once into the cache). */
async function textGguf(shape: ShapeName, dtype: string, layers: number): Promise<string> {
  const dir = await checkpoint(shape, layers);
  return ensureGguf(dir, path.join(CACHE, `${shape}-L${layers}-${dtype}-qwen3vl.gguf`), dtype as WeightType, THREADS);
}

/** The mmproj matching our vision weights in this dtype: F16 for bf16, Q8_0 for q8_0, Q4_0 for q4_0 (clip loads it). */
async function mmprojGguf(shape: ShapeName, dtype: string, layers: number): Promise<string | undefined> {
  const t = dtype === 'bf16' ? 'f16' : dtype === 'q8_0' || dtype === 'q4_0' ? dtype : undefined;
  if (!t) return undefined;
  const file = path.join(CACHE, `${shape}-mmproj-${t}.gguf`);
  if (!existsSync(file)) {
    console.error(`writing ${file} …`);
    await exportMmprojGguf(await checkpoint(shape, layers), file + '.tmp', t);
    renameSync(file + '.tmp', file);
  }
  return file;
}

/** A deterministic noise PNG of w×h for llama-mtmd-cli (pixel values do not change the work). */
async function noisePng(w: number, h: number): Promise<string> {
  const file = path.join(CACHE, `noise-${w}x${h}.png`);
  if (!existsSync(file)) {
    const sharp = (await import('sharp')).default;
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
  }
  return file;
}

async function nativeLlama(shape: ShapeName, dtype: string, layers: number, vision: boolean): Promise<Row> {
  const n = ensureNativeLlama(path.resolve(opt('llama-dir')!), 2, ISA === 'avx2' ? 'avx2' : 'native');
  const gguf = await textGguf(shape, dtype, layers);
  const r = runNativeText(n, gguf, { prompt: PROMPT, gen: GEN, threads: THREADS, reps: REPS });
  const row: Row = {
    engine: 'llama.cpp', shape, dtype, layers, prefillTokS: r.prefillTokS, decodeTokS: r.decodeTokS, loadS: 0, peakRssGiB: 0,
    threads: THREADS, isa: `${n.version}, ${n.build} (${r.cpuInfo})`, fa: `prefill FA ${r.prefillFa ? 'on' : 'off'}, decode FA ${r.decodeFa ? 'on' : 'off'}`,
  };
  const mm = vision ? await mmprojGguf(shape, dtype, layers) : undefined;
  if (mm) {
    row.vision = [];
    for (const [image, w, h] of IMAGES) {
      const img = runNativeImage(n, gguf, mm, await noisePng(w, h), { threads: THREADS, reps: Math.max(1, REPS) });
      row.vision.push({ image, w, h, patches: (w / 16) * (h / 16), gflop: 0, ms: img.encodeMs, llamaFa: img.fa });
    }
  }
  return row;
}

async function nodeLlama(shape: ShapeName, dtype: string, layers: number): Promise<Row> {
  const gguf = await textGguf(shape, dtype, layers);
  const r = await runLlama(gguf, { prompt: promptIds(PROMPT, VOCAB), gen: GEN, threads: THREADS, reps: REPS });
  return {
    engine: 'node-llama-cpp', shape, dtype, layers, prefillTokS: r.prefillTokS, decodeTokS: r.decodeTokS, loadS: r.loadS,
    peakRssGiB: process.resourceUsage().maxRSS / 2 ** 20, threads: THREADS, isa: r.build, greedy: r.tokens.slice(0, num('agree')),
  };
}

function child(args: string[]): Row {
  const r = spawnSync(process.execPath, [process.argv[1], 'bench/run.ts', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"engine"'));
  if (r.status !== 0 || !line) throw new Error(`bench child ${args.join(' ')} failed (${r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}): ${r.stdout.slice(-2000)}`);
  return JSON.parse(line) as Row;
}

/** A peer row that could not be measured: the table says why instead of the run failing. */
function tryChild(args: string[], engine: Row['engine'], base: Pick<Row, 'shape' | 'dtype' | 'layers' | 'threads'>): Row {
  try {
    return child(args);
  } catch (e) {
    const note = (e as Error).message.split('\n').slice(0, 3).join(' ');
    console.error(`${engine} skipped: ${note}`);
    return { ...base, engine, prefillTokS: NaN, decodeTokS: NaN, loadS: 0, peakRssGiB: 0, note };
  }
}

/** One engine's runs as one row: the best of each figure (the least disturbed run); bandwidth from the best decode's run. */
function bestOf(runs: Row[]): Row {
  const ok = runs.filter((r) => !r.note);
  if (!ok.length) return runs[0];
  const max = (g: (r: Row) => number | undefined) => Math.max(...ok.map((r) => g(r) ?? NaN).filter((x) => !Number.isNaN(x)));
  const bestVision = (vs: (VisionRow[] | undefined)[]): VisionRow[] | undefined =>
    vs[0]?.map((v, i) => vs.map((x) => x![i]).reduce((a, b) => (b.ms < a.ms ? b : a)));
  const byDecode = ok.reduce((a, b) => (b.decodeTokS > a.decodeTokS ? b : a));
  const row: Row = {
    ...byDecode,
    prefillTokS: max((r) => r.prefillTokS),
    loadS: Math.min(...ok.map((r) => r.loadS)),
    peakRssGiB: max((r) => r.peakRssGiB),
    fmaPeakGflops: max((r) => r.fmaPeakGflops),
    agree: ok.find((r) => r.agree)?.agree,
    vision: bestVision(ok.map((r) => r.vision)),
  };
  if (ok[0].fast) row.fast = { prefillTokS: max((r) => r.fast?.prefillTokS), decodeTokS: max((r) => r.fast?.decodeTokS), vision: bestVision(ok.map((r) => r.fast?.vision)) };
  return row;
}

/** Per repetition, ours over the peer run just before it (both measured): prefill, decode, each image's encode. */
function pairedRatios(mine: Row[], peer: Row[]): NonNullable<Row['paired']> {
  const out: NonNullable<Row['paired']> = { prefill: [], decode: [], fastPrefill: [], fastDecode: [], vision: {}, fastVision: {} };
  const push = (a: number[], x: number) => Number.isFinite(x) && a.push(x);
  const vis = (rec: Record<string, number[]>, ours: VisionRow[] | undefined, p: Row) => {
    for (const v of ours ?? []) {
      const q = p.vision?.find((x) => x.image === v.image);
      if (q) push((rec[v.image] ??= []), q.ms / v.ms);
    }
  };
  mine.forEach((m, i) => {
    const p = peer[i];
    if (!p || p.note) return;
    push(out.prefill, m.prefillTokS / p.prefillTokS);
    push(out.decode, m.decodeTokS / p.decodeTokS);
    if (m.fast) {
      push(out.fastPrefill, m.fast.prefillTokS / p.prefillTokS);
      push(out.fastDecode, m.fast.decodeTokS / p.decodeTokS);
      vis(out.fastVision, m.fast.vision, p);
    }
    vis(out.vision, m.vision, p);
  });
  return out;
}

/** Paired ratios as 'lo–hi×' (one value: 'x×'), or '' when there are none. */
const span = (xs: number[] | undefined) =>
  !xs?.length ? '' : xs.length === 1 ? `${xs[0].toFixed(2)}×` : `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}×`;

const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d));

if (flag('child')) {
  const shape = choice('shape', Object.keys(SHAPES) as ShapeName[]);
  const [dtype, layers, vision] = [choice('dtype', BENCH_FORMATS), num('layers'), !flag('no-vision')];
  const engine = choice('engine', ['ours', 'llama.cpp', 'node-llama-cpp']);
  const ref = opt('ref-tokens');
  const row =
    engine === 'llama.cpp' ? await nativeLlama(shape, dtype, layers, vision)
    : engine === 'node-llama-cpp' ? await nodeLlama(shape, dtype, layers)
    : await ours(shape, dtype, layers, vision, ref ? ref.split(',').map(Number) : undefined);
  console.log(JSON.stringify(row));
  process.exit(0);
}

const shapes = list('shape', Object.keys(SHAPES) as ShapeName[]);
const dtypes = list('dtype', BENCH_FORMATS);
const rows: Row[] = [];
for (const shape of shapes) {
  const layers = num('layers', SHAPES[shape].layers);
  for (const dtype of dtypes) {
    const base = ['--child', '--shape', shape, '--dtype', dtype, '--layers', String(layers), '--prompt', String(PROMPT), '--gen', String(GEN), '--threads', String(THREADS), '--cache', CACHE, '--vision', opt('vision')!];
    if (opt('ckpt')) base.push('--ckpt', opt('ckpt')!);
    if (opt('llama-dir')) base.push('--llama-dir', opt('llama-dir')!);
    base.push('--isa', ISA);
    if (flag('no-vision')) base.push('--no-vision');
    if (flag('no-fast')) base.push('--no-fast');
    const meta = { shape, dtype, layers, threads: THREADS };
    // node-llama-cpp (an extra column, not the peer) once, with all the reps; it gives the greedy tokens to check.
    const extra = flag('vs-llama') && !flag('no-node-llama') ? [tryChild([...base, '--reps', String(REPS), '--engine', 'node-llama-cpp', '--agree', opt('agree')!], 'node-llama-cpp', meta)] : [];
    const greedy = extra.find((p) => p.greedy?.length)?.greedy;
    // Ours and native llama.cpp alternate, one timed run each per repetition: this machine's read bandwidth and
    // clocks move from minute to minute, so each repetition pairs the two engines in time (its ratio is the paired
    // one) and each engine's best is kept.
    const one = [...base, '--reps', '1'];
    const mineRuns: Row[] = [], peerRuns: Row[] = [];
    for (let rep = 0; rep < Math.max(1, REPS); rep++) {
      if (flag('vs-llama')) peerRuns.push(tryChild([...one, '--engine', 'llama.cpp'], 'llama.cpp', meta));
      mineRuns.push(child([...one, '--engine', 'ours', ...(greedy && rep === 0 ? ['--ref-tokens', greedy.join(',')] : [])]));
    }
    const mine = bestOf(mineRuns);
    const peers = [...(peerRuns.length ? [bestOf(peerRuns)] : []), ...extra];
    if (peerRuns.length) mine.paired = pairedRatios(mineRuns, peerRuns);
    rows.push(mine, ...peers);
    if (flag('json')) for (const r of [mine, ...peers]) console.log(JSON.stringify({ ...r, greedy: undefined }));
  }
}

const ours0 = rows.find((r) => r.engine === 'ours');
const cpu = (await import('node:os')).cpus()[0]?.model ?? 'unknown CPU';
const i8 = rows.find((r) => r.int8PeakGops)?.int8PeakGops;
const i8Note = i8 ? `, int8 GEMM roof ${f(i8.q8_0, 0)} (q8_0) / ${f(i8.q4_0, 0)} (q4_0) GOP/s` : '';
// The roof is the machine's: the best of the rows' measurements (a child disturbed while timing its FMA loop read
// half the roof once and printed a bf16 tower at 157% of it).
const fmaRoof = Math.max(0, ...rows.filter((r) => r.engine === 'ours').map((r) => r.fmaPeakGflops ?? 0)) || undefined;
const oursRows = rows.filter((r) => r.engine === 'ours' && r.readBwGBs !== undefined);
const bwSpan = oursRows.length ? `${f(Math.min(...oursRows.map((r) => r.readBwLowGBs ?? r.readBwGBs!)))}–${f(Math.max(...oursRows.map((r) => r.readBwGBs!)))}` : '?';
console.log(`\n${cpu}; ours: ISA ${ours0?.isa ?? '?'}, ${THREADS} threads, read bandwidth ${bwSpan} GB/s (measured before and after each row's decode; a row's % is of its higher one), FP32 FMA roof ${f(fmaRoof, 0)} GFLOP/s${i8Note} (measured)`);
if (ISA === 'avx2') {
  const wide = /avx512f/.test(ours0?.cpuFeatures ?? '');
  console.log(
    wide
      ? 'AVX2 figures: this is an AVX-512 machine running AVX2 code on both sides (ours QWEN3VL_CPU_ISA=avx2, llama.cpp built AVX2-only); an AVX2-only CPU may differ in clocks and ports'
      : 'AVX2 comparison: ours QWEN3VL_CPU_ISA=avx2, llama.cpp built AVX2-only (no AVX-512, AVX-VNNI or AMX code)',
  );
}
const nat = rows.find((r) => r.engine === 'llama.cpp' && !r.note);
if (nat) console.log(`peer: ${nat.isa}, same threads; flash attention off and on, the better reported`);
if (ISA === 'avx2' && rows.some((r) => r.engine === 'node-llama-cpp' && !r.note)) console.log('node-llama-cpp: its prebuilt binaries pick their own CPU variant (not AVX2-only); kept for the top-1 agreement column');
console.log(`prompt ${PROMPT} tokens (empty context), decode ${GEN} tokens at depth ${PROMPT}, best of ${REPS} per engine, ours and llama.cpp alternating run by run ('paired': ours over the llama.cpp run just before it, lowest–highest) (random weights, real shapes)\n`);
console.log('| shape | dtype | engine | prefill tok/s | decode tok/s | ours vs this (prefill / decode) | decode GB/s (% of read bw) | top-1 agree | peak RSS GiB | load s |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const me = rows.find((x) => x.engine === 'ours' && x.shape === r.shape && x.dtype === r.dtype);
  const pp = r.engine === 'llama.cpp' ? me?.paired : undefined;
  const paired = pp?.prefill.length ? `; paired ${span(pp.prefill)} / ${span(pp.decode)}` : '';
  const ratio = r.engine !== 'ours' && me && !r.note ? `${(me.prefillTokS / r.prefillTokS).toFixed(2)}× / ${(me.decodeTokS / r.decodeTokS).toFixed(2)}×${paired}` : '';
  const bw = r.decodeGBs !== undefined ? `${f(r.decodeGBs)} (${f((r.decodeBwFrac ?? 0) * 100, 0)}% of ${f(r.readBwGBs)}; low ${f(r.readBwLowGBs)})` : '';
  const agree = r.agree ? `${r.agree.same}/${r.agree.n}` : '';
  const name = r.engine + (r.fa ? ` (${r.fa})` : '') + (r.note ? ` — not run: ${r.note.slice(0, 160)}` : '');
  console.log(`| ${r.shape}${r.layers !== SHAPES[r.shape as ShapeName].layers ? ` (L${r.layers})` : ''} | ${r.dtype} | ${name} | ${f(r.prefillTokS)} | ${f(r.decodeTokS, 2)} | ${ratio} | ${bw} | ${agree} | ${r.engine === 'llama.cpp' ? '—' : f(r.peakRssGiB, 2)} | ${r.engine === 'llama.cpp' ? '—' : f(r.loadS)} |`);
  if (r.fast) {
    const peerNat = rows.find((x) => x.engine === 'llama.cpp' && x.shape === r.shape && x.dtype === r.dtype && !x.note);
    const fp = r.paired?.fastPrefill.length ? `; paired ${span(r.paired.fastPrefill)} / ${span(r.paired.fastDecode)}` : '';
    const vs = peerNat ? `${(r.fast.prefillTokS / peerNat.prefillTokS).toFixed(2)}× / ${(r.fast.decodeTokS / peerNat.decodeTokS).toFixed(2)}× (vs llama.cpp native)${fp}` : '';
    console.log(`| ${r.shape} | ${r.dtype} (fast) | ours, precision 'fast' | ${f(r.fast.prefillTokS)} | ${f(r.fast.decodeTokS, 2)} | ${vs} | | | | |`);
  }
}
if (rows.some((r) => r.vision?.length)) {
  console.log('\nvision tower, one image (patch embedding to mergers); llama.cpp: llama-mtmd-cli encode time (mtmd_batch_encode) on the mmproj of the same weights (F16 for bf16, Q8_0 for q8_0, Q4_0 for q4_0)\n');
  console.log('| shape | dtype | image | patches | ours ms | ours GFLOP/s (% of FMA roof) | llama.cpp ms | ours vs llama.cpp | paired |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows.filter((x) => x.engine === 'ours' && x.vision)) {
    const peer = rows.find((x) => x.engine === 'llama.cpp' && x.shape === r.shape && x.dtype === r.dtype);
    const runs: [string, VisionRow[], Record<string, number[]> | undefined][] = [
      [r.dtype, r.vision!, r.paired?.vision],
      ...(r.fast?.vision ? [[`${r.dtype} (fast)`, r.fast.vision, r.paired?.fastVision] as [string, VisionRow[], Record<string, number[]> | undefined]] : []),
    ];
    for (const [label, vs, pv] of runs)
      for (const v of vs) {
        const p = peer?.vision?.find((x) => x.image === v.image);
        const gf = (v.gflop / v.ms) * 1000;
        const pct = fmaRoof ? ` (${f((gf / fmaRoof) * 100, 0)}%)` : '';
        console.log(`| ${r.shape} | ${label} | ${v.image} | ${v.patches} | ${f(v.ms, 0)} | ${f(gf)}${pct} | ${p ? `${f(p.ms, 0)} (FA ${p.llamaFa ? 'on' : 'off'})` : '—'} | ${p ? `${(p.ms / v.ms).toFixed(2)}×` : ''} | ${span(pv?.[v.image])} |`);
      }
  }
}

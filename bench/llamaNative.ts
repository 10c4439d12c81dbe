// Native llama.cpp as the benchmark's peer: `llama-bench` and `llama-mtmd-cli` built once (cmake, the CPU's ISA)
// from the llama.cpp source that node-llama-cpp ships (llama/gitRelease.bundle) into an ignored cache folder, then
// run on the same GGUF weights as ours: prefill, decode at depth = prompt length, flash attention off and on (the
// better of the two reported), and an image encode through the mmproj.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeLlama {
  bench: string;
  mtmd: string;
  version: string;
  /** How it was built, for the table's header. */
  build: string;
}

/**
 * cmake ISA flags: -march=native (GGML_NATIVE). On CPUs with AMX, llama.cpp's AMX matmul (chosen for Q8_0/Q4_0 weights
 * whenever the build has AMX) crashed in ggml_backend_amx_mul_mat when built by GCC 12: its `_tile_loadconfig`
 * declares an 8-byte read of the 64-byte tile configuration, so the stores of the tile shapes are dropped as dead and
 * `ldtilecfg` faults (the bug our own AMX kernels hit, session 17). There the peer is built by clang, whose intrinsic
 * reads the whole configuration; without clang, every other ISA extension the CPU reports is enabled explicitly and
 * AMX is left out (llama-bench has no switch to avoid it), and the table's header says so.
 */
const AMX_MACROS = '-D__AMX_TILE__=1 -D__AMX_INT8__=1 -D__AMX_BF16__=1';

function isaFlags(isa: 'native' | 'avx2'): { flags: string[]; dir: string; what: string } {
  if (isa === 'avx2') return { flags: AVX2_FLAGS, dir: 'build-avx2', what: 'AVX2 only (GGML_NATIVE=OFF; AVX, AVX2, FMA, F16C, BMI2 on; AVX-VNNI, AVX-512, AMX off)' };
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
  } catch {
    // not Linux: native
  }
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(info);
  if (!has('amx_int8') && !has('amx_bf16')) return { flags: ['-DGGML_NATIVE=ON'], dir: 'build', what: '-march=native' };
  if (run('clang', ['--version']).status === 0 && run('clang++', ['--version']).status === 0) {
    return {
      // clang before 16 spells the feature macros __AMXINT8__ etc., and ggml compiles its AMX code only under GCC's
      // __AMX_INT8__: without these definitions the clang build has no AMX code at all.
      flags: ['-DGGML_NATIVE=ON', '-DCMAKE_C_COMPILER=clang', '-DCMAKE_CXX_COMPILER=clang++', `-DCMAKE_C_FLAGS=${AMX_MACROS}`, `-DCMAKE_CXX_FLAGS=${AMX_MACROS}`],
      dir: 'build-amx-clang',
      what: "-march=native with AMX, built by clang (GCC 12 miscompiles ggml's AMX tile configuration)",
    };
  }
  const on = (cond: boolean, f: string) => (cond ? [`-D${f}=ON`] : []);
  const flags = [
    '-DGGML_NATIVE=OFF', '-DGGML_AVX=ON', '-DGGML_AVX2=ON', '-DGGML_FMA=ON', '-DGGML_F16C=ON',
    ...on(has('bmi2'), 'GGML_BMI2'), ...on(has('avx_vnni'), 'GGML_AVX_VNNI'), ...on(has('avx512f'), 'GGML_AVX512'),
    ...on(has('avx512_vbmi'), 'GGML_AVX512_VBMI'), ...on(has('avx512_vnni'), 'GGML_AVX512_VNNI'), ...on(has('avx512_bf16'), 'GGML_AVX512_BF16'),
  ];
  return { flags, dir: 'build-noamx', what: "native ISA flags without AMX (GCC 12 miscompiles ggml's AMX tile configuration; install clang for the AMX build)" };
}

/**
 * An AVX2-only build (the `--isa avx2` bench: an AVX2-only CPU's llama.cpp, or an AVX-512 machine running AVX2 code
 * on both sides): every AVX-512, AVX-VNNI and AMX option off explicitly, whatever the defaults.
 */
const AVX2_FLAGS = [
  '-DGGML_NATIVE=OFF', '-DGGML_AVX=ON', '-DGGML_AVX2=ON', '-DGGML_FMA=ON', '-DGGML_F16C=ON', '-DGGML_BMI2=ON', '-DGGML_AVX_VNNI=OFF',
  '-DGGML_AVX512=OFF', '-DGGML_AVX512_VBMI=OFF', '-DGGML_AVX512_VNNI=OFF', '-DGGML_AVX512_BF16=OFF',
  '-DGGML_AMX_TILE=OFF', '-DGGML_AMX_INT8=OFF', '-DGGML_AMX_BF16=OFF',
];

/** The AVX2 build's cache must say every wider option is off (a build dir configured otherwise is refused). */
function checkAvx2Build(build: string): void {
  const cache = path.join(build, 'CMakeCache.txt');
  const text = existsSync(cache) ? readFileSync(cache, 'utf8') : '';
  const on = text.split('\n').filter((l) => /^GGML_(AVX512\w*|AMX_\w+|AVX_VNNI|NATIVE):BOOL=(ON|1|TRUE)/i.test(l));
  if (!text || on.length) throw new Error(`native llama.cpp: ${build} is not an AVX2-only build (${on.join(', ') || 'no CMakeCache.txt'}); remove it to rebuild`);
}

const run = (cmd: string, args: string[]) =>
  spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });

function need(tool: string, args: string[], hint: string): void {
  const r = run(tool, args);
  if (r.error || r.status !== 0) throw new Error(`native llama.cpp needs ${tool} (${hint}): ${r.error?.message ?? r.stderr.trim().split('\n')[0]}`);
}

/**
 * Build (once) and locate llama-bench and llama-mtmd-cli under `root`. Throws with what is missing (git, cmake, a
 * C++ compiler, node-llama-cpp's source bundle) so the caller can skip the column with that message.
 */
export function ensureNativeLlama(root: string, jobs = 2, want: 'native' | 'avx2' = 'native'): NativeLlama {
  const isa = isaFlags(want);
  const build = path.join(root, isa.dir);
  const bin = (n: string) => path.join(build, 'bin', n);
  // node-llama-cpp's package exports hide its files from require.resolve; it sits in this repo's node_modules.
  const bundle = fileURLToPath(new URL('../node_modules/node-llama-cpp/llama/gitRelease.bundle', import.meta.url));
  const info = path.join(path.dirname(bundle), 'llama.cpp.info.json');
  const version = existsSync(info) ? `llama.cpp ${(JSON.parse(spawnSync('cat', [info], { encoding: 'utf8' }).stdout) as { tag: string }).tag}` : 'llama.cpp';
  const found = { bench: bin('llama-bench'), mtmd: bin('llama-mtmd-cli'), version, build: isa.what };
  if (existsSync(found.bench) && existsSync(found.mtmd)) {
    if (want === 'avx2') checkAvx2Build(build);
    return found;
  }
  if (!existsSync(bundle)) throw new Error(`native llama.cpp: ${bundle} not found (npm install node-llama-cpp, which ships the llama.cpp source)`);
  const src = path.join(root, 'src');
  // Only the clone's own half-written copy (src.tmp) is ever removed: a `src` that is not a llama.cpp checkout (e.g.
  // --llama-dir pointed at a project root) is someone's files, and the build stops instead of replacing them.
  if (existsSync(src) && !existsSync(path.join(src, 'CMakeLists.txt'))) {
    throw new Error(`native llama.cpp: ${src} exists and is not a llama.cpp checkout; pass an empty or new --llama-dir`);
  }
  need('git', ['--version'], 'apt-get install git');
  need('cmake', ['--version'], 'apt-get install cmake');
  need('c++', ['--version'], 'apt-get install g++');
  mkdirSync(root, { recursive: true });
  if (!existsSync(path.join(src, 'CMakeLists.txt'))) {
    rmSync(src + '.tmp', { recursive: true, force: true });
    console.error(`native llama.cpp: cloning ${bundle} into ${src} …`);
    const c = run('git', ['clone', '-q', bundle, src + '.tmp']);
    if (c.status !== 0) throw new Error(`native llama.cpp: git clone of the bundle failed: ${c.stderr.trim()}`);
    renameSync(src + '.tmp', src);
  }
  console.error(`native llama.cpp: building llama-bench and llama-mtmd-cli in ${build} (once; minutes) …`);
  const cfg = run('cmake', ['-S', src, '-B', build, '-DCMAKE_BUILD_TYPE=Release', ...isa.flags, '-DLLAMA_CURL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_BUILD_SERVER=OFF', '-DBUILD_SHARED_LIBS=OFF']);
  if (cfg.status !== 0) throw new Error(`native llama.cpp: cmake configure failed:\n${(cfg.stdout + cfg.stderr).slice(-3000)}`);
  if (want === 'avx2') {
    // ggml's configure names the compiler flags of its CPU backend: no AVX-512 (or VNNI/AMX) code may be built.
    const variant = cfg.stdout.split('\n').find((l) => l.includes('Adding CPU backend variant')) ?? '';
    if (!variant.includes('-mavx2') || /avx512|amx|avxvnni/i.test(variant)) throw new Error(`native llama.cpp: the AVX2 build's CPU flags are not AVX2-only: ${variant || '(no variant line)'}`);
    checkAvx2Build(build);
  }
  const b = run('cmake', ['--build', build, '-j', String(jobs), '--target', 'llama-bench', 'llama-mtmd-cli']);
  if (b.status !== 0) throw new Error(`native llama.cpp: build failed:\n${(b.stdout + b.stderr).slice(-3000)}`);
  return found;
}

interface BenchJson {
  n_prompt: number;
  n_gen: number;
  n_depth?: number;
  flash_attn: boolean | number | string;
  avg_ts: number;
  cpu_info?: string;
  backends?: string;
}

export interface NativeText {
  prefillTokS: number;
  decodeTokS: number;
  /** Flash attention setting that gave each figure. */
  prefillFa: boolean;
  decodeFa: boolean;
  cpuInfo: string;
}

function llamaBench(exe: string, args: string[]): BenchJson[] {
  const r = run(exe, [...args, '-o', 'json']);
  if (r.status !== 0) throw new Error(`llama-bench ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  const start = r.stdout.indexOf('[');
  return JSON.parse(r.stdout.slice(start)) as BenchJson[];
}

const faOn = (v: BenchJson['flash_attn']) => v === true || v === 1 || v === '1' || v === 'on' || v === 'true';

/** Prefill of `prompt` tokens (empty context) and decode of `gen` tokens at depth `prompt`, FA off and on. */
export function runNativeText(n: NativeLlama, gguf: string, o: { prompt: number; gen: number; threads: number; reps: number }): NativeText {
  const common = ['-m', gguf, '-t', String(o.threads), '-r', String(o.reps), '-fa', '0,1'];
  const pp = llamaBench(n.bench, [...common, '-p', String(o.prompt), '-n', '0']);
  const tg = llamaBench(n.bench, [...common, '-p', '0', '-n', String(o.gen), '-d', String(o.prompt)]);
  const best = (rows: BenchJson[]) => rows.reduce((a, b) => (b.avg_ts > a.avg_ts ? b : a));
  const p = best(pp);
  const d = best(tg);
  return { prefillTokS: p.avg_ts, decodeTokS: d.avg_ts, prefillFa: faOn(p.flash_attn), decodeFa: faOn(d.flash_attn), cpuInfo: p.cpu_info ?? '' };
}

/** One decode run of `gen` tokens at depth `depth` (llama-bench -r 1), tok/s: bench/decodePair.ts's peer side. */
export function runNativeDecode(n: NativeLlama, gguf: string, o: { depth: number; gen: number; threads: number; fa: boolean }): number {
  const rows = llamaBench(n.bench, ['-m', gguf, '-t', String(o.threads), '-r', '1', '-fa', o.fa ? '1' : '0', '-p', '0', '-n', String(o.gen), '-d', String(o.depth)]);
  return rows[0].avg_ts;
}

export interface NativeImage {
  encodeMs: number;
  fa: boolean;
}

/**
 * Encode one image with llama-mtmd-cli (text model + mmproj) and read the encode time it logs (mtmd_batch_encode
 * only: the image was resized and normalised before); best over FA off/on and `reps` runs. The text side decodes one
 * token only.
 */
export function runNativeImage(n: NativeLlama, text: string, mmproj: string, image: string, o: { threads: number; reps: number }): NativeImage {
  let best: NativeImage | undefined;
  for (const fa of ['off', 'on']) {
    for (let r = 0; r < o.reps; r++) {
      const res = run(n.mtmd, ['-m', text, '--mmproj', mmproj, '--image', image, '-p', 'describe', '-n', '1', '-t', String(o.threads), '--temp', '0', '-fa', fa, '-c', '4096', '--chat-template', 'chatml']);
      const log = res.stdout + res.stderr;
      // mtmd-cli logs "mtmd batch encoding done in N ms" (older builds: "image slice encoded in N ms").
      const m = /(?:mtmd batch encoding done|image slice encoded) in (\d+) ms/.exec(log);
      if (res.status !== 0 || !m) throw new Error(`llama-mtmd-cli failed on ${image} (exit ${res.status}):\n${log.slice(-3000)}`);
      const cur = { encodeMs: Number(m[1]), fa: fa === 'on' };
      if (!best || cur.encodeMs < best.encodeMs) best = cur;
    }
  }
  return best!;
}

// Native llama.cpp as the benchmark's peer: `llama-bench` and `llama-mtmd-cli` built once (cmake, -march=native)
// from the llama.cpp source that node-llama-cpp ships (llama/gitRelease.bundle) into an ignored cache folder, then
// run on the same GGUF weights as ours: prefill, decode at depth = prompt length, flash attention off and on (the
// better of the two reported), and an image encode through the mmproj.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface NativeLlama {
  bench: string;
  mtmd: string;
  version: string;
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
export function ensureNativeLlama(root: string, jobs = 2): NativeLlama {
  const build = path.join(root, 'build');
  const bin = (n: string) => path.join(build, 'bin', n);
  let bundle: string;
  try {
    bundle = path.join(path.dirname(createRequire(import.meta.url).resolve('node-llama-cpp/package.json')), 'llama', 'gitRelease.bundle');
  } catch {
    throw new Error('native llama.cpp: node-llama-cpp is not installed, so its llama.cpp source bundle is missing (npm install)');
  }
  const info = path.join(path.dirname(bundle), 'llama.cpp.info.json');
  const version = existsSync(info) ? `llama.cpp ${(JSON.parse(spawnSync('cat', [info], { encoding: 'utf8' }).stdout) as { tag: string }).tag}` : 'llama.cpp';
  if (existsSync(bin('llama-bench')) && existsSync(bin('llama-mtmd-cli'))) return { bench: bin('llama-bench'), mtmd: bin('llama-mtmd-cli'), version };
  if (!existsSync(bundle)) throw new Error(`native llama.cpp: ${bundle} not found (node-llama-cpp without its source bundle)`);
  need('git', ['--version'], 'apt-get install git');
  need('cmake', ['--version'], 'apt-get install cmake');
  need('c++', ['--version'], 'apt-get install g++');
  mkdirSync(root, { recursive: true });
  const src = path.join(root, 'src');
  if (!existsSync(path.join(src, 'CMakeLists.txt'))) {
    rmSync(src, { recursive: true, force: true });
    console.error(`native llama.cpp: cloning ${bundle} into ${src} …`);
    const c = run('git', ['clone', '-q', bundle, src + '.tmp']);
    if (c.status !== 0) throw new Error(`native llama.cpp: git clone of the bundle failed: ${c.stderr.trim()}`);
    renameSync(src + '.tmp', src);
  }
  console.error(`native llama.cpp: building llama-bench and llama-mtmd-cli in ${build} (once; minutes) …`);
  const cfg = run('cmake', ['-S', src, '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DGGML_NATIVE=ON', '-DLLAMA_CURL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_BUILD_SERVER=OFF', '-DBUILD_SHARED_LIBS=OFF']);
  if (cfg.status !== 0) throw new Error(`native llama.cpp: cmake configure failed:\n${(cfg.stdout + cfg.stderr).slice(-3000)}`);
  const b = run('cmake', ['--build', build, '-j', String(jobs), '--target', 'llama-bench', 'llama-mtmd-cli']);
  if (b.status !== 0) throw new Error(`native llama.cpp: build failed:\n${(b.stdout + b.stderr).slice(-3000)}`);
  return { bench: bin('llama-bench'), mtmd: bin('llama-mtmd-cli'), version };
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

export interface NativeImage {
  encodeMs: number;
  fa: boolean;
}

/**
 * Encode one image with llama-mtmd-cli (text model + mmproj) and read the encode time it logs ("image slice encoded
 * in N ms"); best over FA off/on and `reps` runs. The text side decodes one token only.
 */
export function runNativeImage(n: NativeLlama, text: string, mmproj: string, image: string, o: { threads: number; reps: number }): NativeImage {
  let best: NativeImage | undefined;
  for (const fa of ['off', 'on']) {
    for (let r = 0; r < o.reps; r++) {
      const res = run(n.mtmd, ['-m', text, '--mmproj', mmproj, '--image', image, '-p', 'describe', '-n', '1', '-t', String(o.threads), '--temp', '0', '-fa', fa, '-c', '8192']);
      const log = res.stdout + res.stderr;
      const m = /image slice encoded in (\d+) ms/.exec(log);
      if (res.status !== 0 || !m) throw new Error(`llama-mtmd-cli failed on ${image} (exit ${res.status}):\n${log.slice(-3000)}`);
      const cur = { encodeMs: Number(m[1]), fa: fa === 'on' };
      if (!best || cur.encodeMs < best.encodeMs) best = cur;
    }
  }
  return best!;
}

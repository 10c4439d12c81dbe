// Running the built CLI as a user would: build dist/ once when sources are newer (a lock directory serialises
// parallel test files), then spawn `node dist/cli/main.js ...` and collect exit code, stdout and stderr.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../helpers/fixtures.js';

export const cliPath = path.join(projectRoot, 'dist', 'cli', 'main.js');

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return t;
}

const fresh = () => existsSync(cliPath) && statSync(cliPath).mtimeMs >= Math.max(newestSource(path.join(projectRoot, 'src')), statSync(path.join(projectRoot, 'package.json')).mtimeMs);

/** Build dist/ if any source is newer than the built CLI (CI builds on npm install, so this is usually a no-op). */
export function ensureBuilt(): void {
  if (fresh()) return;
  const lock = path.join(projectRoot, 'node_modules', '.cache', 'qwen3-vl-build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`waited 2 min for ${lock}; remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      if (fresh()) return;
    }
  }
  try {
    if (!fresh()) execFileSync('npm', ['run', 'build'], { cwd: projectRoot, stdio: 'pipe' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the CLI to completion (stdin: `input`, or closed). */
export function runCli(args: readonly string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: projectRoot, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`qwen3-vl ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 60_000} ms\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface ServeHandle {
  readonly child: ChildProcess;
  readonly base: string;
  readonly log: () => string;
  stop(): Promise<number | null>;
}

/** Start `qwen3-vl serve ... --port 0` and wait for its "serving … on http://…" line. */
export function startServe(args: readonly string[], env: Record<string, string> = {}): Promise<ServeHandle> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', ...args], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start in 60 s\n${err}`));
    }, 60_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/[^\s]+)\/v1/.exec(out);
      if (m) {
        clearTimeout(timer);
        const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
        resolve({
          child,
          base: m[1],
          log: () => err,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening\n${err}`));
    });
  });
}

// Native CPU engines in one process, as a user's script or server holds them: several alive at exit (in the main
// thread and in worker threads), disposed in any order or twice, used after dispose. The process must exit 0 with
// every answer equal to the ref backend's; two engines alive at exit used to abort it (SIGABRT, exit code 134).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { loadModel } from '../../src/generate/engine.js';
import { fixturesRoot, projectRoot } from '../helpers/fixtures.js';
import { ensureBuilt } from './cliHarness.js';

const tiny = path.join(fixturesRoot, 'tiny-dense');
const addon = loadAddon();
const messages = [{ role: 'user' as const, content: 'Say hi.' }];
const maxTokens = 5;
let tmp: string;
let script: string;
let expected: string;

// The child: `node script.mjs MODE DIR`; prints one JSON line of answers (and the after-dispose error) and exits by
// itself, engines still alive unless the mode disposes them.
const child = (index: string) => `
import { loadModel } from ${JSON.stringify(index)};
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
const [mode, dir] = isMainThread ? process.argv.slice(2) : workerData;
const messages = ${JSON.stringify(messages)};
const answer = async (m) => (await m.complete(messages, { maxTokens: ${maxTokens}, temperature: 0 })).text;
const load = () => loadModel(dir, { backend: 'cpu', kvCache: { tokens: 256 } });
const out = {};
if (mode === 'alive' || mode === 'worker') {
  const [a, b] = [await load(), await load()];
  out.together = await Promise.all([answer(a), answer(b)]);
  out.after = [await answer(b), await answer(a)];
}
if (mode === 'workers') {
  const ws = [0, 1].map(() => new Worker(new URL(import.meta.url), { workerData: ['worker', dir] }));
  const main = await load();
  out.main = await answer(main);
  out.workers = await Promise.all(ws.map((w) => new Promise((res, rej) => { w.once('message', res); w.once('error', rej); })));
}
if (mode === 'disposed') {
  const [a, b] = [await load(), await load()];
  out.together = await Promise.all([answer(a), answer(b)]);
  b.dispose();
  a.dispose();
  a.dispose();
  out.afterDispose = await answer(a).then(() => 'answered', (e) => e.message);
  out.fresh = await answer(await load());
}
if (isMainThread) console.log(JSON.stringify(out));
else parentPort.postMessage(out);
`;

beforeAll(async () => {
  if (addon instanceof Error || !existsSync(tiny)) return;
  ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-lifetime-'));
  script = path.join(tmp, 'engines.mjs');
  writeFileSync(script, child(pathToFileURL(path.join(projectRoot, 'dist', 'index.js')).href));
  const ref = await loadModel(tiny, { backend: 'ref', kvCache: { tokens: 256 } });
  expected = (await ref.complete(messages, { maxTokens, temperature: 0 })).text;
  ref.dispose();
}, 180_000);
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

function run(mode: string): unknown {
  const r = spawnSync(process.execPath, [script, mode, tiny], { cwd: projectRoot, encoding: 'utf8', timeout: 120_000 });
  // A native abort at exit shows as signal SIGABRT (status null), not as a thrown error.
  expect({ status: r.status, signal: r.signal }, r.stderr).toEqual({ status: 0, signal: null });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
}

describe.skipIf(addon instanceof Error || !existsSync(tiny))('cpu engines: many per process, any lifetime', () => {
  it('two engines alive at exit, used concurrently and in turn: exit 0, answers equal ref', () => {
    expect(expected.length).toBeGreaterThan(0);
    expect(run('alive')).toEqual({ together: [expected, expected], after: [expected, expected] });
  }, 180_000);

  it('engines in two worker threads (two each) and the main thread, all alive at exit', () => {
    const w = { together: [expected, expected], after: [expected, expected] };
    expect(run('workers')).toEqual({ main: expected, workers: [w, w] });
  }, 180_000);

  it('disposed in reverse order and twice; use after dispose is an error; a later engine still works', () => {
    expect(run('disposed')).toEqual({ together: [expected, expected], afterDispose: expect.stringMatching(/used after destroy/), fresh: expected });
  }, 180_000);
});

if (addon instanceof Error) describe.skip(`cpu engines lifetime (${addon.message})`, () => it('skipped', () => {}));

// The built `qwen3-vl` binary as a user runs it: help, exit codes and one-line errors, inspect, run (demo and tiny
// checkpoint, --json, --draw), chat over piped stdin, serve + a request, and clean shutdown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixturesRoot, projectRoot } from '../helpers/fixtures.js';
import { ensureBuilt, runCli, startServe } from './cliHarness.js';
import { loadConfig } from '../../src/models/qwen3vl/config.js';
import { largestContext } from '../../src/generate/contextPlan.js';
import { isCorrect } from '../../src/tools/demoModel.js';

const tiny = path.join(fixturesRoot, 'tiny-dense');
const demoImage = path.join(projectRoot, 'assets', 'demo.png');
let tmp: string;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A user-facing error: exit 1, one line on stderr, no stack trace. */
function expectOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('qwen3-vl CLI: help and errors', () => {
  it('teaches with --help (examples) and prints the version', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/run --demo/);
    const cmds = ['run', 'chat', 'serve', 'inspect', 'bench', 'quantize'];
    const helps = await Promise.all(cmds.map((c) => runCli([c, '--help'])));
    helps.forEach((r, i) => {
      expect(r.code, cmds[i]).toBe(0);
      expect(r.stdout, cmds[i]).toMatch(/Examples:/);
    });
    expect((await runCli(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('bad flags and values: exit 1 with one line', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '--bogus'], /unknown option '--bogus'/],
      [['run', '--max-tokens', 'many', 'hi'], /--max-tokens.*integer/],
      [['run', '--temperature', '-1', 'hi'], /--temperature.*number/],
      [['run', '--backend', 'tpu', 'hi'], /Allowed choices are ref, cpu, webgpu/],
      [['run', '--precision', 'half', 'hi'], /Allowed choices are exact, fast/],
      [['run', '--demo', '--backend', 'ref', '--precision', 'fast', 'hi'], /--precision fast needs --backend webgpu .* or cpu/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['run', 'hi'], /no model: pass --model/],
      [['run', '--demo', '-m', tiny, 'hi'], /either --model DIR or --demo/],
      [['run', '--demo', '--stop', '', 'hi'], /--stop needs a non-empty text/],
      [['serve', '--demo', '--port', '99999'], /--port.*integer in \[0, 65535\]/],
      // A KV cache larger than the machine: refused at load, before it is allocated or a prompt is read.
      [['run', '-m', tiny, '--kv-cache-gb', '100000', 'hi'], /the KV cache for \d+ tokens needs .* lower --kv-cache-gb/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => expectOneLineError(r, cases[i][1]));
  });

  it('missing folders and unreadable files: exit 1 with one line', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '-m', '/no/such/model', 'hi'], /model folder '\/no\/such\/model' does not exist/],
      [['run', '-m', demoImage, 'hi'], /is not a folder/],
      [['run', '-m', tmp, 'hi'], /has no config\.json/],
      [['run', '-m', tiny, '-i', '/no/such.png', 'hi'], /image '\/no\/such\.png' does not exist/],
      [['run', '-m', tiny, '-i', tmp, 'hi'], /is not a file/],
      [['inspect', '/no/such/model'], /does not exist/],
      [['serve', '-m', tiny, '--allowed-dir', '/no/such/dir'], /--allowed-dir '\/no\/such\/dir' is not an existing folder/],
      [['run', '-m', tiny, '--draw', path.join(tmp, 'x.png'), 'hi'], /--draw needs an --image/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => expectOneLineError(r, cases[i][1]));
  });

  it('bench and quantize refuse bad arguments in one line', async () => {
    mkdirSync(path.join(tmp, 'full'), { recursive: true });
    writeFileSync(path.join(tmp, 'full', 'keep.txt'), 'x');
    const cases: [string[], RegExp][] = [
      [['bench'], /no model: pass --model/],
      [['bench', '-m', tiny, '-p', '0'], /-p|prompt/],
      [['quantize', tiny, path.join(tmp, 'full'), '--dtype', 'q4_0'], /exists and is not empty/],
      [['quantize', tiny, path.join(tmp, 'q'), '--dtype', 'q5_k'], /--dtype must be q8_0 or q4_0/],
      [['quantize', path.join(tmp, 'nope'), path.join(tmp, 'q'), '--dtype', 'q8_0'], /does not exist/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => expectOneLineError(r, cases[i][1]));
  });
});

describe.skipIf(!existsSync(tiny))('qwen3-vl quantize and bench', () => {
  it('writes a q8_0 checkpoint that loads and generates, and benches it', async () => {
    const out = path.join(tmp, 'tiny-q8');
    const q = await runCli(['quantize', tiny, out, '--dtype', 'q8_0']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toMatch(/wrote .*tiny-q8: \d+ of \d+ tensors as q8_0/);
    const b = await runCli(['bench', '-m', out, '-p', '16', '-g', '4', '--reps', '1', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const row = JSON.parse(b.stdout.trim()) as { prefillTokS: number; decodeTokS: number; prompt: number };
    expect(row.prompt).toBe(16);
    expect(row.prefillTokS).toBeGreaterThan(0);
    expect(row.decodeTokS).toBeGreaterThan(0);
  });
});

describe.skipIf(!existsSync(tiny))('qwen3-vl inspect', () => {
  it('summarises the tiny checkpoint: parts, memory per dtype, KV cache', async () => {
    const r = await runCli(['inspect', tiny]);
    expect(r.code, r.stderr).toBe(0);
    for (const s of ['text decoder', 'vision tower', 'parameters', 'bf16', 'q8_0', 'q4_0', 'KV cache', 'per 1k tokens']) expect(r.stdout).toContain(s);
    const j = JSON.parse((await runCli(['inspect', '--json', tiny])).stdout);
    expect(j.params.total).toBe(j.params.text + j.params.vision + j.params.experts);
    expect(j.weightBytes.f32).toBeGreaterThan(j.weightBytes.bf16);
    expect(j.weightBytes.bf16).toBeGreaterThan(j.weightBytes.q8_0);
    expect(j.weightBytes.q8_0).toBeGreaterThan(j.weightBytes.q4_0);
    // 2 (k, v) × 4 layers × 2 kv heads × 32 × 4 bytes × 1000 tokens.
    expect(j.kvBytesPerToken).toEqual({ f32: 2 * 4 * 2 * 32 * 4, f16: 2 * 4 * 2 * 32 * 2, q8_0: 2 * 4 * 2 * 32 * (34 / 32) });
  });

  it('--memory-gb: the largest context per KV dtype beside the weights of each format', async () => {
    const r = await runCli(['inspect', '--memory-gb', '0.5', tiny]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/largest context in 512\.0 MiB/);
    expect(r.stdout).toMatch(/KV cache\s+per token: 1\.0 KiB f16 \(default\), 544 B q8_0, 2\.0 KiB f32/);
    const j = JSON.parse((await runCli(['inspect', '--json', '--memory-gb', '0.5', tiny])).stdout);
    // 2 (k, v) × 4 layers × (2 kv heads × 32 values) at 4, 2 and 34/32 bytes.
    expect(j.kvBytesPerToken).toEqual({ f32: 2048, f16: 1024, q8_0: 544 });
    const cfg = await loadConfig(tiny);
    expect(j.contextIn.tokens.f32.q4_0).toBe(largestContext(cfg, 2 ** 29, j.weightBytes.q4_0, 'f32'));
    expect(j.contextIn.tokens.f32.q4_0).toBeLessThan(262_144);
    expect(j.contextIn.tokens.q8_0.f32).toBe(262_144); // capped at the model's context
    const bad = await runCli(['inspect', '--memory-gb', 'lots', tiny]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--memory-gb/);
  });

  it('reports MoE experts and active parameters', async () => {
    const j = JSON.parse((await runCli(['inspect', '--json', path.join(fixturesRoot, 'tiny-moe')])).stdout);
    expect(j.text.experts).toEqual({ count: 8, perToken: 2, intermediate: 48 });
    expect(j.params.experts).toBeGreaterThan(0);
    expect(j.params.activePerToken).toBeCloseTo(j.params.text + j.params.vision + j.params.experts / 4, 0);
  });
});

describe.skipIf(!existsSync(tiny))('qwen3-vl run / chat / serve', () => {
  it('run --demo: the trained demo model answers its questions as train.py did, and --draw paints its box', async () => {
    // train.py's own answers to the demo's questions (install.py writes them beside the checkpoint): a retrained
    // checkpoint brings its own, so nothing here names an answer.
    const want = JSON.parse(readFileSync(path.join(projectRoot, 'assets', 'demo', 'demo.json'), 'utf8')) as { task: string; question: string; answer: string; script: string }[];
    const right = want.filter((q) => isCorrect(q.task, q.script, q.answer)).length;
    const out = path.join(tmp, 'demo-boxes.png');
    const r = await runCli(['run', '--demo', '--draw', out]);
    expect(r.code, r.stderr).toBe(0);
    for (const q of want) expect(r.stdout).toContain(`Q: ${q.question}\n  A: ${q.script}`);
    expect(r.stdout).toContain(`${right} of ${want.length} answers correct`);
    expect(r.stderr).toMatch(/drew \d+ box(es)? on/);
    expect(existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/trained only on synthetic pictures/);
    const j = JSON.parse((await runCli(['run', '--demo', '--json'])).stdout);
    expect(j.demo).toBe(true);
    expect(j.results.map((x: { answer: string }) => x.answer)).toEqual(want.map((q) => q.script));
    expect(j.correct).toBe(right);
    // A prompt of one's own about a shipped picture.
    const shape = want.find((q) => q.task === 'shape')!;
    const one = await runCli(['run', '--demo', '--json', '-i', path.join(projectRoot, 'assets', 'demo', 'shape.png'), shape.question]);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout).text).toBe(shape.script);
  });

  it('run streams greedy text; --json carries the same answer; stdin works as the prompt', async () => {
    const args = ['run', '-m', tiny, '-i', demoImage, '-n', '8', '--temperature', '0'];
    const plain = await runCli([...args, 'Describe the image.']);
    expect(plain.code, plain.stderr).toBe(0);
    const json = await runCli([...args, '--json', 'Describe the image.']);
    const j = JSON.parse(json.stdout);
    expect(plain.stdout).toBe(j.text.endsWith('\n') ? j.text : `${j.text}\n`);
    expect(j).toMatchObject({ finish_reason: expect.stringMatching(/stop|length/), usage: { completion_tokens: expect.any(Number) } });
    const piped = await runCli([...args, '--json'], { input: 'Describe the image.\n' });
    expect(JSON.parse(piped.stdout).text).toBe(j.text);
  });

  it('run --draw writes an image (random weights draw no boxes) and an undecodable image is one clear line', async () => {
    const out = path.join(tmp, 'boxes.png');
    const r = await runCli(['run', '-m', tiny, '-i', demoImage, '-n', '4', '--draw', out, 'Locate the house, bbox in JSON.']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/drew 0 boxes/);
    const bogus = path.join(tmp, 'bogus.png');
    writeFileSync(bogus, 'this is not an image');
    expectOneLineError(await runCli(['run', '-m', tiny, '-i', bogus, 'hi']), /image/);
  });

  it('chat keeps history, attaches images, resets and exits over piped stdin', async () => {
    const input = ['/help', `/image ${demoImage}`, 'What is this?', '/image /no/such.png', 'And now?', '/reset', '/bogus', 'Hello', '/exit'].join('\n');
    const r = await runCli(['chat', '-m', tiny, '-n', '3', '--temperature', '0'], { input });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('(attached');
    expect(r.stderr).toContain("error: '/no/such.png' does not exist");
    expect(r.stderr).toContain('(conversation cleared)');
    expect(r.stderr).toContain('unknown command /bogus');
    expect(r.stdout.trim().split('\n')).toHaveLength(3); // three answers
  });

  it('serve answers a request, refuses a busy port, and stops on SIGTERM with exit 0', async () => {
    const s = await startServe(['-m', tiny, '--model-id', 'tiny']);
    try {
      const res = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }) });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.usage.completion_tokens).toBeLessThanOrEqual(3);
      const port = new URL(s.base).port;
      expectOneLineError(await runCli(['serve', '-m', tiny, '--port', port]), /port \d+ on 127\.0\.0\.1 is in use/);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

// Accuracy of the demo model on the held-out set, per backend and weight format, against the training script:
//   npm run bench:accuracy -- [--backends cpu,ref,webgpu] [--dtypes f32,bf16,q8_0,q4_0] [--webgpu-dtypes f32,bf16,q8_0]
//                             [--per-task N] [--json]
// One row per (backend, dtype): accuracy per task, overall, and agreement with train.py's answers. webgpu runs in
// headless Chromium (SwiftShader without a GPU, as the browser tier; CHROMIUM_PATH), one page for all its formats.
import { existsSync } from 'node:fs';
import os from 'node:os';
import type { BackendName } from '../../src/backend/index.js';
import { chromiumPath } from '../../test/browser/harness.js';
import { type AccuracyResult, loadAccuracySet, perTask, runAccuracy } from './suite.js';
import { BENCH_FORMATS, benchArgs } from '../common.js';
import { runAccuracyWebGpu } from './webgpu.js';

const { num, list, flag, given } = benchArgs('npm run bench:accuracy -- [options]: the demo model on the held-out questions, per backend and weight format', {
  backends: { value: 'LIST', default: 'cpu,ref,webgpu', help: 'cpu, ref, webgpu (in headless Chromium)' },
  dtypes: { value: 'LIST', default: BENCH_FORMATS.join(','), help: `weight formats (${BENCH_FORMATS.join(', ')}; ref runs f32 only)` },
  'webgpu-dtypes': { value: 'LIST', help: 'weight formats in Chromium (default: --dtypes without q4_0; SwiftShader takes minutes each)' },
  'per-task': { value: 'N', help: 'questions per task (default: all 25)' },
  json: { help: 'print the results as JSON' },
});
const explicit = given('backends');
const backends = list<BackendName>('backends', ['cpu', 'ref', 'webgpu']);
const dtypes = list('dtypes', BENCH_FORMATS);
// SwiftShader runs the GPU kernels on the CPU: the full set takes minutes per format, so q4_0 is left to --webgpu-dtypes.
const webgpuDtypes = given('webgpu-dtypes') ? list('webgpu-dtypes', BENCH_FORMATS) : dtypes.filter((d) => d !== 'q4_0');
const per = num('per-task', Infinity);
const set = loadAccuracySet(per);
const tasks = [...new Set(set.items.map((i) => i.task))];
const results: AccuracyResult[] = [];
const label = (r: AccuracyResult) => (r.where ? `${r.backend} in ${r.where}` : r.backend);
const notes: string[] = [];
for (const backend of backends) {
  if (backend === 'webgpu') {
    if (!existsSync(chromiumPath)) {
      const why = `webgpu in Chromium not run: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
      if (explicit) throw new Error(why);
      notes.push(why);
      continue;
    }
    process.stderr.write(`webgpu in Chromium ${webgpuDtypes.join(',')}: ${set.items.length} questions each…\n`);
    const w = await runAccuracyWebGpu(set.items, webgpuDtypes, (line) => process.stderr.write(`  ${line}\n`));
    results.push(...w.results);
    notes.push(`webgpu in Chromium: adapter ${w.adapter}${w.messages.length ? `; page messages: ${w.messages.slice(0, 5).join(' | ')}` : ''}`);
    continue;
  }
  for (const dtype of backend === 'ref' ? dtypes.filter((d) => d === 'f32') : dtypes) {
    process.stderr.write(`${backend} ${dtype}: ${set.items.length} questions…\n`);
    results.push(await runAccuracy(set.items, backend, dtype));
  }
}
if (flag('json')) {
  process.stdout.write(`${JSON.stringify({ meta: set.meta, results, notes }, null, 1)}\n`);
} else {
  const pct = ([c, n]: [number, number]) => `${((100 * c) / n).toFixed(0)}%`;
  const head = ['engine', ...tasks, 'all', 'agrees with train.py', 'seconds'];
  const rows: string[][] = [];
  const script = perTask(set.items.map((i) => ({ task: i.task, correct: i.scriptCorrect })));
  const all = (m: Map<string, [number, number]>) => [...m.values()].reduce<[number, number]>((a, b) => [a[0] + b[0], a[1] + b[1]], [0, 0]);
  rows.push(['train.py (PyTorch f32)', ...tasks.map((t) => pct(script.get(t)!)), pct(all(script)), '-', '-']);
  for (const r of results) {
    const m = perTask(r.answers);
    const agree = r.answers.filter((a) => a.agrees).length;
    rows.push([`${label(r)} ${r.dtype}`, ...tasks.map((t) => pct(m.get(t)!)), pct(all(m)), `${agree}/${r.answers.length} (${((100 * agree) / r.answers.length).toFixed(1)}%)`, r.seconds.toFixed(1)]);
  }
  const n = tasks.map((t) => set.items.filter((i) => i.task === t).length);
  console.log(`demo model accuracy: ${set.items.length} held-out questions (${tasks.map((t, i) => `${t} ${n[i]}`).join(', ')}), eval seed ${set.meta.eval_seed}; ${os.cpus()[0]?.model ?? 'cpu'}`);
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  for (const n of notes) console.log(n);
  for (const r of results) {
    const bad = r.answers.filter((a) => !a.agrees).slice(0, 5);
    for (const b of bad) console.log(`  ${label(r)} ${r.dtype} q${b.id} (${b.task}): engine ${JSON.stringify(b.text)} vs train.py ${JSON.stringify(set.items.find((i) => i.id === b.id)!.script)}`);
  }
}

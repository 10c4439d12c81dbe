// Accuracy of the demo model on the held-out set, per backend and weight format, against the training script:
//   npm run bench:accuracy -- [--backends cpu,ref] [--dtypes f32,bf16,q8_0,q4_0] [--per-task N] [--json]
// One row per (backend, dtype): accuracy per task, overall, and agreement with train.py's answers.
import os from 'node:os';
import type { BackendName } from '../../src/backend/index.js';
import type { WeightFormat } from '../../src/weights/convert.js';
import { type AccuracyResult, loadAccuracySet, perTask, runAccuracy } from './suite.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
};
const backends = arg('backends', 'cpu,ref').split(',') as BackendName[];
const dtypes = arg('dtypes', 'f32,bf16,q8_0,q4_0').split(',') as WeightFormat[];
const per = Number(arg('per-task', 'Infinity'));
const set = loadAccuracySet(per);
const tasks = [...new Set(set.items.map((i) => i.task))];
const results: AccuracyResult[] = [];
for (const backend of backends) {
  for (const dtype of backend === 'ref' ? dtypes.filter((d) => d === 'f32') : dtypes) {
    process.stderr.write(`${backend} ${dtype}: ${set.items.length} questions…\n`);
    results.push(await runAccuracy(set.items, backend, dtype));
  }
}
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify({ meta: set.meta, results }, null, 1)}\n`);
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
    rows.push([`${r.backend} ${r.dtype}`, ...tasks.map((t) => pct(m.get(t)!)), pct(all(m)), `${agree}/${r.answers.length} (${((100 * agree) / r.answers.length).toFixed(1)}%)`, r.seconds.toFixed(1)]);
  }
  const n = tasks.map((t) => set.items.filter((i) => i.task === t).length);
  console.log(`demo model accuracy: ${set.items.length} held-out questions (${tasks.map((t, i) => `${t} ${n[i]}`).join(', ')}), eval seed ${set.meta.eval_seed}; ${os.cpus()[0]?.model ?? 'cpu'}`);
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  for (const r of results) {
    const bad = r.answers.filter((a) => !a.agrees).slice(0, 5);
    for (const b of bad) console.log(`  ${r.backend} ${r.dtype} q${b.id} (${b.task}): engine ${JSON.stringify(b.text)} vs train.py ${JSON.stringify(set.items.find((i) => i.id === b.id)!.script)}`);
  }
}

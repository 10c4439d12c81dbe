// The trained demo model on its held-out questions (bench/accuracy): the engine's greedy answers
// at f32 and bf16 agree with the training script's (PyTorch, f32 from the same bf16 weights) on ≥ 99% of questions,
// and, task by task, are correct on ≥ 90% (the goal for a shipped model; a task where train.py itself is below it is
// skipped with its count). Full table: npm run bench:accuracy.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { demoModelDir } from '../../src/tools/demoModel.js';
import { type AccuracyResult, loadAccuracySet, perTask, runAccuracy } from '../../bench/accuracy/suite.js';

// All 200 stored questions (a few seconds on the native backend): with 5 a task, one miss is already below 90%.
const PER_TASK = Number(process.env.QWEN3VL_ACCURACY_PER_TASK ?? Infinity);
const backend = loadAddon() instanceof Error ? 'ref' : 'cpu';
const set = loadAccuracySet(PER_TASK);
const script = perTask(set.items.map((i) => ({ task: i.task, correct: i.scriptCorrect })));
// The checkpoint's own record of its training run (train.py writes it; install.py ships it with the held-out set):
// the tasks, and the script's accuracy on the full set, which must be the one the stored answers give.
const training = JSON.parse(readFileSync(path.join(demoModelDir, 'training.json'), 'utf8')) as Record<string, unknown> & { script_accuracy: Record<string, number> };
const TASKS = Object.keys(training.script_accuracy).sort();
const results = new Map<string, AccuracyResult>();

describe(`demo model accuracy on ${set.items.length} held-out questions (${backend})`, () => {
  it('the stored set covers every task', () => {
    expect(TASKS.length).toBeGreaterThan(0);
    expect([...script.keys()].sort()).toEqual(TASKS);
  });

  // A checkpoint installed without its held-out set (or the reverse) would make every agreement below meaningless.
  it("the stored set belongs to the shipped checkpoint: same run (seed, steps) and train.py's per-task accuracy", () => {
    const full = loadAccuracySet();
    for (const k of ['preset', 'seed', 'eval_seed', 'steps']) expect(full.meta[k], `questions.json meta.${k} vs training.json`).toEqual(training[k]);
    const all = perTask(full.items.map((i) => ({ task: i.task, correct: i.scriptCorrect })));
    for (const t of TASKS) {
      const [c, n] = all.get(t) ?? [0, 0];
      expect(c / n, `${t}: ${c}/${n} script answers correct vs training.json ${training.script_accuracy[t]}`).toBeCloseTo(training.script_accuracy[t], 6);
    }
  });

  for (const dtype of ['f32', 'bf16'] as const) {
    it(`${dtype}: the engine's answers agree with train.py's on ≥ 99% of the questions`, async () => {
      const r = await runAccuracy(set.items, backend, dtype);
      results.set(dtype, r);
      const agree = r.answers.filter((a) => a.agrees).length / r.answers.length;
      const m = perTask(r.answers);
      console.log(`[accuracy ${backend} ${dtype}] agreement with train.py ${(agree * 100).toFixed(1)}%; correct: ${[...m].map(([t, [c, n]]) => `${t} ${c}/${n}`).join(', ')}`);
      for (const a of r.answers.filter((x) => !x.agrees)) console.log(`  q${a.id} (${a.task}): engine ${JSON.stringify(a.text)} vs train.py ${JSON.stringify(set.items.find((i) => i.id === a.id)!.script)}`);
      expect(agree).toBeGreaterThanOrEqual(0.99);
    });
  }

  // The goal of the shipped model, per task. A task where train.py itself (the same weights, PyTorch f32) misses it on
  // these questions is skipped, named with its count: the engine cannot be asked to beat the model it runs.
  for (const task of TASKS) {
    const [c, n] = script.get(task) ?? [0, 0];
    const below = n > 0 && c / n < 0.9;
    if (below) console.log(`demo accuracy goal (≥ 90%) skipped for ${task}: train.py itself answers ${c}/${n} right (the shipped checkpoint falls short there; train/README.md)`);
    it.skipIf(below)(`${task}: f32 and bf16 answer ≥ 90% of the questions right`, () => {
      expect(results.size).toBe(2);
      for (const r of results.values()) {
        const [rc, rn] = perTask(r.answers).get(task) ?? [0, 0];
        expect(rn, `${r.dtype} ${task} questions`).toBeGreaterThan(0);
        expect(rc / rn, `${r.dtype} ${task}: ${rc}/${rn}`).toBeGreaterThanOrEqual(0.9);
      }
    });
  }
});

// The trained demo model on a CI-sized subset of its held-out questions (bench/accuracy): the engine's greedy answers
// at f32 and bf16 agree with the training script's (PyTorch, f32 from the same bf16 weights) on ≥ 99% of questions,
// and are correct on ≥ 90% of every task. The full table per backend and dtype: npm run bench:accuracy.
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { loadAccuracySet, perTask, runAccuracy } from '../../bench/accuracy/suite.js';

const PER_TASK = Number(process.env.QWEN3VL_ACCURACY_PER_TASK ?? 5);
const backend = loadAddon() instanceof Error ? 'ref' : 'cpu';
const set = loadAccuracySet(PER_TASK);

describe(`demo model accuracy on ${set.items.length} held-out questions (${backend})`, () => {
  it('the stored set covers every task, and the training script itself is ≥ 90% correct per task on it', () => {
    const m = perTask(set.items.map((i) => ({ task: i.task, correct: i.scriptCorrect })));
    expect([...m.keys()].sort()).toEqual(['color', 'compare', 'count', 'ground', 'position', 'read', 'shape', 'video']);
    for (const [task, [c, n]] of m) expect(c / n, task).toBeGreaterThanOrEqual(0.9);
  });

  for (const dtype of ['f32', 'bf16'] as const) {
    it(`${dtype}: agrees with train.py on ≥ 99% and is ≥ 90% correct on every task`, async () => {
      const r = await runAccuracy(set.items, backend, dtype);
      const agree = r.answers.filter((a) => a.agrees).length / r.answers.length;
      const m = perTask(r.answers);
      console.log(`[accuracy ${backend} ${dtype}] agreement ${(agree * 100).toFixed(1)}%; ${[...m].map(([t, [c, n]]) => `${t} ${c}/${n}`).join(', ')}`);
      for (const a of r.answers.filter((x) => !x.agrees)) console.log(`  q${a.id} (${a.task}): engine ${JSON.stringify(a.text)} vs train.py ${JSON.stringify(set.items.find((i) => i.id === a.id)!.script)}`);
      expect(agree).toBeGreaterThanOrEqual(0.99);
      for (const [task, [c, n]] of m) expect(c / n, task).toBeGreaterThanOrEqual(0.9);
    });
  }
});

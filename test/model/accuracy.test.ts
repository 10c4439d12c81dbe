// The trained demo model on a CI-sized subset of its held-out questions (bench/accuracy): the engine's greedy answers
// at f32 and bf16 agree with the training script's (PyTorch, f32 from the same bf16 weights) on ≥ 99% of questions,
// and (the goal for a shipped model) are correct on ≥ 90% of every task. Full table: npm run bench:accuracy.
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { type AccuracyResult, loadAccuracySet, perTask, runAccuracy } from '../../bench/accuracy/suite.js';

const PER_TASK = Number(process.env.QWEN3VL_ACCURACY_PER_TASK ?? 5);
const backend = loadAddon() instanceof Error ? 'ref' : 'cpu';
const set = loadAccuracySet(PER_TASK);
const script = perTask(set.items.map((i) => ({ task: i.task, correct: i.scriptCorrect })));
const below = [...script].filter(([, [c, n]]) => c / n < 0.9).map(([t, [c, n]]) => `${t} ${c}/${n}`);
const results = new Map<string, AccuracyResult>();

describe(`demo model accuracy on ${set.items.length} held-out questions (${backend})`, () => {
  it('the stored set covers every task', () => {
    expect([...script.keys()].sort()).toEqual(['color', 'compare', 'count', 'ground', 'position', 'read', 'shape', 'video']);
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

  // The goal of the shipped model; a checkpoint trained with the small CPU preset (train/README.md) falls short of it.
  if (below.length) console.log(`demo accuracy goal (≥ 90% per task) skipped: train.py itself is below it on ${below.join(', ')} (retrain with the gpu preset)`);
  it.skipIf(below.length > 0)('f32 and bf16 are ≥ 90% correct on every task', () => {
    for (const r of results.values()) for (const [task, [c, n]] of perTask(r.answers)) expect(c / n, `${r.dtype} ${task}`).toBeGreaterThanOrEqual(0.9);
    expect(results.size).toBe(2);
  });
});

// Browser tier: the trained demo model on webgpu in Chromium answers held-out questions (bench/accuracy) as the
// training script did: greedy f32 answers equal train.py's (PyTorch, f32 from the same bf16 weights) on ≥ 99%, as
// the Node suite asserts for cpu (test/model/accuracy.test.ts). Expected answers are read from the stored set, so a
// retrained checkpoint of the same layout needs no edit here. Full table: npm run bench:accuracy.
import { describe, expect, it } from 'vitest';
import { runAccuracyWebGpu } from '../../bench/accuracy/webgpu.js';
import { loadAccuracySet, perTask } from '../../bench/accuracy/suite.js';

// SwiftShader runs the kernels on the CPU (12–20 s a question for the shipped checkpoint on a 2-core machine: 497–815 s
// for these 40 in the clean-clone CI runs of sessions 17–18, the browser tier's longest file): the first 5 questions of
// every task keep CI to that; QWEN3VL_WEBGPU_ACCURACY_PER_TASK=Infinity runs all 200.
const PER_TASK = Number(process.env.QWEN3VL_WEBGPU_ACCURACY_PER_TASK ?? 5);
const set = loadAccuracySet(PER_TASK);
const tasks = [...new Set(set.items.map((i) => i.task))];

const subset = Number.isFinite(PER_TASK) ? `the first ${PER_TASK} of each task: a CI-sized subset, SwiftShader runs the kernels on the CPU` : 'the whole set';
describe(`demo model accuracy on webgpu in Chromium: ${set.items.length} held-out questions (${subset})`, () => {
  it(`f32: the page's answers agree with train.py's on ≥ 99% of the ${set.items.length} questions`, async () => {
    expect(tasks.length).toBeGreaterThan(0);
    const w = await runAccuracyWebGpu(set.items, ['f32']);
    const r = w.results[0];
    const agree = r.answers.filter((a) => a.agrees).length;
    const m = perTask(r.answers);
    const script = perTask(set.items.map((i) => ({ task: i.task, correct: i.scriptCorrect })));
    console.log(
      `[accuracy webgpu f32, ${w.adapter}] agreement with train.py ${agree}/${r.answers.length}; correct: ` +
        `${tasks.map((t) => `${t} ${m.get(t)![0]}/${m.get(t)![1]} (train.py ${script.get(t)![0]})`).join(', ')}; ${r.seconds.toFixed(0)} s`,
    );
    for (const a of r.answers.filter((x) => !x.agrees)) console.log(`  q${a.id} (${a.task}): page ${JSON.stringify(a.text)} vs train.py ${JSON.stringify(set.items.find((i) => i.id === a.id)!.script)}`);
    if (w.messages.length) console.warn(`page messages:\n${w.messages.slice(0, 20).join('\n')}`);
    expect(r.answers.length).toBe(set.items.length);
    expect(agree / r.answers.length).toBeGreaterThanOrEqual(0.99);
    // A retrained checkpoint (the gpu preset: 4× the picture tokens, 3× the blocks) is slower under SwiftShader.
  }, 1_200_000);
});

// Quantized checkpoints (src/tools/quantize.ts) and quantize-while-loading on the cpu backend: the fixtures'
// logits stay close to the golden ones, top-1 agrees, and a pre-quantized folder loads to the same numbers.
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { quantize } from '../../src/tools/quantize.js';
import { argmax } from '../../src/tensor/math.js';
import { fixturesRoot, goldenInputs, loadGolden, relErr } from '../helpers/fixtures.js';

const noAddon = loadAddon() instanceof Error;
const cases = ['tiny-dense', 'tiny-moe'].map((c) => path.join(fixturesRoot, c));

/** Top-1 agreement of two [rows, vocab] logit matrices. */
function top1(a: Float32Array, b: Float32Array, vocab: number): number {
  let same = 0;
  for (let r = 0; r < a.length / vocab; r++) same += +(argmax(a.subarray(r * vocab, (r + 1) * vocab)) === argmax(b.subarray(r * vocab, (r + 1) * vocab)));
  return same / (a.length / vocab);
}

describe.skipIf(noAddon)('cpu backend: quantized weights on the fixtures', () => {
  for (const dir of cases) {
    for (const dtype of ['q8_0', 'q4_0'] as const) {
      it(`${path.basename(dir)} ${dtype}: logit error, top-1, and a pre-quantized folder gives the same logits`, async () => {
        const g = await loadGolden(dir);
        const want = g.tensors.get('logits')?.f32() ?? g.tensors.get('logits.last4')!.f32();
        const inputs = goldenInputs(g);
        const m = await loadModel(dir, { backend: 'cpu', dtype });
        const vocab = m.config.text.vocabSize;
        const got = (await m.forward(inputs)).logits.subarray(-want.length);
        m.dispose();
        const err = relErr(got, want);
        const agree = top1(got, want, vocab);
        console.log(`[${path.basename(dir)} ${dtype}] logits relative error ${err.toExponential(2)}, top-1 agreement ${(agree * 100).toFixed(1)}%`);
        // Tiny models (hidden 64) magnify 4-bit noise; q8_0 must stay close, q4_0 is reported (see BENCHMARKS.md).
        expect(Number.isFinite(err)).toBe(true);
        if (dtype === 'q8_0') expect(err).toBeLessThan(dir.endsWith('moe') ? 0.25 : 0.05);

        const out = await mkdtemp(path.join(tmpdir(), 'qv-quant-'));
        try {
          const r = await quantize({ input: dir, output: out, dtype });
          expect(r.quantized).toBeGreaterThan(0);
          const mq = await loadModel(out, { backend: 'cpu' });
          const got2 = (await mq.forward(inputs)).logits.subarray(-want.length);
          mq.dispose();
          // Same blocks; only the vision qkv (kept bf16 in files) differs from quantize-while-loading.
          expect(relErr(got2, got)).toBeLessThan(dtype === 'q8_0' ? 0.05 : 0.5);
        } finally {
          await rm(out, { recursive: true, force: true });
        }
      });
    }
  }
});

// `qwen3-vl bench` (prefill/decode speed of one checkpoint on one backend) and `qwen3-vl quantize` (a checkpoint
// stored as q8_0/q4_0 that loads without conversion). The side-by-side benchmark against llama.cpp is `npm run bench`.

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadModel } from '../models/qwen3vl/load.js';
import { measureSpeed } from '../tools/speed.js';
import { quantize } from '../tools/quantize.js';
import { CliError, addModelOptions, checkModelDir, intArg, modelDir, type ModelFlags } from './common.js';
import { Progress } from './progress.js';

export function registerDelegates(program: Command): void {
  addModelOptions(
    program
      .command('bench')
      .summary('measure prefill and decode speed of a checkpoint')
      .description('Prefill a synthetic text prompt and decode greedily; prints tokens/s (best of --reps runs). The side-by-side comparison with llama.cpp on random weights of the published shapes is `npm run bench` in the repository.'),
  )
    .option('-p, --prompt <n>', 'prompt tokens', intArg(1), 512)
    .option('-g, --gen <n>', 'decoded tokens', intArg(1), 128)
    .option('--reps <n>', 'timed runs (the best is reported)', intArg(1, 100), 2)
    .option('--json', 'print one JSON object instead of a table')
    .addHelpText('after', '\nExamples:\n  $ qwen3-vl bench -m ./Qwen3-VL-2B-Instruct --backend cpu --dtype q8_0\n  $ qwen3-vl bench --demo -p 64 -g 16')
    .action(async (flags: ModelFlags & { prompt: number; gen: number; reps: number; json?: boolean }) => {
      const progress = new Progress(process.stderr.isTTY === true);
      const { dir } = await modelDir(flags, progress);
      const t0 = performance.now();
      const model = await loadModel(dir, { backend: flags.backend, dtype: flags.dtype, precision: flags.precision, onProgress: (p) => progress.load(p.loadedBytes, p.totalBytes) });
      progress.done();
      const loadS = (performance.now() - t0) / 1000;
      try {
        const s = await measureSpeed(model, { prompt: flags.prompt, gen: flags.gen, reps: flags.reps }).catch((e: unknown) => {
          throw e instanceof RangeError ? new CliError(e.message.replace(/^measureSpeed: /, '')) : e;
        });
        const row = { model: dir, backend: model.backend.name, dtype: flags.dtype ?? 'checkpoint', prompt: flags.prompt, gen: flags.gen, loadS, ...s };
        if (flags.json) console.log(JSON.stringify(row));
        else {
          console.log(`| backend | dtype | prompt | prefill tok/s | decode tok/s | load s |\n|---|---|---|---|---|---|`);
          console.log(`| ${row.backend} | ${row.dtype} | ${row.prompt} | ${s.prefillTokS.toFixed(1)} | ${s.decodeTokS.toFixed(2)} | ${loadS.toFixed(1)} |`);
        }
      } finally {
        model.dispose();
      }
    });

  program
    .command('quantize')
    .summary('write a quantized copy of a checkpoint (q8_0 / q4_0)')
    .description('Store the checkpoint\'s large matrices as q8_0 or q4_0 blocks (norms, biases, the MoE router and the vision qkv stay as they are) in a new folder that loads without conversion; tokenizer and config files are copied.')
    .argument('<in>', 'source checkpoint folder (bf16 or f16)')
    .argument('<out>', 'folder to write (must not exist, or be empty)')
    .requiredOption('--dtype <format>', 'q8_0 or q4_0')
    .addHelpText('after', '\nExamples:\n  $ qwen3-vl quantize ./Qwen3-VL-8B-Instruct ./Qwen3-VL-8B-q4 --dtype q4_0')
    .action(async (input: string, out: string, flags: { dtype: string }) => {
      if (flags.dtype !== 'q8_0' && flags.dtype !== 'q4_0') throw new CliError(`--dtype must be q8_0 or q4_0 (got '${flags.dtype}')`);
      const src = checkModelDir(input);
      const dst = path.resolve(out);
      if (existsSync(dst) && readdirSync(dst).length > 0) throw new CliError(`'${out}' exists and is not empty: choose a new folder (nothing is overwritten)`);
      const progress = new Progress(process.stderr.isTTY === true);
      const t0 = performance.now();
      const r = await quantize({ input: src, output: dst, dtype: flags.dtype, onProgress: (p) => progress.steps('tensors', p.done, p.total) });
      progress.done();
      console.log(`wrote ${dst}: ${r.quantized} of ${r.tensors} tensors as ${flags.dtype}, ${(r.bytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
}

// `qwen3-vl bench` and `qwen3-vl quantize`: thin hand-offs to the benchmark and quantizer modules of the CPU-backend
// work. Until those modules are in the build, the commands say so plainly (exit 1) instead of pretending.

import type { Command } from 'commander';
import { CliError, checkModelDir, collect } from './common.js';

/** Import an optional module of this package; null when it is not part of this build. */
async function optionalModule<T>(spec: string): Promise<T | null> {
  try {
    return (await import(spec)) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(spec.replace('../', ''))) return null;
    throw e;
  }
}

export function registerDelegates(program: Command): void {
  program
    .command('bench')
    .summary('measure prefill and decode speed (delegates to the bench module)')
    .description('Run the end-to-end benchmark (prompt processing and generation tokens/s). Arguments after `bench` are passed to the bench module as they are; `npm run bench` is the same thing.')
    .allowUnknownOption()
    .argument('[args...]', 'arguments for the bench module (e.g. -m DIR -p 512 -g 128)')
    .addHelpText('after', '\nExamples:\n  $ qwen3-vl bench -m ./Qwen3-VL-2B-Instruct -p 512 -g 128 --backend cpu')
    .action(async (args: string[]) => {
      const mod = await optionalModule<{ main(argv: string[]): Promise<number | void> }>('../bench/index.js');
      if (!mod) throw new CliError('bench is not in this build yet: it arrives with the CPU backend work (then `qwen3-vl bench` and `npm run bench` run it)');
      process.exitCode = (await mod.main(args)) ?? 0;
    });

  program
    .command('quantize')
    .summary('write a quantized copy of a checkpoint (q8_0 / q4_0)')
    .description('Convert a checkpoint\'s large matrices to q8_0 or q4_0 and write a new checkpoint folder that loads faster and smaller.')
    .argument('<in>', 'source checkpoint folder')
    .argument('<out>', 'folder to write (must not exist)')
    .requiredOption('--dtype <format>', 'q8_0 or q4_0')
    .option('--extra <arg>', 'extra argument for the quantizer (repeatable)', collect, [])
    .addHelpText('after', '\nExamples:\n  $ qwen3-vl quantize ./Qwen3-VL-8B-Instruct ./Qwen3-VL-8B-q4 --dtype q4_0')
    .action(async (input: string, out: string, flags: { dtype: string; extra: string[] }) => {
      if (flags.dtype !== 'q8_0' && flags.dtype !== 'q4_0') throw new CliError(`--dtype must be q8_0 or q4_0 (got '${flags.dtype}')`);
      checkModelDir(input);
      const mod = await optionalModule<{ main(argv: string[]): Promise<number | void> }>('../tools/quantize.js');
      if (!mod) throw new CliError('quantize is not in this build yet: it arrives with the CPU backend work (src/tools/quantize.ts)');
      process.exitCode = (await mod.main([input, out, '--dtype', flags.dtype, ...flags.extra])) ?? 0;
    });
}

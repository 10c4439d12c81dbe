#!/usr/bin/env node
// The `qwen3-vl` command: run, chat, serve, inspect, bench, quantize. Mistakes print one line and exit 1 (set
// QWEN3VL_DEBUG=1 for stack traces); everything else is in the subcommands.

import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { errorKind } from '../errors.js';
import { registerChat } from './chat.js';
import { registerDelegates } from './delegate.js';
import { registerInspect } from './inspect.js';
import { registerRun } from './run.js';
import { registerServe } from './serve.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('qwen3-vl')
  .version(pkg.version, '-V, --version')
  .description('Run Qwen3-VL vision-language models (images, video, tools) from the command line or as an OpenAI-compatible server.')
  .showSuggestionAfterError()
  .configureHelp({ sortSubcommands: false })
  .addHelpText(
    'after',
    `
Start here:
  $ qwen3-vl run --demo                       # works offline: tiny random model, shipped image
  $ qwen3-vl run -m DIR -i photo.jpg "What is happening here?"
  $ qwen3-vl chat -m DIR                      # conversation; /image FILE attaches a picture
  $ qwen3-vl serve -m DIR --port 8000         # OpenAI API at http://127.0.0.1:8000/v1
  $ qwen3-vl inspect DIR                      # sizes and memory per dtype

DIR is a Qwen3-VL checkpoint folder as published on Hugging Face (e.g. Qwen/Qwen3-VL-2B-Instruct):
config.json, model*.safetensors, tokenizer.json and the preprocessor configs.
Run \`qwen3-vl <command> --help\` for each command's flags and examples.`,
  );

// `qwen3-vl run ... | head -1` closes stdout early: that is the reader's choice, not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

registerRun(program);
registerChat(program);
registerServe(program);
registerInspect(program);
registerDelegates(program);

/** Errors that are the user's input, command line or checkpoint, not our bug: print just the message. */
const USER_KINDS = new Set(['invalid_input', 'usage', 'bad_checkpoint']);

program.parseAsync(process.argv).catch((e: unknown) => {
  const err = e as Error;
  if (process.env.QWEN3VL_DEBUG) console.error(err);
  else if (USER_KINDS.has(errorKind(err))) process.stderr.write(`qwen3-vl: error: ${oneLine(err.message)}\n`);
  else process.stderr.write(`qwen3-vl: error: ${oneLine(err?.message ?? String(e))} (QWEN3VL_DEBUG=1 shows where)\n`);
  process.exit(1);
});

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

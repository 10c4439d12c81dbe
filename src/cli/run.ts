// `qwen3-vl run`: one prompt (with images/videos) through the library's streamChat, streamed to stdout; --json for
// scripts, --draw to paint grounding boxes onto the image, --demo for the no-download smoke run.

import path from 'node:path';
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { type ChatEvent, type Usage, wireUsage } from '../generate/chat.js';
import type { ResponseFormat } from '../generate/grammar.js';
import { parseGrounding, type PixelGrounding } from '../generate/grounding.js';
import type { ToolCall } from '../generate/output.js';
import { demoMessage, demoModelDir, demoQuestions, isCorrect } from '../tools/demoModel.js';
import { addModelOptions, addSamplingOptions, addVisionCacheOption, chatOptions, CliError, collect, loadEngine, modelDir, numArg, userMessage, type ModelFlags, type SamplingFlags } from './common.js';
import { drawGrounding } from './draw.js';
import { Progress } from './progress.js';

interface RunFlags extends ModelFlags, SamplingFlags {
  image: string[];
  video: string[];
  fps?: number;
  system?: string;
  json?: boolean;
  schema?: string;
  draw?: string;
  progress: boolean;
}

export const DEMO_NOTE =
  'note: the demo model (assets/qwen3-vl-demo, a tiny Qwen3-VL) was trained only on synthetic pictures of shapes, rendered words and short clips (train/); real photographs need --model <Qwen3-VL checkpoint folder>.';

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .summary('answer one prompt, streaming the answer to stdout')
    .description('Answer one prompt about zero or more images and videos. The answer streams to stdout; progress and notes go to stderr.')
    .argument('[prompt...]', "the prompt (read from stdin when omitted and stdin is piped; '-' reads stdin too)")
    .option('-i, --image <file>', 'attach an image (repeatable; png, jpg, webp, …)', collect, [])
    .option('-v, --video <file|dir>', 'attach a video file, or a folder of frame images (repeatable)', collect, [])
    .option('--fps <n>', 'frame rate of a frame-folder video (for its timestamps)', numArg(Number.MIN_VALUE))
    .option('-s, --system <text>', 'system prompt')
    .option('--json', 'print one JSON object (text, reasoning, tool calls, usage, grounding) instead of streaming')
    .option('--schema <file|json>', "answer JSON valid against this JSON Schema (a file, or inline JSON; '{}' for any object)")
    .option('--draw <out.png>', 'draw the boxes/points of the answer onto the first image and save it')
    .option('--no-progress', 'no progress bars even on a terminal');
  addSamplingOptions(addVisionCacheOption(addModelOptions(cmd))).addHelpText(
    'after',
    `
Examples:
  $ qwen3-vl run --demo                                   # no download: the trained demo model answers its questions
  $ qwen3-vl run --demo --draw boxes.png                  # …and draws the box it finds onto the picture
  $ qwen3-vl run -m ./Qwen3-VL-2B-Instruct -i cat.jpg "What is in this picture?"
  $ qwen3-vl run -m ./Qwen3-VL-2B-Instruct -i street.jpg --draw boxes.png \\
      'Locate every car, report bbox coordinates in JSON.'
  $ qwen3-vl run -m ./Qwen3-VL-2B-Instruct -v clip.mp4 -n 256 "Summarise the video."
  $ qwen3-vl run -m ./Qwen3-VL-2B-Instruct -v frames/ --fps 2 "What changes between frames?"
  $ echo "Write a haiku about GPUs." | qwen3-vl run -m ./Qwen3-VL-2B-Instruct --temperature 0.7 --seed 1

Sampling defaults come from the checkpoint's generation_config.json (greedy when it has none).
Fewer image pixels (--max-pixels 401408 ≈ 392 visual tokens) make prompts much faster on CPU.`,
  );
  cmd.action((prompt: string[], flags: RunFlags) => runCommand(prompt, flags));
}

/** The prompt words, or stdin when it is piped (or named '-'); the demo reads stdin only when told to ('-'). */
async function readPrompt(words: string[], demo: boolean): Promise<string | null> {
  if (words.length === 1 && words[0] === '-') return readStdin();
  if (words.length) return words.join(' ');
  if (!process.stdin.isTTY && !demo) return readStdin();
  return null;
}

/** --schema: inline JSON or a file of it; `{}` asks for any JSON object. */
function readSchema(arg: string): ResponseFormat {
  let text = arg;
  if (!/^\s*[{[]/.test(arg)) {
    if (!existsSync(arg)) throw new CliError(`--schema '${arg}' is neither JSON nor an existing file`);
    text = readFileSync(arg, 'utf8');
  }
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (e) {
    throw new CliError(`--schema: not JSON (${(e as Error).message})`);
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new CliError('--schema must be a JSON Schema object');
  return Object.keys(schema).length ? { type: 'json_schema', schema: schema as Record<string, unknown> } : { type: 'json_object' };
}

async function readStdin(): Promise<string | null> {
  let s = '';
  for await (const chunk of process.stdin) s += chunk;
  return s.trim() || null;
}

async function runCommand(words: string[], flags: RunFlags): Promise<void> {
  const progress = new Progress(flags.progress && process.stderr.isTTY === true);
  const options = { ...chatOptions(flags), ...(flags.schema !== undefined ? { responseFormat: readSchema(flags.schema) } : {}) };
  let prompt = await readPrompt(words, flags.demo === true);
  const images = [...flags.image];
  if (flags.demo && !flags.model && prompt === null && !images.length && !flags.video.length) return demoTour(flags, progress);
  if (flags.demo) {
    prompt ??= 'What shape is this?';
    if (!images.length && !flags.video.length) images.push(demoQuestions()[0].images[0]);
  }
  if (!prompt) throw new CliError('no prompt: pass it as arguments, or pipe it on stdin (see qwen3-vl run --help)');
  if (flags.draw && !images.length) throw new CliError('--draw needs an --image to draw on');
  const { dir, demo } = await modelDir(flags, progress);
  const messages: unknown[] = [];
  if (flags.system) messages.push({ role: 'system', content: flags.system });
  messages.push(await userMessage(prompt, images, flags.video, flags.fps));
  const engine = await loadEngine(dir, flags, progress);

  const ctl = new AbortController();
  const onSigint = () => {
    if (ctl.signal.aborted) process.exit(130);
    ctl.abort();
  };
  process.on('SIGINT', onSigint);
  const r = { text: '', reasoning: '', toolCalls: [] as ToolCall[], usage: null as Usage | null, finish: '' };
  const t0 = Date.now();
  let tFirst = 0;
  const stream = !flags.json;
  const show = (ev: ChatEvent) => {
    if (ev.type === 'text' || ev.type === 'reasoning') {
      tFirst ||= Date.now();
      progress.done();
    }
    if (ev.type === 'text') {
      r.text += ev.text;
      if (stream) process.stdout.write(ev.text);
    } else if (ev.type === 'reasoning') {
      r.reasoning += ev.text;
      // Reasoning is not the answer: keep stdout clean for pipes, show it dimmed on a terminal.
      if (stream) process.stderr.write(process.stderr.isTTY ? `\x1b[2m${ev.text}\x1b[0m` : ev.text);
    } else if (ev.type === 'tool_call') {
      r.toolCalls.push(ev.call);
      if (stream) process.stdout.write(`${r.text && !r.text.endsWith('\n') ? '\n' : ''}[tool call] ${ev.call.name}(${ev.call.arguments})\n`);
    } else if (ev.type === 'usage') r.usage = ev.usage;
    else if (ev.type === 'done') r.finish = ev.finishReason;
  };
  try {
    for await (const ev of engine.stream(messages, { ...options, signal: ctl.signal, onPrefillProgress: (d, t) => progress.prefill(d, t) })) show(ev);
  } finally {
    process.off('SIGINT', onSigint);
    progress.done();
    await engine.close();
  }

  let grounding: PixelGrounding[] | null = null;
  if (flags.draw) grounding = await drawGrounding(images[0], parseGrounding(r.text), flags.draw);
  if (flags.json) {
    const out = { model: dir, text: r.text, reasoning: r.reasoning || undefined, tool_calls: r.toolCalls, finish_reason: r.finish, usage: r.usage && wireUsage(r.usage), grounding: grounding ?? undefined, demo: demo || undefined };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else if (r.text && !r.text.endsWith('\n')) {
    process.stdout.write('\n');
  }
  if (process.stderr.isTTY && r.usage) {
    const secs = (Date.now() - (tFirst || t0)) / 1000;
    const rate = r.usage.completionTokens > 1 && secs > 0 ? `, ${((r.usage.completionTokens - 1) / secs).toFixed(1)} tokens/s` : '';
    process.stderr.write(`\x1b[2m${r.usage.promptTokens} prompt tokens, ${r.usage.completionTokens} generated (${r.finish})${rate}\x1b[0m\n`);
  }
  if (grounding) process.stderr.write(`drew ${grounding.length} box${grounding.length === 1 ? '' : 'es'}/points on ${flags.draw}\n`);
  if (demo) process.stderr.write(`${DEMO_NOTE}\n`);
  if (r.finish === 'cancelled') process.exitCode = 130;
}

/** `run --demo` alone: the demo model answers its questions about the shipped pictures and clip, next to the truth. */
async function demoTour(flags: RunFlags, progress: Progress): Promise<void> {
  const questions = demoQuestions();
  const engine = await loadEngine(demoModelDir, flags, progress);
  const options = { ...chatOptions(flags), maxTokens: flags.maxTokens ?? 64 };
  const results: { task: string; media: string[]; question: string; answer: string; expected: string; correct: boolean }[] = [];
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  try {
    for (const q of questions) {
      const media = q.video ? [`${rel(path.dirname(q.video.frames[0]))}/ (${q.video.frames.length} frames, ${q.video.fps} fps)`] : q.images.map(rel);
      if (!flags.json) process.stdout.write(`${media.join(' + ')}\n  Q: ${q.question}\n  A: `);
      let text = '';
      for await (const ev of engine.stream([demoMessage(q)], options)) {
        if (ev.type !== 'text') continue;
        text += ev.text;
        if (!flags.json) process.stdout.write(ev.text);
      }
      const correct = isCorrect(q.task, text, q.answer);
      results.push({ task: q.task, media, question: q.question, answer: text, expected: q.answer, correct });
      if (!flags.json) process.stdout.write(`   ${correct ? '✓' : `✗ (expected ${q.answer})`}\n`);
    }
  } finally {
    progress.done();
    await engine.close();
  }
  let grounding: PixelGrounding[] | null = null;
  if (flags.draw) {
    const i = questions.findIndex((q) => q.task === 'ground');
    grounding = await drawGrounding(questions[i].images[0], parseGrounding(results[i].answer), flags.draw);
  }
  const right = results.filter((r) => r.correct).length;
  if (flags.json) process.stdout.write(`${JSON.stringify({ model: demoModelDir, results, correct: right, grounding: grounding ?? undefined, demo: true }, null, 2)}\n`);
  else process.stdout.write(`${right} of ${results.length} answers correct\n`);
  if (grounding) process.stderr.write(`drew ${grounding.length} box${grounding.length === 1 ? '' : 'es'} on ${flags.draw}\n`);
  process.stderr.write(`${DEMO_NOTE}\n`);
}

// `qwen3-vl chat`: an interactive conversation with history. /image and /video attach media to the next message;
// Ctrl-C stops an answer, Ctrl-C at the prompt (or /exit, or end of input) leaves. Works with piped stdin too.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import readline from 'node:readline';
import { addModelOptions, addSamplingOptions, addVisionCacheOption, chatOptions, CliError, loadEngine, modelDir, numArg, readImage, videoPart, type ModelFlags, type SamplingFlags } from './common.js';
import { Progress } from './progress.js';
import { DEMO_NOTE } from './run.js';

interface ChatFlags extends ModelFlags, SamplingFlags {
  system?: string;
  fps?: number;
}

const HELP = `commands:
  /image <file>        attach an image to your next message
  /video <file|dir>    attach a video (file, or a folder of frames) to your next message
  /reset               forget the conversation (keeps the system prompt)
  /exit                leave (also Ctrl-D, or Ctrl-C at the prompt)
  /help                this list`;

export function registerChat(program: Command): void {
  const cmd = program
    .command('chat')
    .summary('interactive conversation with history and attachments')
    .description(`Chat with the model turn by turn; the whole conversation is resent each turn.\n\n${HELP}`)
    .option('-s, --system <text>', 'system prompt')
    .option('--fps <n>', 'frame rate of frame-folder videos', numArg(Number.MIN_VALUE));
  addSamplingOptions(addVisionCacheOption(addModelOptions(cmd))).addHelpText(
    'after',
    `
Examples:
  $ qwen3-vl chat -m ./Qwen3-VL-2B-Instruct
  > /image kitchen.jpg
  > What could I cook with what you see?
  $ printf '/image cat.png\\nWhat animal is this?\\n' | qwen3-vl chat -m ./Qwen3-VL-2B-Instruct -n 64`,
  );
  cmd.action((flags: ChatFlags) => chatCommand(flags));
}

async function chatCommand(flags: ChatFlags): Promise<void> {
  const interactive = process.stdin.isTTY === true;
  const progress = new Progress(process.stderr.isTTY === true);
  const options = chatOptions(flags);
  const { dir, demo } = await modelDir(flags, progress);
  const engine = await loadEngine(dir, flags, progress);
  if (demo) process.stderr.write(`${DEMO_NOTE}\n`);
  if (interactive) process.stderr.write(`chatting with ${engine.info.id}; /help lists commands\n`);

  const system = flags.system ? [{ role: 'system', content: flags.system }] : [];
  let history: unknown[] = [...system];
  let attachments: unknown[] = [];
  let answering: AbortController | null = null;
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: interactive, prompt: '> ' });
  rl.on('SIGINT', () => {
    if (answering) answering.abort();
    else rl.close();
  });
  const note = (s: string) => process.stderr.write(`${s}\n`);

  try {
    if (interactive) rl.prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (line.startsWith('/')) {
        const [cmdName, ...rest] = line.split(/\s+/);
        const arg = line.slice(cmdName.length).trim();
        if (cmdName === '/exit' || cmdName === '/quit') break;
        else if (cmdName === '/help') note(HELP);
        else if (cmdName === '/reset') {
          history = [...system];
          attachments = [];
          note('(conversation cleared)');
        } else if (cmdName === '/image' || cmdName === '/video') {
          if (!rest.length) note(`usage: ${cmdName} <file>`);
          else if (!existsSync(arg)) note(`error: '${arg}' does not exist`);
          else {
            try {
              attachments.push(cmdName === '/image' ? { type: 'image', image: readImage(arg) } : await videoPart(arg, flags.fps));
              note(`(attached ${arg} to your next message)`);
            } catch (e) {
              note(`error: ${(e as Error).message}`);
            }
          }
        } else note(`unknown command ${cmdName}; /help lists commands`);
      } else if (line) {
        const user = { role: 'user', content: [...attachments, { type: 'text', text: line }] };
        answering = new AbortController();
        let answer = '';
        try {
          for await (const ev of engine.stream([...history, user], { ...options, signal: answering.signal, onPrefillProgress: (d, t) => progress.prefill(d, t) })) {
            if (ev.type === 'text') {
              progress.done();
              answer += ev.text;
              process.stdout.write(ev.text);
            } else if (ev.type === 'reasoning') {
              progress.done();
              process.stderr.write(process.stderr.isTTY ? `\x1b[2m${ev.text}\x1b[0m` : ev.text);
            } else if (ev.type === 'tool_call') process.stdout.write(`\n[tool call] ${ev.call.name}(${ev.call.arguments})`);
            else if (ev.type === 'done' && ev.finishReason === 'cancelled') note('\n(stopped)');
          }
          process.stdout.write('\n');
          // Media stay in the history so later turns can refer to them; a failed turn leaves history unchanged.
          history.push(user, { role: 'assistant', content: answer });
          attachments = [];
        } catch (e) {
          progress.done();
          if (e instanceof CliError) throw e;
          note(`error: ${(e as Error).message}`);
        } finally {
          answering = null;
        }
      }
      if (interactive) rl.prompt();
    }
  } finally {
    rl.close();
    await engine.close();
  }
}

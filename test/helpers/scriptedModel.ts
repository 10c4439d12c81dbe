// A scripted stand-in for model + processor: the real streamChat / parser / server run on top, but the "model" emits
// a fixed answer chosen by the prompt ("script:NAME"), so tool calls and reasoning can be tested without weights.
import { InvalidInputError } from '../../src/errors.js';
import type { ChatProcessor } from '../../src/generate/chat.js';
import type { PreparedInputs } from '../../src/processor/index.js';
import { LocalEngine, type EngineModel } from '../../src/generate/service.js';
import { Scheduler, type BatchModel } from '../../src/generate/scheduler.js';
import { BlockPool } from '../../src/nn/kvPool.js';

const SPECIAL = ['<|im_end|>', '<|endoftext|>'];
const ADDED = ['<think>', '</think>', '<tool_call>', '</tool_call>'];
const CHARS = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).concat(['\n', 'é']);
const VOCAB = [...SPECIAL, ...ADDED, ...CHARS];

export const SCRIPTS: Record<string, string> = {
  hello: 'Hello from the scripted model.',
  weather: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
  think: '<think>\nThe roof is dark.\n</think>\n\nIt is a house.',
  boxes: '[{"bbox_2d": [100, 200, 300, 400], "label": "house"}]',
  long: 'word '.repeat(400),
  // For tool_choice: filler where the loop forces the opening of a call, then the rest of the call.
  forcedAny: 'XX{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
  forcedNamed: 'X'.repeat(encode('<tool_call>\n{"name": "get_weather", "arguments": ').length) + '{"city": "Oslo"}}\n</tool_call>',
};

export interface ScriptOptions {
  /** Delay per decode step (ms), so cancellation and queueing can be observed; 50 ms when the prompt says "slow". */
  readonly stepMs?: number;
  /** Delay of the prefill (ms). */
  readonly prefillMs?: number;
  /** Called when a prompt's first chunk runs, with its length. */
  readonly onPrefill?: (tokens: number) => void;
}

export interface PrepareCall {
  readonly messages: readonly unknown[];
  readonly opts: Record<string, unknown>;
}

function encode(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    const piece = [...SPECIAL, ...ADDED].find((p) => text.startsWith(p, i)) ?? text[i];
    const id = VOCAB.indexOf(piece);
    out.push(id < 0 ? VOCAB.indexOf('?') : id);
    i += piece.length;
  }
  return out;
}

/** The last user text of content-part messages. */
function lastUserText(messages: readonly unknown[]): string {
  const users = messages.filter((m) => (m as { role: string }).role === 'user') as { content: unknown }[];
  const c = users[users.length - 1]?.content;
  if (typeof c === 'string') return c;
  return ((c as { type: string; text?: string }[]) ?? []).filter((p) => p.type === 'text').map((p) => p.text).join('');
}

export function scriptedEngine(opts: ScriptOptions = {}, id = 'scripted') {
  const calls: PrepareCall[] = [];
  let answer: number[] = [];
  let stepMs = opts.stepMs;
  const processor: ChatProcessor = {
    tokenizer: {
      encode,
      decode: (ids, o) => Array.from(ids, (i) => (o?.skipSpecialTokens && i < SPECIAL.length ? '' : (VOCAB[i] ?? ''))).join(''),
      tokenToId: (t) => (VOCAB.includes(t) ? VOCAB.indexOf(t) : undefined),
      isSpecial: (i) => i < SPECIAL.length,
      tokenBytes: (i) => new TextEncoder().encode(VOCAB[i] ?? ''),
    },
    async prepare(messages, o): Promise<PreparedInputs> {
      calls.push({ messages, opts: o as Record<string, unknown> });
      const text = lastUserText(messages);
      const name = /script:(\w+)/.exec(text)?.[1] ?? 'hello';
      if (name === 'fail') throw new InvalidInputError('cannot decode image: not an image');
      answer = [...encode(SCRIPTS[name] ?? SCRIPTS.hello), 0];
      stepMs = text.includes('slow') ? 50 : opts.stepMs;
      const inputIds = encode(text.slice(0, 50) || 'x');
      return { inputIds, mmTokenTypeIds: inputIds.map(() => 0), text };
    },
  };
  const logitsFor = (step: number) => {
    const l = new Float32Array(VOCAB.length);
    // A margin large enough that even temperature-1 sampling never leaves the script.
    l[answer[Math.min(step, answer.length - 1)]] = 60;
    return l;
  };
  const sleep = (ms?: number) => (ms ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
  // The scripted model behind the real scheduler: each sequence's step counter is keyed by its block table (one array
  // per sequence for its whole life); the prompt step gives the script's first token, each decode step the next.
  const stepOf = new WeakMap<readonly number[], number>();
  const batch: BatchModel<null> = {
    contextLength: 4096,
    pool: new BlockPool(4096 / 16 + 1, 16),
    encode: () => null,
    async forward(chunks) {
      await sleep(chunks.some((c) => c.start === 0) ? opts.prefillMs : stepMs);
      for (const c of chunks) if (c.start === 0) opts.onPrefill?.(c.ids.length);
      return chunks.filter((c) => c.logits).map((c) => {
        const step = stepOf.has(c.blocks) ? stepOf.get(c.blocks)! + 1 : 0;
        stepOf.set(c.blocks, step);
        return logitsFor(step);
      });
    },
    release() {},
  };
  const scheduler = new Scheduler(batch, { maxSeqs: 8, maxBatchTokens: 512 });
  const model: EngineModel = {
    source: null,
    contextLength: 4096,
    scheduler,
    ropeIndex: (ids) => {
      const p = Int32Array.from(ids, (_, i) => i);
      return { positions: [p, p, p], ropeDelta: 0 };
    },
    dispose() {},
  };
  const engine = new LocalEngine(model, processor, { id, dir: '/scripted', modelType: 'qwen3_vl', contextLength: 4096, backend: 'scripted' });
  return { engine, calls };
}

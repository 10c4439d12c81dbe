// The generation loop: prepare the chat, prefill, then sample and decode token by token, streaming typed events
// (answer text, reasoning, tool calls, usage, finish reason). CLI, server and web page are thin adapters over it.

import type { GenerationConfig } from '../config/generation.js';
import { AbortError, type Qwen3VLModel } from '../models/qwen3vl/model.js';
import { InputLimitError, type ChatMessage, type PrepareOptions, type PreparedInputs, type ToolSpec } from '../processor/index.js';
import { StreamingDetokenizer, type QwenTokenizer } from '../tokenizer/index.js';
import { OutputParser, type ToolCall } from './output.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import { StopMatcher } from './stop.js';

/** What the loop needs of a tokenizer (QwenTokenizer has it all). */
export type ChatTokenizer = Pick<QwenTokenizer, 'encode' | 'decode' | 'tokenToId' | 'isSpecial' | 'tokenBytes'>;

/** 'auto': the model decides; 'required': the answer starts with a tool call; { name }: a call of that tool. */
export type ToolChoice = 'auto' | 'required' | { readonly name: string };

/** What the loop needs from the processor (Qwen3VLProcessor; tests may script one). */
export interface ChatProcessor {
  readonly tokenizer: ChatTokenizer;
  prepare(messages: readonly ChatMessage[], opts: PrepareOptions): Promise<PreparedInputs>;
}

export interface ChatOptions extends SamplingOptions {
  /** Most new tokens (default: the checkpoint's max_new_tokens, else what the context allows). */
  readonly maxTokens?: number;
  /** Refuse prompts (text and visual tokens) longer than this with InputLimitError, before the prefill. */
  readonly maxPromptTokens?: number;
  readonly stop?: readonly string[];
  /** Function tools in the OpenAI form ({ type: 'function', function: { name, description, parameters } }). */
  readonly tools?: readonly ToolSpec[];
  /**
   * Enforced by forcing the opening of the call (`<tool_call>` and, for a named tool, `{"name": ..., "arguments": `)
   * into the answer (after the reasoning on thinking checkpoints); the model writes the rest. Default 'auto'.
   */
  readonly toolChoice?: ToolChoice;
  readonly signal?: AbortSignal;
  /** Reasoning tokens allowed before `</think>` is forced (thinking checkpoints). */
  readonly thinkingBudget?: number;
  /** Visual token budget per image (pixels), passed to the processor. */
  readonly minPixels?: number;
  readonly maxPixels?: number;
  /** Extra options for `processor.prepare` (e.g. a remote-image fetch policy). */
  readonly prepare?: Omit<PrepareOptions, 'addGenerationPrompt' | 'tools'>;
  /** Called once the prompt is prepared, with its token count (before the prefill). */
  readonly onPrompt?: (tokens: number) => void;
  /** Called after each prefill chunk with prompt tokens done and total (progress bars, server status). */
  readonly onPrefillProgress?: (done: number, total: number) => void;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'cancelled';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
}

/** Usage in the OpenAI wire spelling (snake case), as the server and `run --json` print it. */
export const wireUsage = (u: Usage) => ({ prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens });

export type ChatEvent =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'reasoning'; readonly text: string }
  | { readonly type: 'tool_call'; readonly call: ToolCall }
  | { readonly type: 'usage'; readonly usage: Usage }
  | { readonly type: 'done'; readonly finishReason: FinishReason; readonly tokens: readonly number[] };

export interface ChatResult {
  readonly text: string;
  readonly reasoning: string;
  readonly toolCalls: readonly ToolCall[];
  readonly usage: Usage;
  readonly finishReason: FinishReason;
  /** Generated token ids (including forced ones, excluding the stop token). */
  readonly tokens: readonly number[];
}

/** Options with the checkpoint's generation_config defaults filled in. */
export function withDefaults(o: ChatOptions, g: GenerationConfig | null): ChatOptions {
  if (!g) return o;
  const greedy = !g.doSample;
  return {
    ...o,
    temperature: o.temperature ?? (greedy ? 0 : (g.temperature ?? 1)),
    topK: o.topK ?? g.topK ?? undefined,
    topP: o.topP ?? g.topP ?? undefined,
    minP: o.minP ?? g.minP ?? undefined,
    repetitionPenalty: o.repetitionPenalty ?? g.repetitionPenalty ?? undefined,
    maxTokens: o.maxTokens ?? g.maxNewTokens ?? undefined,
  };
}

/** Stream a chat completion. Ends with a 'usage' and a 'done' event; cancellation ends it with 'cancelled'. */
export async function* streamChat(model: Qwen3VLModel, processor: ChatProcessor, messages: readonly ChatMessage[], options: ChatOptions = {}): AsyncGenerator<ChatEvent> {
  const gen = model.source?.generationConfig ?? null;
  const o = withDefaults(options, gen);
  const sampler = new Sampler(o);
  const stop = new StopMatcher(o.stop ?? []);
  let prompt: PreparedInputs;
  try {
    prompt = await processor.prepare(messages, { minPixels: o.minPixels, maxPixels: o.maxPixels, signal: o.signal, ...o.prepare, addGenerationPrompt: true, tools: o.tools ? [...o.tools] : undefined });
  } catch (e) {
    // Cancelled while reading media: the documented ending, not an error.
    if (!o.signal?.aborted) throw e;
    yield { type: 'usage', usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 } };
    yield { type: 'done', finishReason: 'cancelled', tokens: [] };
    return;
  }
  const ids = Array.from(prompt.inputIds);
  if (o.maxPromptTokens !== undefined && ids.length > o.maxPromptTokens) {
    throw new InputLimitError('max_prompt_tokens', `the prompt has ${ids.length} tokens (text and visual); the limit is ${o.maxPromptTokens}`);
  }
  o.onPrompt?.(ids.length);
  const tok = processor.tokenizer;
  const idOf = (s: string) => tok.tokenToId(s);
  const eos = new Set<number>([...(gen?.eosTokenIds ?? []), ...[idOf('<|im_end|>'), idOf('<|endoftext|>')].filter((x): x is number => x !== undefined)]);
  const endThink = idOf('</think>');
  // A thinking template opens `<think>` in the generation prompt: the output starts inside reasoning.
  const parser = new OutputParser({ startInReasoning: /<think>\s*$/.test(prompt.text), parseTools: true });
  let toolOpening = toolCallOpening(o);

  const ctxLimit = model.config.text.maxPositionEmbeddings;
  const room = ctxLimit - ids.length;
  if (room <= 0) throw new RangeError(`the prompt has ${ids.length} tokens, but the context holds ${ctxLimit}`);
  const maxTokens = Math.min(o.maxTokens ?? room, room);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer (got ${String(o.maxTokens)})`);

  const cache = model.createCache(ids.length + maxTokens);
  const out: number[] = [];
  let finish: FinishReason = 'length';
  let reasoningTokens = 0;
  const detok = new StreamingDetokenizer(tok, { skipSpecialTokens: true });
  let steps: ReturnType<Qwen3VLModel['greedySteps']> | null = null;
  try {
    if (o.signal?.aborted) {
      finish = 'cancelled';
    } else {
      // Greedy sampling takes the argmax on the backend: a token id comes back instead of the logits, and the
      // steps are pipelined (the next one is recorded before the token is read).
      const greedy = sampler.greedy;
      steps = greedy ? model.greedySteps(cache) : null;
      let logits: Float32Array | number | null = null;
      try {
        const fwd = { ...prompt, inputIds: ids, cache, logits: 'last' as const, onProgress: o.onPrefillProgress, signal: o.signal };
        logits = greedy ? (await model.forwardArgmax(fwd))[0] : (await model.forward(fwd)).logits;
      } catch (e) {
        if (!(e instanceof AbortError)) throw e;
        finish = 'cancelled';
      }
      const forced: number[] = [];
      while (logits !== null && out.length < maxTokens) {
        if (o.signal?.aborted) {
          finish = 'cancelled';
          break;
        }
        if (toolOpening !== null && !parser.inReasoning) {
          forced.push(...tok.encode(out.length ? `\n\n${toolOpening}` : toolOpening));
          toolOpening = null;
        }
        let next: number;
        if (forced.length) next = forced.shift()!;
        else if (parser.inReasoning && o.thinkingBudget !== undefined && reasoningTokens >= o.thinkingBudget && endThink !== undefined) next = endThink;
        else next = typeof logits === 'number' ? logits : sampler.sample(logits, ids.concat(out), out);
        if (eos.has(next)) {
          finish = 'stop';
          break;
        }
        out.push(next);
        if (parser.inReasoning) reasoningTokens++;
        const s = stop.push(detok.push(next));
        yield* parser.push(s.text);
        if (s.stopped) {
          finish = 'stop';
          break;
        }
        if (out.length >= maxTokens) break;
        // Let timers and I/O run between steps even on synchronous backends (browsers have no setImmediate).
        await new Promise((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));
        logits = steps ? await steps.step(next, out.length + 1 < maxTokens) : await model.decode(cache, [next]);
      }
    }
    if (!stop.stopped) yield* parser.push(stop.push(detok.flush()).text + stop.flush());
    yield* parser.flush();
  } finally {
    steps?.close();
    cache.dispose();
  }
  if (parser.toolCalls > 0 && finish === 'stop') finish = 'tool_calls';
  yield { type: 'usage', usage: { promptTokens: ids.length, completionTokens: out.length, totalTokens: ids.length + out.length } };
  yield { type: 'done', finishReason: finish, tokens: out };
}

/** The text that opens a tool call the options require, or null when the model may answer freely. */
function toolCallOpening(o: ChatOptions): string | null {
  const c = o.toolChoice ?? 'auto';
  if (c === 'auto') return null;
  if (!o.tools?.length) throw new RangeError('toolChoice needs tools');
  if (c === 'required') return '<tool_call>\n';
  const nameOf = (t: ToolSpec) => ((t.function as { name?: unknown } | undefined)?.name ?? t.name) as unknown;
  if (!o.tools.some((t) => nameOf(t) === c.name)) throw new RangeError(`toolChoice names '${c.name}', which is not among the tools`);
  return `<tool_call>\n{"name": ${JSON.stringify(c.name)}, "arguments": `;
}

/** The whole completion at once. */
export async function chat(model: Qwen3VLModel, processor: ChatProcessor, messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
  let text = '';
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  let usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  let finishReason: FinishReason = 'length';
  let tokens: readonly number[] = [];
  for await (const e of streamChat(model, processor, messages, options)) {
    if (e.type === 'text') text += e.text;
    else if (e.type === 'reasoning') reasoning += e.text;
    else if (e.type === 'tool_call') toolCalls.push(e.call);
    else if (e.type === 'usage') usage = e.usage;
    else {
      finishReason = e.finishReason;
      tokens = e.tokens;
    }
  }
  return { text, reasoning, toolCalls, usage, finishReason, tokens };
}

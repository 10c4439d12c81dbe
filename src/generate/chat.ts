// The generation loop: prepare the chat, prefill, then sample and decode token by token, streaming typed events
// (answer text, reasoning, tool calls, usage, finish reason). CLI, server and web page are thin adapters over it.

import type { GenerationConfig } from '../config/generation.js';
import { InputLimitError, type ChatMessage, type PrepareOptions, type PreparedInputs, type ToolSpec } from '../processor/index.js';
import { StreamingDetokenizer, type QwenTokenizer } from '../tokenizer/index.js';
import { GrammarConstraint, responseFormatGrammar, toolCallGrammar, type GrammarSpec, type ResponseFormat } from './grammar.js';
import { MAX_TOP_LOGPROBS, tokenLogprob } from './logprobs.js';
import { OutputParser, type ToolCall } from './output.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import type { MediaInputs, Scheduler, SeqRequest, Sequence } from './scheduler.js';
import { StopMatcher } from './stop.js';
import type { EncodedVision } from '../models/qwen3vl/model.js';
import type { MediaItem } from './prefixKeys.js';
import type { VisionCache } from './visionCache.js';

/** What the loop needs of a tokenizer (QwenTokenizer has it all). */
export type ChatTokenizer = Pick<QwenTokenizer, 'encode' | 'decode' | 'tokenToId' | 'isSpecial' | 'tokenBytes'> & Partial<Pick<QwenTokenizer, 'idToToken' | 'vocabSize'>>;

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
  /**
   * Constrain the answer (after any reasoning) to JSON: any object, or one valid against a JSON Schema. The
   * grammar allows the end of the answer exactly when the JSON is complete.
   */
  readonly responseFormat?: ResponseFormat;
  /** Report each generated token's log-probability ('logprob' events), with the `topLogprobs` best alternatives. */
  readonly logprobs?: boolean;
  readonly topLogprobs?: number;
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
  /** Vision features of images and videos seen before come from here (the tower runs for new ones only). */
  readonly visionCache?: VisionCache | null;
  /** `false`: this request neither starts from cached KV blocks nor leaves its own (default: the model's setting). */
  readonly prefixCache?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'cancelled';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  /** Prompt tokens whose KV came from the prefix cache (present when prefix reuse was on for the request). */
  readonly cachedTokens?: number;
}

/** Usage in the OpenAI wire spelling (snake case), as the server and `run --json` print it. */
export const wireUsage = (u: Usage) => ({
  prompt_tokens: u.promptTokens,
  completion_tokens: u.completionTokens,
  total_tokens: u.totalTokens,
  ...(u.cachedTokens !== undefined && { prompt_tokens_details: { cached_tokens: u.cachedTokens } }),
});

export type ChatEvent =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'reasoning'; readonly text: string }
  | { readonly type: 'tool_call'; readonly call: ToolCall }
  | { readonly type: 'logprob'; readonly logprob: WireLogprob }
  | { readonly type: 'usage'; readonly usage: Usage }
  | { readonly type: 'done'; readonly finishReason: FinishReason; readonly tokens: readonly number[] };

/** One token's log-probability with its text and bytes, and the most likely alternatives (OpenAI's shape). */
export interface WireLogprob {
  readonly token: string;
  readonly bytes: readonly number[];
  readonly logprob: number;
  readonly top: readonly { readonly token: string; readonly bytes: readonly number[]; readonly logprob: number }[];
}

export interface ChatResult {
  readonly text: string;
  readonly reasoning: string;
  readonly toolCalls: readonly ToolCall[];
  readonly usage: Usage;
  readonly finishReason: FinishReason;
  /** Generated token ids (including forced ones, excluding the stop token). */
  readonly tokens: readonly number[];
  /** Per generated token, when `logprobs` was asked for (forced tokens included, with their model log-probability). */
  readonly logprobs?: readonly WireLogprob[];
}

/** Most tokens at the end of the budget spent closing a constrained answer. */
const CLOSING_TOKENS = 64;

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

/**
 * What the chat loop needs of a model: the scheduler that runs its sequences (shared by every concurrent chat), its
 * context size, generation defaults and MRoPE positions of a prompt. `Qwen3VL` (generate/engine.ts) is one.
 */
export interface ChatModel {
  readonly source: { readonly generationConfig: GenerationConfig } | null;
  readonly contextLength: number;
  /** Logits per row (the grammar's bitmask size); structured outputs need it. */
  readonly vocabSize?: number;
  readonly scheduler: Scheduler;
  ropeIndex(ids: Int32Array, media: MediaInputs): { positions: [Int32Array, Int32Array, Int32Array]; ropeDelta: number };
  /** A prompt's images and videos (content hashes, placeholder runs): with `encodeItems`, encoded item by item. */
  mediaItems?(prompt: PreparedInputs): MediaItem[];
  /** Features of each item, each encoded alone, through `cache` when given. */
  encodeItems?(items: readonly MediaItem[], cache: VisionCache | null): Promise<readonly EncodedVision[]>;
  /** The chain seed of the model's KV blocks; null or absent: no prefix reuse. */
  readonly prefixSeed?: string | null;
}

/** Events of one sequence, pushed by the scheduler's callbacks and pulled by the generator. */
class EventChannel {
  private readonly items: ChatEvent[] = [];
  private wake: (() => void) | null = null;
  private ended: { error?: unknown } | null = null;

  push(e: ChatEvent): void {
    this.items.push(e);
    this.poke();
  }

  end(error?: unknown): void {
    this.ended = { error };
    this.poke();
  }

  async *drain(): AsyncGenerator<ChatEvent> {
    for (;;) {
      while (this.items.length) yield this.items.shift()!;
      if (this.ended) {
        if (this.ended.error !== undefined) throw this.ended.error;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private poke(): void {
    this.wake?.();
    this.wake = null;
  }
}

/**
 * Stream a chat completion. The prompt joins the model's scheduler, which batches it with every other running
 * sequence; sampling, stop strings, tool-call/reasoning parsing and forced tokens run in this sequence's hook.
 * Ends with a 'usage' and a 'done' event; cancellation (`signal`, or leaving the generator) frees its KV at once.
 */
export async function* streamChat(model: ChatModel, processor: ChatProcessor, messages: readonly ChatMessage[], options: ChatOptions = {}): AsyncGenerator<ChatEvent> {
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
  const ids = Int32Array.from(prompt.inputIds);
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
  const { spec: grammarSpec, tools: strictTools } = grammarFor(o);
  // Strict tools: the loop opens the call (`<tool_call>\n`), the grammar holds its JSON, the loop closes it.
  let toolOpening = strictTools ? '<tool_call>\n' : toolCallOpening(o);
  let grammarDone = false;
  if (o.topLogprobs !== undefined && (!Number.isInteger(o.topLogprobs) || o.topLogprobs < 0 || o.topLogprobs > MAX_TOP_LOGPROBS)) throw new RangeError(`topLogprobs must be an integer in 0..${MAX_TOP_LOGPROBS} (got ${String(o.topLogprobs)})`);

  const room = model.contextLength - ids.length;
  const maxTokens = Math.max(1, Math.min(o.maxTokens ?? room, room));
  if (o.maxTokens !== undefined && (!Number.isInteger(o.maxTokens) || o.maxTokens < 1)) throw new RangeError(`maxTokens must be a positive integer (got ${String(o.maxTokens)})`);
  if (o.signal?.aborted) {
    yield { type: 'usage', usage: { promptTokens: ids.length, completionTokens: 0, totalTokens: ids.length } };
    yield { type: 'done', finishReason: 'cancelled', tokens: [] };
    return;
  }

  if (grammarSpec && !tok.idToToken) throw new RangeError('structured outputs need a tokenizer that lists its vocabulary (idToToken)');
  if (grammarSpec && model.vocabSize === undefined) throw new RangeError('structured outputs need a model that states its vocabulary size');
  const out: number[] = [];
  let finish = 'length' as FinishReason;
  let reasoningTokens = 0;
  const forced: number[] = [];
  const detok = new StreamingDetokenizer(tok, { skipSpecialTokens: true });
  const chan = new EventChannel();
  const hasMedia = !!(prompt.pixelValues || prompt.pixelValuesVideos);
  // Each image and video runs through the tower alone, cached or not, so the vision cache never changes a bit of the
  // output (a backend's matmul may sum in another order for another row count). The scheduler asks for the items
  // its prefill needs when it first runs: none inside a cached prefix.
  const perItem = model.mediaItems && model.encodeItems;
  const items = hasMedia && perItem ? model.mediaItems!(prompt) : [];
  const visionCache = o.visionCache ?? null;
  const media: MediaInputs = perItem
    ? { imageGridThw: prompt.imageGridThw, videoGridThw: prompt.videoGridThw, items, features: (need) => model.encodeItems!(need, visionCache) }
    : { pixelValues: prompt.pixelValues, imageGridThw: prompt.imageGridThw, pixelValuesVideos: prompt.pixelValuesVideos, videoGridThw: prompt.videoGridThw };
  const rope = model.ropeIndex(ids, media);
  const prefix = model.prefixSeed && o.prefixCache !== false && (perItem || !hasMedia) ? { seed: model.prefixSeed, items } : undefined;
  const context = Array.from(ids);
  let grammarFailure: unknown = null;
  const prefetch = (g: GrammarConstraint) => {
    g.prepare().catch((e: unknown) => (grammarFailure = e));
  };
  const req: SeqRequest = {
    ids,
    positions: rope.positions,
    ropeDelta: rope.ropeDelta,
    media: hasMedia ? media : undefined,
    prefix,
    maxTokens,
    onProgress: o.onPrefillProgress,
    // This sequence's step: forced tokens, sampling, stop checks and parsing; null ends it.
    next: (logits, self) => choose(logits, -1, self),
    // Plain greedy (nothing reads the logits): the scheduler takes the argmax on the backend and reads back ids only.
    nextArgmax: sampler.greedy && !o.logprobs && !grammarSpec ? (id, self) => choose(null, id, self) : undefined,
    onEnd: (reason, error) => {
      if (reason === 'cancelled') finish = 'cancelled';
      chan.end(reason === 'error' ? error : undefined);
    },
  };
  /** The next token from the row's logits, or (`logits` null) from its argmax `id`. */
  function choose(logits: Float32Array | null, id: number, self: Sequence): number | null {
    if (toolOpening !== null && !parser.inReasoning) {
      forced.push(...tok.encode(out.length ? `\n\n${toolOpening}` : toolOpening));
      toolOpening = null;
    }
    let next: number;
    // The grammar holds the answer after any reasoning and forced opening, on this sequence's own row.
    const constrained = grammar !== null && !grammarDone && !parser.inReasoning && forced.length === 0 && toolOpening === null;
    if (forced.length) next = forced.shift()!;
    else if (parser.inReasoning && o.thinkingBudget !== undefined && reasoningTokens >= o.thinkingBudget && endThink !== undefined) next = endThink;
    else if (constrained && grammar && logits) {
      if (grammarFailure !== null) throw grammarFailure;
      // The last stretch of the budget heads for the end of the JSON, so a long answer is closed, not cut.
      if (self.maxTokens - out.length <= Math.min(CLOSING_TOKENS, Math.floor(self.maxTokens / 4))) next = grammar.closingArgmaxReady(logits);
      else next = sampler.greedy ? grammar.argmaxReady(logits) : sampler.sample(grammar.maskReady(logits), context, out);
    } else next = logits ? sampler.sample(logits, context, out) : id;
    if (o.logprobs && logits) chan.push({ type: 'logprob', logprob: wireLogprob(tok, tokenLogprob(logits, next, o.topLogprobs ?? 0)) });
    if (constrained && grammar) {
      if (!grammar.accept(next)) throw new RangeError(`the grammar refused token ${next} (${JSON.stringify(tok.decode([next]))})`);
      if (strictTools && eos.has(next)) {
        // The call's JSON is complete: close the call, then end (one call answers a required tool choice).
        grammarDone = true;
        forced.push(...tok.encode('\n</tool_call>'), eos.values().next().value as number);
        next = forced.shift()!;
      } else if (!grammar.isTerminated()) prefetch(grammar);
    }
    if (eos.has(next)) {
      finish = 'stop';
      return null;
    }
    out.push(next);
    context.push(next);
    if (parser.inReasoning) reasoningTokens++;
    const s = stop.push(detok.push(next));
    for (const e of parser.push(s.text)) chan.push(e);
    if (s.stopped) {
      finish = 'stop';
      return null;
    }
    return next;
  }
  let grammar: GrammarConstraint | null = null;
  let seq: Sequence;
  try {
    if (grammarSpec) {
      grammar = await GrammarConstraint.create({ idToToken: tok.idToToken!.bind(tok) }, grammarSpec, { vocabSize: model.vocabSize!, stopIds: [...eos] });
      // The hook is synchronous: each step's mask is computed ahead (XGrammar answers asynchronously), here the
      // first one, then after each accepted token while the scheduler runs the next forward.
      await grammar.prepare();
    }
    seq = model.scheduler.submit(req);
  } catch (e) {
    grammar?.dispose();
    throw e;
  }
  const onAbort = () => model.scheduler.cancel(seq);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // Aborted while the media were encoded or the grammar compiled: the listener came too late to hear it.
  if (o.signal?.aborted) onAbort();
  try {
    yield* chan.drain();
    if (!stop.stopped) yield* parser.push(stop.push(detok.flush()).text + stop.flush());
    yield* parser.flush();
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    // A consumer that stops reading frees the sequence's blocks at once.
    model.scheduler.cancel(seq);
    grammar?.dispose();
  }
  if (parser.toolCalls > 0 && finish === 'stop') finish = 'tool_calls';
  const cached = prefix ? { cachedTokens: seq.cachedTokens } : {};
  yield { type: 'usage', usage: { promptTokens: ids.length, completionTokens: out.length, totalTokens: ids.length + out.length, ...cached } };
  yield { type: 'done', finishReason: finish, tokens: out };
}

/** The grammar the options ask for: strict tools (their `function.strict`), else the response format, else none. */
function grammarFor(o: ChatOptions): { spec: GrammarSpec | null; tools: boolean } {
  const isStrict = (t: ToolSpec) => (t.function as { strict?: unknown } | undefined)?.strict === true || t.strict === true;
  const nameOf = (t: ToolSpec) => ((t.function as { name?: unknown } | undefined)?.name ?? t.name) as unknown;
  const c = o.toolChoice ?? 'auto';
  // A forced call is constrained whole when the tools it may name are strict: the named one, or every one for
  // 'required' (a mix cannot be half-constrained). Under 'auto' the model may still answer in text.
  const callable = c === 'auto' ? [] : c === 'required' ? (o.tools ?? []) : (o.tools ?? []).filter((t) => nameOf(t) === c.name);
  if (callable.length && callable.every(isStrict)) return { spec: toolCallGrammar(callable), tools: true };
  return { spec: responseFormatGrammar(o.responseFormat), tools: false };
}

function wireLogprob(tok: ChatTokenizer, l: ReturnType<typeof tokenLogprob>): WireLogprob {
  // Padding ids past the tokenizer (vocab_size may be larger) have no text, as in transformers.
  const n = tok.vocabSize;
  const one = (id: number) => (n !== undefined && id >= n ? { token: '', bytes: [] } : { token: tok.decode([id]), bytes: Array.from(tok.tokenBytes(id)) });
  return { ...one(l.token), logprob: l.logprob, top: l.top.map((t) => ({ ...one(t.token), logprob: t.logprob })) };
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
export async function chat(model: ChatModel, processor: ChatProcessor, messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
  let text = '';
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  let usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  let finishReason: FinishReason = 'length';
  let tokens: readonly number[] = [];
  const logprobs: WireLogprob[] = [];
  for await (const e of streamChat(model, processor, messages, options)) {
    if (e.type === 'text') text += e.text;
    else if (e.type === 'logprob') logprobs.push(e.logprob);
    else if (e.type === 'reasoning') reasoning += e.text;
    else if (e.type === 'tool_call') toolCalls.push(e.call);
    else if (e.type === 'usage') usage = e.usage;
    else {
      finishReason = e.finishReason;
      tokens = e.tokens;
    }
  }
  return { text, reasoning, toolCalls, usage, finishReason, tokens, ...(options.logprobs ? { logprobs } : {}) };
}

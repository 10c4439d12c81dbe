// The OpenAI chat-completions wire format: request validation into library options (every bad field is a 400 that
// names its `param`), OpenAI-shaped errors, and the response / stream-chunk shapes.

import { type ChatOptions, type FinishReason, type ToolChoice, type Usage, wireUsage } from '../generate/chat.js';
import type { ToolCall } from '../generate/output.js';
import { SamplingError, validateSampling } from '../generate/sampler.js';
import type { ToolSpec } from '../processor/index.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get type(): string {
    if (this.status === 401) return 'authentication_error';
    if (this.status === 429) return 'rate_limit_error';
    return this.status >= 500 ? 'server_error' : 'invalid_request_error';
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Where a media part points, before the server resolves it (see media.ts). */
export interface MediaRef {
  readonly url: string;
  readonly param: string;
}

export type WirePart =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'image'; readonly image: MediaRef; readonly minPixels?: number; readonly maxPixels?: number }
  | { readonly type: 'video'; readonly video: MediaRef | readonly MediaRef[]; readonly fps?: number; readonly timestamps?: readonly number[]; readonly minPixels?: number; readonly maxPixels?: number };

export interface WireMessage {
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  readonly content: readonly WirePart[];
  readonly toolCalls?: readonly { readonly id: string; readonly name: string; readonly arguments: string }[];
  readonly toolCallId?: string;
  readonly reasoningContent?: string;
}

export interface ChatRequest {
  readonly model: string | null;
  readonly messages: readonly WireMessage[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Library options, without `signal` (the server adds it per connection). */
  readonly options: ChatOptions;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (param: string, message: string, code: string | null = 'invalid_value') => new ApiError(400, message, param, code);
const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

function optNumber(o: Obj, key: string, opts: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(key, `'${key}' must be a number (got ${kind(v)})`, 'invalid_type');
  if (opts.integer && !Number.isInteger(v)) throw bad(key, `'${key}' must be an integer (got ${v})`);
  if (opts.min !== undefined && v < opts.min) throw bad(key, `'${key}' must be ≥ ${opts.min} (got ${v})`);
  if (opts.max !== undefined && v > opts.max) throw bad(key, `'${key}' must be ≤ ${opts.max} (got ${v})`);
  return v;
}

function optString(o: Obj, key: string, param = key): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(param, `'${param}' must be a string (got ${kind(v)})`, 'invalid_type');
  return v;
}

/** Validate a parsed JSON body of POST /v1/chat/completions. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (!isObj(body)) throw bad('', `the request body must be a JSON object (got ${kind(body)})`, 'invalid_type');
  const model = optString(body, 'model') ?? null;
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw bad('messages', "'messages' must be a non-empty array", body.messages === undefined ? 'missing_required_parameter' : 'invalid_value');
  const messages = body.messages.map((m, i) => parseMessage(m, `messages[${i}]`));

  const n = optNumber(body, 'n', { integer: true });
  if (n !== undefined && n !== 1) throw bad('n', `only n = 1 is supported (got ${n})`, 'unsupported_value');
  if (body.logprobs === true) throw bad('logprobs', 'logprobs are not supported', 'unsupported_value');
  if (body.logit_bias !== undefined && body.logit_bias !== null && !(isObj(body.logit_bias) && Object.keys(body.logit_bias).length === 0)) throw bad('logit_bias', 'logit_bias is not supported', 'unsupported_value');
  if (body.response_format !== undefined && body.response_format !== null && !(isObj(body.response_format) && body.response_format.type === 'text')) {
    throw bad('response_format', "only response_format {type: 'text'} is supported (no constrained decoding)", 'unsupported_value');
  }
  const stream = body.stream === undefined || body.stream === null ? false : body.stream;
  if (typeof stream !== 'boolean') throw bad('stream', `'stream' must be a boolean (got ${kind(stream)})`, 'invalid_type');
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (!isObj(body.stream_options)) throw bad('stream_options', "'stream_options' must be an object", 'invalid_type');
    if (!stream) throw bad('stream_options', "'stream_options' is only allowed with stream: true");
    const u = body.stream_options.include_usage;
    if (u !== undefined && typeof u !== 'boolean') throw bad('stream_options.include_usage', "'stream_options.include_usage' must be a boolean", 'invalid_type');
    includeUsage = u === true;
  }

  const maxTokens = optNumber(body, 'max_completion_tokens', { integer: true, min: 1 }) ?? optNumber(body, 'max_tokens', { integer: true, min: 1 });
  const stopRaw = body.stop;
  let stop: string[] | undefined;
  if (typeof stopRaw === 'string') stop = [stopRaw];
  else if (Array.isArray(stopRaw)) stop = stopRaw as string[];
  else if (stopRaw !== undefined && stopRaw !== null) throw bad('stop', "'stop' must be a string or an array of strings", 'invalid_type');
  if (stop) {
    if (stop.length > 16) throw bad('stop', `at most 16 stop strings (got ${stop.length})`);
    stop.forEach((s, i) => {
      if (typeof s !== 'string' || s.length === 0) throw bad(`stop[${i}]`, 'stop strings must be non-empty strings');
    });
  }
  // vLLM's convention: top_k -1 (or 0) disables it.
  const topK = optNumber(body, 'top_k', { integer: true, min: -1 });
  const options: ChatOptions = {
    temperature: optNumber(body, 'temperature', { min: 0, max: 2 }),
    topP: optNumber(body, 'top_p', { min: 0, max: 1 }),
    topK: topK === -1 ? 0 : topK,
    minP: optNumber(body, 'min_p', { min: 0, max: 1 }),
    presencePenalty: optNumber(body, 'presence_penalty', { min: -2, max: 2 }),
    frequencyPenalty: optNumber(body, 'frequency_penalty', { min: -2, max: 2 }),
    repetitionPenalty: optNumber(body, 'repetition_penalty'),
    seed: optNumber(body, 'seed', { integer: true }),
    maxTokens,
    stop,
    thinkingBudget: optNumber(body, 'thinking_budget', { integer: true, min: 0 }),
    minPixels: optNumber(body, 'min_pixels', { integer: true, min: 1 }),
    maxPixels: optNumber(body, 'max_pixels', { integer: true, min: 1 }),
    ...parseTools(body),
  };
  if (options.topP === 0) throw bad('top_p', "'top_p' must be > 0 (got 0)");
  try {
    validateSampling(options);
  } catch (e) {
    if (e instanceof SamplingError) {
      const name = snake(e.message.split(' ')[0]);
      throw bad(name, `'${name}'${e.message.slice(e.message.indexOf(' '))}`);
    }
    throw e;
  }
  if (options.minPixels !== undefined && options.maxPixels !== undefined && options.minPixels > options.maxPixels) throw bad('min_pixels', `'min_pixels' (${options.minPixels}) exceeds 'max_pixels' (${options.maxPixels})`);
  return { model, messages, stream, includeUsage, options };
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function parseTools(body: Obj): { tools?: ToolSpec[]; toolChoice?: ToolChoice } {
  const tools = body.tools;
  if (tools === undefined || tools === null) {
    if (body.tool_choice !== undefined && body.tool_choice !== null && body.tool_choice !== 'none' && body.tool_choice !== 'auto') throw bad('tool_choice', "'tool_choice' needs 'tools'");
    return {};
  }
  if (!Array.isArray(tools)) throw bad('tools', "'tools' must be an array", 'invalid_type');
  const names = tools.map((t, i) => {
    const p = `tools[${i}]`;
    if (!isObj(t) || t.type !== 'function' || !isObj(t.function)) throw bad(p, `'${p}' must be {type: 'function', function: {name, description?, parameters?}}`);
    const name = optString(t.function, 'name', `${p}.function.name`);
    if (!name || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw bad(`${p}.function.name`, 'function names are 1-64 letters, digits, _ . or -');
    if (t.function.parameters !== undefined && !isObj(t.function.parameters)) throw bad(`${p}.function.parameters`, 'parameters must be a JSON Schema object', 'invalid_type');
    return name;
  });
  const choice = body.tool_choice ?? 'auto';
  if (choice === 'none' || (!tools.length && choice === 'auto')) return {};
  if (!tools.length) throw bad('tool_choice', `tool_choice '${typeof choice === 'string' ? choice : 'function'}' needs at least one tool in 'tools'`);
  if (choice === 'auto') return { tools };
  // Enforced by the generation loop, which opens the call itself (generate/chat.ts).
  if (choice === 'required') return { tools, toolChoice: 'required' };
  if (isObj(choice) && choice.type === 'function' && isObj(choice.function) && typeof choice.function.name === 'string') {
    const i = names.indexOf(choice.function.name);
    if (i < 0) throw bad('tool_choice', `tool_choice names '${choice.function.name}', which is not in 'tools'`);
    // Only that tool in the prompt, and its call opened for the model.
    return { tools: [tools[i]], toolChoice: { name: choice.function.name } };
  }
  throw bad('tool_choice', "'tool_choice' must be 'none', 'auto', 'required' or {type: 'function', function: {name}}");
}

function parseMessage(m: unknown, p: string): WireMessage {
  if (!isObj(m)) throw bad(p, `'${p}' must be an object`, 'invalid_type');
  const role = m.role === 'developer' ? 'system' : m.role;
  if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'tool') throw bad(`${p}.role`, `'${p}.role' must be system, developer, user, assistant or tool (got ${JSON.stringify(m.role)})`);
  const content = parseContent(m.content, `${p}.content`, role);
  const reasoningContent = optString(m, 'reasoning_content', `${p}.reasoning_content`);
  if (role === 'tool') {
    const toolCallId = optString(m, 'tool_call_id', `${p}.tool_call_id`);
    return { role, content, toolCallId };
  }
  if (role !== 'assistant') return { role, content };
  let toolCalls: WireMessage['toolCalls'];
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    if (!Array.isArray(m.tool_calls)) throw bad(`${p}.tool_calls`, `'${p}.tool_calls' must be an array`, 'invalid_type');
    toolCalls = m.tool_calls.map((c, i) => {
      const q = `${p}.tool_calls[${i}]`;
      if (!isObj(c) || !isObj(c.function) || typeof c.function.name !== 'string') throw bad(q, `'${q}' must be {id, type: 'function', function: {name, arguments}}`);
      const args = c.function.arguments ?? '{}';
      return { id: typeof c.id === 'string' ? c.id : `call_${i}`, name: c.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) };
    });
  }
  if (content.length === 0 && !toolCalls?.length) throw bad(`${p}.content`, `'${p}.content' is empty and there are no tool_calls`);
  return { role, content, toolCalls, reasoningContent };
}

function parseContent(c: unknown, p: string, role: WireMessage['role']): WirePart[] {
  if (typeof c === 'string') return [{ type: 'text', text: c }];
  if ((c === null || c === undefined) && role === 'assistant') return [];
  if (!Array.isArray(c)) throw bad(p, `'${p}' must be a string or an array of content parts (got ${kind(c)})`, 'invalid_type');
  return c.map((part, i) => parsePart(part, `${p}[${i}]`, role));
}

function pixels(o: Obj, p: string): { minPixels?: number; maxPixels?: number } {
  const get = (k: string) => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(`${p}.${k}`, `'${p}.${k}' must be a positive integer`);
    return v;
  };
  const r = { minPixels: get('min_pixels'), maxPixels: get('max_pixels') };
  if (r.minPixels !== undefined && r.maxPixels !== undefined && r.minPixels > r.maxPixels) throw bad(`${p}.min_pixels`, 'min_pixels exceeds max_pixels');
  return r;
}

function urlOf(v: unknown, p: string): MediaRef {
  // OpenAI nests the url ({url, detail}); a bare string is accepted too.
  const url = isObj(v) ? v.url : v;
  const q = isObj(v) ? `${p}.url` : p;
  if (typeof url !== 'string' || url.length === 0) throw bad(q, `'${q}' must be a non-empty URL string`, 'invalid_type');
  return { url, param: q };
}

function parsePart(part: unknown, p: string, role: WireMessage['role']): WirePart {
  if (!isObj(part)) throw bad(p, `'${p}' must be a content part object`, 'invalid_type');
  const t = part.type;
  if (t === 'text') {
    if (typeof part.text !== 'string') throw bad(`${p}.text`, `'${p}.text' must be a string`, 'invalid_type');
    return { type: 'text', text: part.text };
  }
  if (role === 'system' || role === 'assistant') throw bad(`${p}.type`, `${role} messages take text parts only (got '${String(t)}')`);
  if (t === 'image_url' || t === 'image') {
    const src = t === 'image_url' ? part.image_url : part.image;
    return { type: 'image', image: urlOf(src, `${p}.${t}`), ...pixels(isObj(src) ? { ...part, ...src } : part, p) };
  }
  if (t === 'video_url' || t === 'video') {
    const src = t === 'video_url' ? part.video_url : part.video;
    const q = `${p}.${t}`;
    const frames = isObj(src) && Array.isArray(src.url) ? src.url : src;
    let video: MediaRef | MediaRef[];
    if (Array.isArray(frames)) {
      if (frames.length < 1) throw bad(q, `'${q}' frame list is empty`);
      video = frames.map((f, i) => urlOf(f, `${q}[${i}]`));
    } else {
      video = urlOf(src, q);
    }
    const fps = optNumber(part, 'fps', { min: 0 });
    if (fps === 0) throw bad(`${p}.fps`, `'${p}.fps' must be > 0`);
    let timestamps: number[] | undefined;
    if (part.timestamps !== undefined && part.timestamps !== null) {
      const ts = part.timestamps;
      if (!Array.isArray(video)) throw bad(`${p}.timestamps`, "'timestamps' go with a frame list");
      if (!Array.isArray(ts) || ts.length !== video.length || !ts.every((x, i) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && (i === 0 || x > (ts[i - 1] as number)))) {
        throw bad(`${p}.timestamps`, `'${p}.timestamps' must be ${Array.isArray(video) ? video.length : 0} increasing seconds ≥ 0, one per frame`);
      }
      timestamps = ts as number[];
    }
    return { type: 'video', video, fps, timestamps, ...pixels(part, p) };
  }
  throw bad(`${p}.type`, `unsupported content part type ${JSON.stringify(t)} (expected text, image_url, image, video_url or video)`, 'unsupported_value');
}

// --- responses -------------------------------------------------------------------------------------------------

export interface ResponseMeta {
  readonly id: string;
  readonly model: string;
  readonly created: number;
}

export const wireFinish = (f: FinishReason): 'stop' | 'length' | 'tool_calls' => (f === 'cancelled' ? 'stop' : f);

const wireCall = (c: ToolCall) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } });

export function completionBody(meta: ResponseMeta, r: { text: string; reasoning: string; toolCalls: readonly ToolCall[]; usage: Usage; finishReason: FinishReason }) {
  const message: Obj = { role: 'assistant', content: r.text.length || !r.toolCalls.length ? r.text : null };
  if (r.reasoning) message.reasoning_content = r.reasoning;
  if (r.toolCalls.length) message.tool_calls = r.toolCalls.map(wireCall);
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: wireFinish(r.finishReason) }],
    usage: wireUsage(r.usage),
  };
}

export function chunkBody(meta: ResponseMeta, delta: Obj, finishReason: FinishReason | null = null) {
  return {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason && wireFinish(finishReason) }],
  };
}

export const toolCallDelta = (c: ToolCall, index: number) => ({ tool_calls: [{ index, ...wireCall(c) }] });

export function usageChunkBody(meta: ResponseMeta, u: Usage) {
  return { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, choices: [], usage: wireUsage(u) };
}

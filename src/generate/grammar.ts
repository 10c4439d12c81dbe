// Structured outputs: a per-sequence logits processor that keeps generation inside a grammar (a JSON Schema, any JSON
// value, or strict tool calls) through XGrammar (@mlc-ai/web-xgrammar, C++ compiled to WASM, loaded lazily).

import type { ToolSpec } from '../processor/index.js';
import { GrammarError } from '../errors.js';

export { GrammarError };

/** What the answer must be: free text, any JSON object, or JSON valid against a schema. */
export type ResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly schema: Record<string, unknown> | boolean; readonly name?: string; readonly strict?: boolean };


/** The vocabulary as XGrammar wants it: byte-level token strings (`Ġhello`), '' for ids the tokenizer lacks. */
export interface GrammarTokenizer {
  idToToken(id: number): string | undefined;
}

type XGrammar = typeof import('@mlc-ai/web-xgrammar');
type Compiler = Awaited<ReturnType<XGrammar['GrammarCompiler']['createGrammarCompiler']>>;
type Compiled = Awaited<ReturnType<Compiler['compileJSONSchema']>>;
type Matcher = Awaited<ReturnType<XGrammar['GrammarMatcher']['createGrammarMatcher']>>;

let xgrammar: Promise<XGrammar> | null = null;

/** XGrammar, loaded once with its WASM binding started. */
function loadXGrammar(): Promise<XGrammar> {
  xgrammar ??= (async () => {
    const xg = await importXGrammar();
    // Its WASM binding starts on the first call that needs it, unguarded: two first requests at once (a batch) would
    // each start one, and objects of the two then clash ("Expected instance of VectorInt"). Start it once here.
    (await xg.Grammar.builtinJSONGrammar()).dispose();
    return xg;
  })();
  return xgrammar;
}

/**
 * The package is a UMD bundle marked ESM: in Node its ESM path needs CommonJS globals (`require`, `__filename`), so
 * it is evaluated as the CommonJS module it is; bundlers for browsers take the plain import.
 */
async function importXGrammar(): Promise<XGrammar> {
  if (typeof process === 'object' && process.versions?.node) {
    const nodeModule = await import('node:module');
    const { readFile } = await import('node:fs/promises');
    const req = nodeModule.createRequire(import.meta.url);
    const file = req.resolve('@mlc-ai/web-xgrammar');
    const mod = { exports: {} as Record<string, unknown> };
    // Its one dynamic import (of node:module) is handed in: code built by `new Function` may not import in a vm.
    const src = (await readFile(file, 'utf8')).replaceAll("await import('module')", '__nodeModule');
    new Function('exports', 'module', 'require', '__filename', '__dirname', '__nodeModule', src)(mod.exports, mod, req, file, file.replace(/[/\\][^/\\]*$/, ''), nodeModule);
    return mod.exports as unknown as XGrammar;
  }
  return import('@mlc-ai/web-xgrammar');
}

interface VocabEntry {
  readonly compiler: Promise<Compiler>;
  /** Per token, how directly it closes JSON (see closingRanks): lower is preferred when the token budget runs low. */
  readonly closing: Uint8Array;
  /** Bitmask of tokens without raw control characters (U+0000-U+001F), which one-line JSON never contains. */
  readonly printable: Int32Array;
  readonly grammars: Map<string, Promise<Compiled>>;
}

/** One compiler per (tokenizer, vocabulary size, stop tokens): building its token tables takes ~1 s on Qwen's 151k. */
const compilers = new WeakMap<GrammarTokenizer, Map<string, VocabEntry>>();
/** Compiled grammars kept per compiler (a schema reused across requests compiles once). */
const MAX_GRAMMARS = 64;

function compilerFor(tok: GrammarTokenizer, vocabSize: number, stopIds: readonly number[]): VocabEntry {
  let byKey = compilers.get(tok);
  if (!byKey) compilers.set(tok, (byKey = new Map()));
  const key = `${vocabSize}:${[...stopIds].sort((a, b) => a - b).join(',')}`;
  let e = byKey.get(key);
  if (!e) {
    const compiler = (async () => {
      const xg = await loadXGrammar();
      const vocab = new Array<string>(vocabSize);
      for (let i = 0; i < vocabSize; i++) vocab[i] = tok.idToToken(i) ?? '';
      const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, 'byte_level', false, vocabSize, [...stopIds]);
      return xg.GrammarCompiler.createGrammarCompiler(info, true);
    })();
    e = { compiler, grammars: new Map(), closing: closingRanks(tok, vocabSize, stopIds), printable: printableMask(tok, vocabSize, stopIds) };
    byKey.set(key, e);
  }
  return e;
}

/** What the grammar is built from: a JSON Schema, and whether properties it does not name are refused. */
export interface GrammarSpec {
  readonly kind: 'json';
  readonly schema: Record<string, unknown> | boolean;
  readonly strict: boolean;
}

/** The grammar a response format asks for, or null for free text. */
export function responseFormatGrammar(f: ResponseFormat | undefined): GrammarSpec | null {
  if (!f || f.type === 'text') return null;
  // Any object: strict mode would forbid every property of `{type: 'object'}`.
  if (f.type === 'json_object') return { kind: 'json', schema: { type: 'object' }, strict: false };
  if (f.type === 'json_schema') {
    if (typeof f.schema !== 'boolean' && (typeof f.schema !== 'object' || f.schema === null || Array.isArray(f.schema))) throw new GrammarError('responseFormat.schema must be a JSON Schema object');
    // Properties the schema does not name are refused (OpenAI's strict mode) unless strict is false.
    return { kind: 'json', schema: f.schema, strict: f.strict !== false };
  }
  throw new GrammarError(`responseFormat.type must be 'text', 'json_object' or 'json_schema' (got ${JSON.stringify((f as { type?: unknown }).type)})`);
}

const toolName = (t: ToolSpec) => ((t.function as { name?: unknown } | undefined)?.name ?? t.name) as string;
const toolParams = (t: ToolSpec) => ((t.function as { parameters?: unknown } | undefined)?.parameters ?? t.parameters ?? { type: 'object' }) as Record<string, unknown>;

/**
 * The JSON inside a strict tool call, `{"name": NAME, "arguments": ARGS}` in Qwen's format, with ARGS valid against
 * the tool's `parameters`, for any one of `tools` (the caller narrows them for a named choice). The caller writes
 * `<tool_call>\n` before it and `\n</tool_call>` after it.
 */
export function toolCallGrammar(tools: readonly ToolSpec[]): GrammarSpec {
  if (!tools.length) throw new GrammarError('strict tool calls need at least one tool');
  const one = (t: ToolSpec) => ({ type: 'object', properties: { name: { const: toolName(t) }, arguments: toolParams(t) }, required: ['name', 'arguments'] });
  return { kind: 'json', schema: tools.length === 1 ? one(tools[0]) : { anyOf: tools.map(one) }, strict: true };
}

/**
 * A per-sequence logits processor: `mask` a logits row to the tokens the grammar allows next, `accept` the token
 * chosen, `isTerminated` once the grammar is complete and a stop token was accepted. The stop tokens are allowed
 * exactly when the text so far is complete, so the grammar never blocks the end of generation.
 */
export class GrammarConstraint {
  private readonly masked: Float32Array;
  private bitmask: Int32Array | null = null;
  private disposed = false;
  /** Tokens accepted so far (a mask computed for an earlier step is dropped). */
  private step = 0;

  private constructor(
    private readonly matcher: Matcher,
    readonly vocabSize: number,
    private readonly closing: Uint8Array,
    private readonly printable: Int32Array,
  ) {
    this.masked = new Float32Array(vocabSize);
  }

  static async create(tok: GrammarTokenizer, spec: GrammarSpec, opts: { vocabSize: number; stopIds: readonly number[] }): Promise<GrammarConstraint> {
    const entry = compilerFor(tok, opts.vocabSize, opts.stopIds);
    const key = JSON.stringify(spec);
    let compiled = entry.grammars.get(key);
    if (!compiled) {
      compiled = (async () => {
        const c = await entry.compiler;
        try {
          // One line with Python's json.dumps separators (Qwen's tool-call format) and no free whitespace: the
          // model cannot stall in endless blanks.
          return await c.compileJSONSchema(JSON.stringify(spec.schema), false, -1, [', ', ': '], spec.strict);
        } catch (e) {
          throw new GrammarError(`the schema cannot be compiled into a grammar: ${e instanceof Error ? e.message : String(e)}`);
        }
      })();
      compiled.catch(() => entry.grammars.delete(key));
      if (entry.grammars.size >= MAX_GRAMMARS) entry.grammars.delete(entry.grammars.keys().next().value as string);
      entry.grammars.set(key, compiled);
    }
    const xg = await loadXGrammar();
    return new GrammarConstraint(await xg.GrammarMatcher.createGrammarMatcher(await compiled, [...opts.stopIds]), opts.vocabSize, entry.closing, entry.printable);
  }

  /**
   * Compute the next step's allowed-token bitmask ahead (bit i of word i>>5; XGrammar answers it asynchronously), so
   * the synchronous methods can run inside a scheduler hook. Once per step; a no-op when it is ready.
   */
  async prepare(): Promise<void> {
    if (this.bitmask || this.disposed) return;
    const step = this.step;
    // XGrammar's JSON strings admit raw tabs and other control characters, which JSON forbids: AND them out
    // (one pass over V/32 words).
    const bm = await this.matcher.getNextTokenBitmask();
    // A token accepted (or the matcher disposed) meanwhile makes this mask stale.
    if (step !== this.step || this.disposed) return;
    const p = this.printable;
    for (let w = 0; w < bm.length && w < p.length; w++) bm[w] &= p[w];
    this.bitmask = bm;
  }

  /** Whether this step's mask is computed (`prepare` has finished since the last `accept`). */
  get ready(): boolean {
    return this.bitmask !== null;
  }

  private readyMask(): Int32Array {
    if (!this.bitmask) throw new GrammarError('the grammar mask of this step is not computed yet (call prepare first)');
    return this.bitmask;
  }

  /**
   * The row with every disallowed token at -Infinity, in a buffer this constraint reuses (valid until the next call).
   * Host work is a native fill plus one pass over the mask's words (V/32), touching only allowed tokens' logits.
   */
  async mask(logits: Float32Array): Promise<Float32Array> {
    await this.prepare();
    return this.maskReady(logits);
  }

  /** `mask` once `prepare` has finished (synchronous). */
  maskReady(logits: Float32Array): Float32Array {
    const bm = this.readyMask();
    const out = this.masked;
    out.fill(-Infinity);
    const n = Math.min(logits.length, this.vocabSize);
    forEachAllowed(bm, n, (i) => (out[i] = logits[i]));
    return out;
  }

  /** The allowed token with the highest logit (greedy decoding without touching the disallowed ones). */
  async argmax(logits: Float32Array): Promise<number> {
    await this.prepare();
    return this.argmaxReady(logits);
  }

  /** `argmax` once `prepare` has finished (synchronous). */
  argmaxReady(logits: Float32Array): number {
    const bm = this.readyMask();
    let best = -1;
    let bestV = -Infinity;
    forEachAllowed(bm, Math.min(logits.length, this.vocabSize), (i) => {
      if (best < 0 || logits[i] > bestV) {
        best = i;
        bestV = logits[i];
      }
    });
    if (best < 0) throw new GrammarError('the grammar allows no token here');
    return best;
  }

  /**
   * The allowed token that heads most directly to the end: a stop token, else a closing quote, else closing brackets, else a comma,
   * else the shortest; ties go to the higher logit. Used for the last tokens of the budget, so that an answer the
   * model would run past `maxTokens` (endless digits or strings, typical of small or random models) still completes.
   */
  async closingArgmax(logits: Float32Array): Promise<number> {
    await this.prepare();
    return this.closingArgmaxReady(logits);
  }

  /** `closingArgmax` once `prepare` has finished (synchronous). */
  closingArgmaxReady(logits: Float32Array): number {
    const bm = this.readyMask();
    const rank = this.closing;
    let best = -1;
    forEachAllowed(bm, Math.min(logits.length, this.vocabSize), (i) => {
      if (best < 0 || rank[i] < rank[best] || (rank[i] === rank[best] && logits[i] > logits[best])) best = i;
    });
    if (best < 0) throw new GrammarError('the grammar allows no token here');
    return best;
  }

  /** Advance past a chosen (or forced) token; false when the grammar rejects it (its state is then unchanged). */
  accept(token: number): boolean {
    this.bitmask = null;
    this.step++;
    return this.matcher.acceptToken(token);
  }

  /** Back to the start of the grammar (a new sequence). */
  reset(): void {
    this.bitmask = null;
    this.step++;
    this.matcher.reset();
  }

  isTerminated(): boolean {
    return this.matcher.isTerminated();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.bitmask = null;
    this.matcher.dispose();
  }
}

/**
 * Closing preference: 0 stop, 1 a quote then closing brackets (ends a string; inside one, brackets are just text),
 * 2 closing brackets, 3 a comma, 4 one character, 5 longer, 6 empty.
 */
function closingRanks(tok: GrammarTokenizer, vocabSize: number, stopIds: readonly number[]): Uint8Array {
  const r = new Uint8Array(vocabSize).fill(6);
  for (let i = 0; i < vocabSize; i++) {
    const t = tok.idToToken(i);
    if (!t) continue;
    r[i] = /^"[\]}]*$/.test(t) ? 1 : /^[\]}]+$/.test(t) ? 2 : t === ',' ? 3 : t.length === 1 ? 4 : 5;
  }
  for (const s of stopIds) if (s < vocabSize) r[s] = 0;
  return r;
}

function printableMask(tok: GrammarTokenizer, vocabSize: number, stopIds: readonly number[]): Int32Array {
  const m = new Int32Array(Math.ceil(vocabSize / 32)).fill(-1);
  const stops = new Set(stopIds);
  for (let i = 0; i < vocabSize; i++) {
    const t = tok.idToToken(i);
    // Byte-level tokens spell bytes 0x00-0x20 as U+0100-U+0120 ('Ġ' is the space 0x20, which stays allowed).
    if (t && !stops.has(i) && hasControl(t)) m[i >> 5] &= ~(1 << (i & 31));
  }
  return m;
}

function hasControl(t: string): boolean {
  for (let k = 0; k < t.length; k++) {
    const c = t.charCodeAt(k);
    if (c < 0x20 || (c >= 0x100 && c < 0x120)) return true;
  }
  return false;
}

function forEachAllowed(bm: Int32Array, n: number, f: (i: number) => void): void {
  const words = Math.ceil(n / 32);
  for (let w = 0; w < words; w++) {
    let bits = bm[w];
    while (bits !== 0) {
      const b = 31 - Math.clz32(bits & -bits);
      const i = (w << 5) | b;
      if (i < n) f(i);
      bits &= bits - 1;
    }
  }
}

// The checkpoint's byte-level BPE tokenizer (tokenizer.json) through @huggingface/tokenizers for encoding, and a
// byte-exact decoder of our own (token → bytes → UTF-8 with replacement) shared with the streaming detokenizer.

import { type SourceLike, openSource } from '../io/source.js';
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from '../errors.js';
import { tokenStringToBytes } from './byteLevel.js';

export interface DecodeOptions {
  /** Drop tokens marked `special` in tokenizer.json (`<|im_end|>`, vision tokens…; `<think>` is not special). */
  skipSpecialTokens?: boolean;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
}

/** Largest token id accepted from tokenizer.json (real vocabularies are a few hundred thousand). */
const MAX_TOKEN_ID = 2 ** 24;
const isTokenId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_TOKEN_ID;

export class QwenTokenizer {
  private readonly impl: Tokenizer;
  private readonly idToTokenMap: string[] = [];
  private readonly tokenToIdMap = new Map<string, number>();
  private readonly special = new Set<number>();
  private readonly bytesCache = new Map<number, Uint8Array>();
  /** Added tokens (special or not) by content. */
  readonly addedTokens: ReadonlyMap<string, number>;
  readonly eosToken: string | null;
  readonly padToken: string | null;

  private constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>) {
    const model = tokenizerJson.model as { type?: string; vocab?: Record<string, number> } | undefined;
    if (!model || typeof model.vocab !== 'object' || model.vocab === null || Array.isArray(model.vocab)) {
      throw new TokenizerError('tokenizer.json has no model.vocab');
    }
    // Ids index arrays here: anything but a modest non-negative integer is a broken file, not a token.
    for (const [tok, id] of Object.entries(model.vocab)) {
      if (!isTokenId(id)) throw new TokenizerError(`tokenizer.json: vocabulary entry ${JSON.stringify(tok.slice(0, 40))} has id ${JSON.stringify(id)} (expected an integer in 0..${MAX_TOKEN_ID})`);
    }
    const addedJson = tokenizerJson.added_tokens ?? [];
    if (!Array.isArray(addedJson)) throw new TokenizerError('tokenizer.json: added_tokens must be an array');
    addedJson.forEach((t: unknown, i) => {
      const a = t as Partial<AddedTokenJson> | null;
      if (!a || typeof a !== 'object' || !isTokenId(a.id) || typeof a.content !== 'string' || a.content.length === 0) {
        throw new TokenizerError(`tokenizer.json: added_tokens[${i}] must be {id: integer, content: non-empty string}`);
      }
    });
    try {
      this.impl = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`tokenizer.json could not be loaded: ${(e as Error).message}`);
    }
    for (const [tok, id] of Object.entries(model.vocab)) {
      this.idToTokenMap[id] = tok;
      this.tokenToIdMap.set(tok, id);
    }
    const added = new Map<string, number>();
    for (const t of addedJson as AddedTokenJson[]) {
      this.idToTokenMap[t.id] = t.content;
      this.tokenToIdMap.set(t.content, t.id);
      added.set(t.content, t.id);
      if (t.special === true) this.special.add(t.id);
    }
    this.addedTokens = added;
    const tokenName = (v: unknown) => (typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String((v as { content: unknown }).content) : null);
    this.eosToken = tokenName(config.eos_token);
    this.padToken = tokenName(config.pad_token);
  }

  /** From parsed tokenizer.json (and optionally tokenizer_config.json). */
  static fromJson(tokenizerJson: unknown, config: unknown = {}): QwenTokenizer {
    if (!tokenizerJson || typeof tokenizerJson !== 'object') throw new TokenizerError('tokenizer.json must be an object');
    return new QwenTokenizer(tokenizerJson as Record<string, unknown>, (config ?? {}) as Record<string, unknown>);
  }

  /** From a checkpoint folder or URL holding tokenizer.json (tokenizer_config.json optional). */
  static async fromDir(dir: SourceLike): Promise<QwenTokenizer> {
    const src = await openSource(dir);
    if (!(await src.exists('tokenizer.json'))) throw new TokenizerError(`${src.location}: no tokenizer.json (vocab.json + merges.txt alone are not supported)`);
    const parse = async (name: string) => {
      try {
        return JSON.parse(await src.readText(name));
      } catch (e) {
        throw new TokenizerError(`${src.resolve(name)}: ${(e as Error).message}`);
      }
    };
    return QwenTokenizer.fromJson(await parse('tokenizer.json'), (await src.exists('tokenizer_config.json')) ? await parse('tokenizer_config.json') : {});
  }

  /** Number of ids (base vocabulary plus added tokens). */
  get vocabSize(): number {
    return this.idToTokenMap.length;
  }

  /** Token ids of `text`; added tokens in the text are matched whole; nothing is prepended or appended. */
  encode(text: string): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`encode expects a string, got ${typeof text}`);
    try {
      return this.impl.encode(text, { add_special_tokens: false }).ids;
    } catch (e) {
      throw new TokenizerError(`cannot tokenise the text: ${(e as Error).message}`);
    }
  }

  tokenToId(token: string): number | undefined {
    return this.tokenToIdMap.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenMap[id];
  }

  isSpecial(id: number): boolean {
    return this.special.has(id);
  }

  /** The id of a token that must exist (vision and chat tokens). */
  requireId(token: string): number {
    const id = this.tokenToIdMap.get(token);
    if (id === undefined) throw new TokenizerError(`token ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  /** Raw bytes a token stands for. */
  tokenBytes(id: number): Uint8Array {
    let b = this.bytesCache.get(id);
    if (!b) {
      const tok = this.idToTokenMap[id];
      if (tok === undefined || !Number.isInteger(id)) throw new TokenizerError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
      b = tokenStringToBytes(tok);
      this.bytesCache.set(id, b);
    }
    return b;
  }

  /** Text of `ids`; invalid UTF-8 (a split character) becomes U+FFFD as in the reference (`errors="replace"`). */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (opts.skipSpecialTokens && this.special.has(id)) continue;
      const b = this.tokenBytes(id);
      parts.push(b);
      n += b.length;
    }
    const all = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(all);
  }

  /** The library's own decode, kept to cross-check ours in tests. */
  referenceDecode(ids: number[], opts: DecodeOptions = {}): string {
    return this.impl.decode(ids, { skip_special_tokens: !!opts.skipSpecialTokens, clean_up_tokenization_spaces: false });
  }
}

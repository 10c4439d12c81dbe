// Incremental detokenization for streamed generation: tokens are turned into bytes and fed through a streaming
// UTF-8 decoder, so a character split across tokens is held back until complete and never emitted as halves.

import type { QwenTokenizer } from './tokenizer.js';

export interface StreamingOptions {
  skipSpecialTokens?: boolean;
}

export class StreamingDetokenizer {
  private decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private textSoFar = '';

  constructor(
    /** `vocabSize`, when given: ids at or past it (a checkpoint's padding rows beyond the tokenizer) decode to nothing. */
    private readonly tokenizer: Pick<QwenTokenizer, 'isSpecial' | 'tokenBytes'> & { readonly vocabSize?: number },
    private readonly opts: StreamingOptions = { skipSpecialTokens: true },
  ) {}

  /** Feed one or more token ids; returns the text completed by them (possibly empty). */
  push(ids: number | ArrayLike<number>): string {
    const list = typeof ids === 'number' ? [ids] : ids;
    let out = '';
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (this.opts.skipSpecialTokens && this.tokenizer.isSpecial(id)) continue;
      // A model may emit an id of its embedding's padding rows (vocab_size > the tokenizer's): as in transformers, no text.
      const n = this.tokenizer.vocabSize;
      if (n !== undefined && Number.isInteger(id) && id >= n) continue;
      out += this.decoder.decode(this.tokenizer.tokenBytes(id), { stream: true });
    }
    this.textSoFar += out;
    return out;
  }

  /** End of stream: bytes of an unfinished character come out as U+FFFD (as a full decode would give). */
  flush(): string {
    const out = this.decoder.decode();
    this.textSoFar += out;
    this.decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return out;
  }

  /** All text emitted so far. */
  get text(): string {
    return this.textSoFar;
  }
}

// Stop strings over streamed text: text is released only once it can no longer be the start of a stop string,
// and everything from the first stop string on is dropped.

export class StopMatcher {
  private buf = '';
  private done = false;

  constructor(private readonly stops: readonly string[]) {
    for (const s of stops) if (typeof s !== 'string' || s.length === 0) throw new Error('stop strings must be non-empty strings');
  }

  get stopped(): boolean {
    return this.done;
  }

  /** Feed text; returns what may be emitted now and whether a stop string was reached. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.done) return { text: '', stopped: true };
    this.buf += text;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.buf.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.done = true;
      const out = this.buf.slice(0, cut);
      this.buf = '';
      return { text: out, stopped: true };
    }
    const hold = partialSuffix(this.buf, this.stops);
    const out = this.buf.slice(0, this.buf.length - hold);
    this.buf = this.buf.slice(this.buf.length - hold);
    return { text: out, stopped: false };
  }

  /** Release whatever is held back (the stream ended without a stop string). */
  flush(): string {
    const out = this.done ? '' : this.buf;
    this.buf = '';
    return out;
  }
}

/** Length of the longest suffix of `s` that is a proper prefix of one of `patterns` (text to hold back). */
export function partialSuffix(s: string, patterns: readonly string[]): number {
  const max = Math.max(0, ...patterns.map((t) => t.length - 1));
  for (let n = Math.min(max, s.length); n > 0; n--) {
    const tail = s.slice(s.length - n);
    if (patterns.some((t) => t.startsWith(tail))) return n;
  }
  return 0;
}

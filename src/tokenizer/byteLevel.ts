// GPT-2 byte-level alphabet: every byte maps to one printable code point in token strings. Decoding maps token
// characters back to bytes, so text is rebuilt at the byte level and UTF-8 is only interpreted at the end.

let charToByte: Map<number, number> | null = null;

function table(): Map<number, number> {
  if (charToByte) return charToByte;
  const m = new Map<number, number>();
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (printable(b)) m.set(b, b);
    else m.set(256 + extra++, b);
  }
  charToByte = m;
  return m;
}

/** The alphabet in byte order: the token string of each single byte (what a byte-level vocabulary's first 256 are). */
export function byteLevelAlphabet(): string[] {
  const out = new Array<string>(256);
  for (const [ch, b] of table()) out[b] = String.fromCodePoint(ch);
  return out;
}

const utf8 = new TextEncoder();

/**
 * Bytes of one token string. A token containing a character outside the byte alphabet (an added token with
 * arbitrary text) contributes its UTF-8 bytes as is, matching the reference ByteLevel decoder.
 */
export function tokenStringToBytes(token: string): Uint8Array {
  const m = table();
  const out: number[] = [];
  for (const ch of token) {
    const b = m.get(ch.codePointAt(0)!);
    if (b === undefined) return utf8.encode(token);
    out.push(b);
  }
  return Uint8Array.from(out);
}

// An independent, slow byte-level BPE written straight from tokenizer.json's rules (NFC normaliser, the split
// regex, byte-to-unicode map, merges by rank, added tokens matched first). Tests derive expected ids with it
// instead of inventing them; it shares no code with the library under test.

interface TokJson {
  normalizer: { type: string } | null;
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string }[];
}

// The declared pattern, with the `(?i:...)` group spelled out (JavaScript has no inline case-insensitive groups).
const SPLIT = new RegExp(
  String.raw`'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  'gu',
);

function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out: string[] = [];
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

export class ReferenceBpe {
  private readonly ranks = new Map<string, number>();
  private readonly b2u = byteToUnicode();
  private readonly added: { id: number; content: string }[];

  constructor(private readonly tj: TokJson) {
    tj.model.merges.forEach((m, i) => this.ranks.set(Array.isArray(m) ? `${m[0]} ${m[1]}` : m, i));
    this.added = [...tj.added_tokens].sort((a, b) => b.content.length - a.content.length);
  }

  /** Pre-tokenizer pieces of a plain text segment (no added tokens in it). */
  pieces(text: string): string[] {
    return text.match(SPLIT) ?? [];
  }

  private bpe(piece: string): number[] {
    let parts = [...new TextEncoder().encode(piece)].map((b) => this.b2u[b]);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = parts[best];
      const b = parts[best + 1];
      const next: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(parts[i]);
      }
      parts = next;
    }
    return parts.map((p) => {
      const id = this.tj.model.vocab[p];
      if (id === undefined) throw new Error(`reference BPE: ${p} not in vocab`);
      return id;
    });
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let rest = text;
    while (rest.length) {
      let at = -1;
      let tok: { id: number; content: string } | null = null;
      for (const a of this.added) {
        const i = rest.indexOf(a.content);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          tok = a;
        }
      }
      const plain = at < 0 ? rest : rest.slice(0, at);
      const norm = this.tj.normalizer?.type === 'NFC' ? plain.normalize('NFC') : plain;
      for (const p of this.pieces(norm)) out.push(...this.bpe(p));
      if (!tok) break;
      out.push(tok.id);
      rest = rest.slice(at + tok.content.length);
    }
    return out;
  }
}

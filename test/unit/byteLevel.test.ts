// The GPT-2 byte-level alphabet (shared by the tokenizer, the demo's fallback tokenizer and the GGUF export).
import { describe, expect, it } from 'vitest';
import { byteLevelAlphabet, tokenStringToBytes } from '../../src/tokenizer/byteLevel.js';

describe('byte-level alphabet', () => {
  it('maps printable bytes to themselves and the rest to 256+, and decodes back byte for byte', () => {
    const a = byteLevelAlphabet();
    expect([a[0x21], a[0x7e], a[0], a[10], a[32], a[0xad]]).toEqual(['!', '~', 'Ā', 'Ċ', 'Ġ', 'Ń']);
    expect(new Set(a).size).toBe(256);
    for (let b = 0; b < 256; b++) expect([b, [...tokenStringToBytes(a[b])]]).toEqual([b, [b]]);
  });
});

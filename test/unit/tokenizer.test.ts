// Tokenizer parity: the reference ids of video/golden.json, hard cases checked against an independent BPE built
// from tokenizer.json's rules, decode (special tokens, split UTF-8) and the streaming detokenizer.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { QwenTokenizer, StreamingDetokenizer, TokenizerError } from '../../src/processor/index.js';
import { ReferenceBpe } from '../helpers/referenceBpe.js';
import { readJson, tokenizerDir, videoDir } from '../helpers/processorFixtures.js';

let tok: QwenTokenizer;
let ref: ReferenceBpe;
const golden = readJson<{ tokenizer: { text: string; ids: number[] }[] }>(path.join(videoDir, 'golden.json')).tokenizer;

beforeAll(async () => {
  tok = await QwenTokenizer.fromDir(tokenizerDir);
  ref = new ReferenceBpe(JSON.parse(readFileSync(path.join(tokenizerDir, 'tokenizer.json'), 'utf8')));
});

// Hard cases; expected ids come from the reference BPE above, never typed in.
const HARD = [
  '',
  ' ',
  '    ',
  'a  b   c\t\t d',
  '\n\n\n',
  ' \n \r\n\t\n',
  'trailing spaces   ',
  '中文分词测试：深度学习模型的推理引擎。日本語のテキストも。한국어 문장.',
  '👨‍👩‍👧‍👦 family, 🇫🇷 flag, e\u0301 (decomposed é), Ω',
  'x<|im_start|>y<|im_end|>z<|vision_start|><|image_pad|><|vision_end|>',
  '<|im_start|><|im_start|>',
  '<think>\n\n</think>\n\n<think>nested <think>?</think>',
  '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>',
  "I'm sure they'LL say it's 'quoted' don't",
  '1234567890 3.14159 -42 1e-9 0x1F',
  'fn main() { println!("{}", x); }\n\treturn;',
  '\u0000\u0001\u007f\u00ad\ufeff',
  'https://example.com/a?b=c&d=e#f',
  '<|endoftext|>tail',
  '<|im_end',
];

describe('tokenizer', () => {
  it('matches the reference ids for every golden string', () => {
    for (const c of golden) expect(tok.encode(c.text), JSON.stringify(c.text)).toEqual(c.ids);
    expect(golden.length).toBeGreaterThanOrEqual(7);
  });

  it('the reference BPE reproduces the golden ids too (so it can vouch for the hard cases)', () => {
    for (const c of golden) expect(ref.encode(c.text)).toEqual(c.ids);
  });

  it.each(HARD.map((s) => [s]))('hard case %j: ids follow tokenizer.json rules and round-trip', (s) => {
    const ids = tok.encode(s);
    expect(ids).toEqual(ref.encode(s));
    expect(tok.decode(ids)).toBe(s.normalize('NFC'));
  });

  it('special tokens inside text are single ids and split the text around them', () => {
    const ids = tok.encode('a<|im_end|>b');
    expect(ids).toEqual([...tok.encode('a'), 151645, ...tok.encode('b')]);
    expect(tok.encode('<|vision_start|><|image_pad|><|vision_end|>')).toEqual([151652, 151655, 151653]);
    expect(tok.encode('<think></think>')).toEqual([151667, 151668]);
  });

  it('whitespace runs follow the split regex: the last space joins the next word', () => {
    // "a   b" splits into "a", "  ", " b" (\s+(?!\S) leaves one space for the word).
    expect(ref.pieces('a   b')).toEqual(['a', '  ', ' b']);
    expect(tok.encode('a   b')).toEqual([...tok.encode('a'), ...tok.encode('  '), ...tok.encode(' b')]);
  });

  it('decode: skipSpecialTokens drops special tokens but keeps <think> and <tool_call>', () => {
    const ids = tok.encode('<|im_start|>assistant\n<think>\nr\n</think>\n\n<tool_call>x</tool_call><|im_end|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('assistant\n<think>\nr\n</think>\n\n<tool_call>x</tool_call>');
    expect(tok.decode(ids)).toBe('<|im_start|>assistant\n<think>\nr\n</think>\n\n<tool_call>x</tool_call><|im_end|>');
  });

  it('decode agrees with the library decoder, including split UTF-8 (replacement characters)', () => {
    const ids = [...golden.flatMap((c) => c.ids), 11162, 97, 151645];
    for (const skip of [false, true]) expect(tok.decode(ids, { skipSpecialTokens: skip })).toBe(tok.referenceDecode(ids, { skipSpecialTokens: skip }));
    expect(tok.decode([11162, 97])).toBe(tok.referenceDecode([11162, 97]));
    expect(tok.decode([11162, 97])).toContain('\ufffd');
  });

  it('rejects ids outside the vocabulary and non-string input', () => {
    expect(() => tok.decode([tok.vocabSize + 5])).toThrow(TokenizerError);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
    expect(() => tok.encode(42 as unknown as string)).toThrow(TokenizerError);
  });

  it('reports missing tokenizer.json clearly', async () => {
    await expect(QwenTokenizer.fromDir('/nonexistent-dir')).rejects.toThrow(/no tokenizer.json/);
  });
});

describe('StreamingDetokenizer', () => {
  it('never emits half a character and ends with the full decode', () => {
    const text = 'emoji 🤖👍🏽 and 中文, café <think>x</think>';
    const ids = tok.encode(`<|im_start|>${text}<|im_end|>`);
    const s = new StreamingDetokenizer(tok);
    const pieces: string[] = [];
    for (const id of ids) pieces.push(s.push(id));
    pieces.push(s.flush());
    expect(pieces.join('')).toBe(text);
    expect(pieces.join('')).toBe(tok.decode(ids, { skipSpecialTokens: true }));
    for (const p of pieces) expect(p).not.toContain('\ufffd');
    // " 🤖" is split over three byte tokens (golden: 11162, 97, 244): the space comes out at once, the emoji only with its last byte.
    const robot = tok.encode(' 🤖');
    expect(robot.length).toBeGreaterThan(1);
    const r = new StreamingDetokenizer(tok);
    expect(robot).toHaveLength(3);
    expect(robot.map((id) => r.push(id))).toEqual([' ', '', '🤖']);
  });

  it('streaming decode gives no text for padding ids past the tokenizer (a model may emit them), as transformers', () => {
    const s = new StreamingDetokenizer(tok);
    const hello = tok.encode('Hello');
    expect(s.push([...hello, tok.vocabSize, tok.vocabSize + 200])).toBe('Hello');
    expect(() => new StreamingDetokenizer(tok).push(-1)).toThrow(/outside the vocabulary/);
  });

  it('an unfinished character at the end comes out as U+FFFD on flush', () => {
    const s = new StreamingDetokenizer(tok, { skipSpecialTokens: false });
    expect(s.push([11162, 97])).toBe(' ');
    expect(s.flush()).toBe('\ufffd');
    expect(s.text).toBe(tok.decode([11162, 97]));
  });
});

// Stop strings, reasoning/answer splitting and tool-call parsing over text streamed in awkward pieces.
import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/generate/stop.js';
import { OutputParser, type OutputEvent } from '../../src/generate/output.js';

/** Feed `text` in pieces of `n` characters; return the concatenated emitted text and whether it stopped. */
function runStop(stops: string[], text: string, n: number) {
  const m = new StopMatcher(stops);
  let out = '';
  for (let i = 0; i < text.length && !m.stopped; i += n) out += m.push(text.slice(i, i + n)).text;
  if (!m.stopped) out += m.flush();
  return { out, stopped: m.stopped };
}

function runParser(text: string, n: number, startInReasoning = false) {
  const p = new OutputParser({ startInReasoning });
  const ev: OutputEvent[] = [];
  for (let i = 0; i < text.length; i += n) ev.push(...p.push(text.slice(i, i + n)));
  ev.push(...p.flush());
  const cat = (t: string) => ev.filter((e) => e.type === t).map((e) => (e as { text: string }).text).join('');
  return { text: cat('text'), reasoning: cat('reasoning'), calls: ev.flatMap((e) => (e.type === 'tool_call' ? [e.call] : [])) };
}

describe('StopMatcher', () => {
  for (const n of [1, 2, 3, 100]) {
    it(`cuts at the first stop string, fed ${n} chars at a time`, () => {
      expect(runStop(['END', 'STOP'], 'hello ENtirely STOP and END', n)).toEqual({ out: 'hello ENtirely ', stopped: true });
      expect(runStop(['END'], 'no stop here, EN', n)).toEqual({ out: 'no stop here, EN', stopped: false });
    });
  }
  it('never releases a possible stop prefix early', () => {
    const m = new StopMatcher(['</answer>']);
    expect(m.push('ok </ans').text).toBe('ok ');
    expect(m.push('wer> tail')).toEqual({ text: '', stopped: true });
  });
  it('rejects empty stop strings', () => {
    expect(() => new StopMatcher([''])).toThrow(/non-empty/);
  });
});

describe('OutputParser', () => {
  for (const n of [1, 2, 5, 1000]) {
    it(`separates reasoning opened by the template (pieces of ${n})`, () => {
      expect(runParser('Let me think.\n</think>\n\nThe answer is 4.', n, true)).toEqual({ text: 'The answer is 4.', reasoning: 'Let me think.\n', calls: [] });
    });
    it(`separates reasoning the model opens itself (pieces of ${n})`, () => {
      expect(runParser('<think>\nhmm\n</think>\n\nYes.', n)).toEqual({ text: 'Yes.', reasoning: '\nhmm\n', calls: [] });
    });
    it(`parses tool calls (pieces of ${n})`, () => {
      const r = runParser('Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', n);
      expect(r.text).toBe('Checking.\n');
      expect(r.calls).toEqual([{ id: 'call_0', name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    });
  }
  it('keeps a malformed or unfinished tool call as text', () => {
    expect(runParser('<tool_call>{not json}</tool_call>', 3).text).toBe('<tool_call>{not json}</tool_call>');
    expect(runParser('a <tool_call>{"name": "x"', 4).text).toBe('a <tool_call>{"name": "x"');
  });
  it('does not treat <think> inside an answer as reasoning', () => {
    expect(runParser('Use the <think> tag.', 2)).toEqual({ text: 'Use the <think> tag.', reasoning: '', calls: [] });
  });
  it('an unclosed reasoning block stays reasoning', () => {
    expect(runParser('still thinking', 3, true)).toEqual({ text: '', reasoning: 'still thinking', calls: [] });
  });
});

// Splits the model's streamed text into reasoning (`<think>…</think>`), answer text and tool calls
// (`<tool_call>{json}</tool_call>`), holding back partial tags so no tag leaks into the output.

import { partialSuffix } from './stop.js';

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text of the arguments object (as OpenAI clients expect). */
  readonly arguments: string;
}

export type OutputEvent =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'reasoning'; readonly text: string }
  | { readonly type: 'tool_call'; readonly call: ToolCall };

const THINK = '<think>';
const END_THINK = '</think>';
const TOOL = '<tool_call>';
const END_TOOL = '</tool_call>';

type State = 'reasoning' | 'content' | 'tool';

export class OutputParser {
  private state: State;
  private buf = '';
  private tool = '';
  /** Newlines right after `</think>` belong to the template, not to the answer. */
  private trimLeading = false;
  private sawContent = false;
  private calls = 0;

  constructor(
    opts: { startInReasoning?: boolean; parseTools?: boolean } = {},
    private readonly idPrefix = 'call',
  ) {
    this.state = opts.startInReasoning ? 'reasoning' : 'content';
    this.parseTools = opts.parseTools ?? true;
  }

  private readonly parseTools: boolean;

  get inReasoning(): boolean {
    return this.state === 'reasoning';
  }

  get toolCalls(): number {
    return this.calls;
  }

  push(text: string): OutputEvent[] {
    this.buf += text;
    return this.drain(false);
  }

  /** End of stream: emit what is held back (an unfinished tool call is returned as text). */
  flush(): OutputEvent[] {
    const ev = this.drain(true);
    if (this.state === 'tool') {
      ev.push({ type: 'text', text: TOOL + this.tool });
      this.tool = '';
      this.state = 'content';
    }
    return ev;
  }

  private drain(final: boolean): OutputEvent[] {
    const ev: OutputEvent[] = [];
    const emit = (type: 'text' | 'reasoning', t: string) => {
      if (type === 'text' && this.trimLeading) {
        t = t.replace(/^\n+/, '');
        if (t) this.trimLeading = false;
      }
      if (!t) return;
      if (type === 'text') this.sawContent = true;
      const last = ev[ev.length - 1];
      if (last && last.type === type) ev[ev.length - 1] = { type, text: last.text + t };
      else ev.push({ type, text: t });
    };
    for (;;) {
      const tags = this.state === 'reasoning' ? [END_THINK] : this.state === 'tool' ? [END_TOOL] : this.contentTags();
      const hit = earliest(this.buf, tags);
      if (hit) {
        const before = this.buf.slice(0, hit.index);
        this.buf = this.buf.slice(hit.index + hit.tag.length);
        if (this.state === 'tool') {
          ev.push(...this.finishTool(this.tool + before));
          this.tool = '';
          this.state = 'content';
        } else {
          emit(this.state === 'reasoning' ? 'reasoning' : 'text', before);
          if (hit.tag === END_THINK) {
            this.state = 'content';
            this.trimLeading = true;
          } else if (hit.tag === THINK) this.state = 'reasoning';
          else this.state = 'tool';
        }
        continue;
      }
      const hold = final ? 0 : partialSuffix(this.buf, tags);
      const out = this.buf.slice(0, this.buf.length - hold);
      this.buf = this.buf.slice(this.buf.length - hold);
      if (this.state === 'tool') this.tool += out;
      else emit(this.state === 'reasoning' ? 'reasoning' : 'text', out);
      return ev;
    }
  }

  /** In the answer, `<think>` opens reasoning only before any answer text; tool calls anywhere. */
  private contentTags(): string[] {
    const tags = this.parseTools ? [TOOL] : [];
    if (!this.sawContent && !this.trimLeading) tags.push(THINK);
    return tags;
  }

  private finishTool(body: string): OutputEvent[] {
    try {
      const j = JSON.parse(body.trim());
      if (!j || typeof j !== 'object' || typeof j.name !== 'string') throw new Error('no name');
      const args = j.arguments ?? j.parameters ?? {};
      const call = { id: `${this.idPrefix}_${this.calls++}`, name: j.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) };
      return [{ type: 'tool_call', call }];
    } catch {
      // Not a well-formed call: keep the text rather than lose it.
      return [{ type: 'text', text: TOOL + body + END_TOOL }];
    }
  }
}

function earliest(s: string, tags: readonly string[]): { index: number; tag: string } | null {
  let best: { index: number; tag: string } | null = null;
  for (const tag of tags) {
    const i = s.indexOf(tag);
    if (i >= 0 && (!best || i < best.index)) best = { index: i, tag };
  }
  return best;
}

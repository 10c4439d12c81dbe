// Chat templates: which template a checkpoint folder gets, and the built-in Qwen3-VL format (spec §7): system,
// multi-turn, images/videos with optional ids, tools, tool calls and responses, thinking.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BUILTIN_INSTRUCT_TEMPLATE,
  BUILTIN_THINKING_TEMPLATE,
  ChatTemplate,
  ChatTemplateError,
  isVisionTemplate,
  loadChatTemplate,
  type ChatMessage,
} from '../../src/processor/index.js';
import { tinyDenseDir, tokenizerDir } from '../helpers/processorFixtures.js';

const instruct = new ChatTemplate(BUILTIN_INSTRUCT_TEMPLATE, 'builtin-instruct');
const thinking = new ChatTemplate(BUILTIN_THINKING_TEMPLATE, 'builtin-thinking');
const img = { type: 'image', image: 'a.png' } as const;
const vid = { type: 'video', video: 'v.mp4' } as const;
const text = (t: string) => ({ type: 'text', text: t }) as const;
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-chat-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('template selection', () => {
  it('tiny-dense has none: the built-in Qwen3-VL instruct template', async () => {
    expect((await loadChatTemplate(tinyDenseDir)).origin).toBe('builtin-instruct');
    expect((await loadChatTemplate(tinyDenseDir, { builtin: 'thinking' })).origin).toBe('builtin-thinking');
  });

  it("the tokenizer fixture's text-only Qwen3 template is not used for a VL checkpoint", async () => {
    const t = await loadChatTemplate(tokenizerDir);
    expect(t.origin).toBe('builtin-instruct');
  });

  it('chat_template.jinja wins over chat_template.json, which wins over tokenizer_config.json', async () => {
    const dir = path.join(tmp, 'ckpt');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: '<|vision_start|>cfg' }));
    expect((await loadChatTemplate(dir)).origin).toBe('tokenizer_config.json');
    writeFileSync(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: 'json' }));
    expect((await loadChatTemplate(dir)).source).toBe('json');
    writeFileSync(path.join(dir, 'chat_template.jinja'), 'jinja');
    expect((await loadChatTemplate(dir)).source).toBe('jinja');
    expect((await loadChatTemplate(dir, { chatTemplate: 'mine' })).origin).toBe('custom');
    copyFileSync(path.join(tokenizerDir, 'tokenizer_config.json'), path.join(dir, 'tokenizer_config.json'));
    expect(isVisionTemplate(BUILTIN_INSTRUCT_TEMPLATE)).toBe(true);
  });

  it('a malformed template or template JSON is a ChatTemplateError', async () => {
    expect(() => new ChatTemplate('{% if %}')).toThrow(ChatTemplateError);
    const dir = path.join(tmp, 'bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'chat_template.json'), '{not json');
    await expect(loadChatTemplate(dir)).rejects.toThrow(ChatTemplateError);
    expect(() => new ChatTemplate("{{ raise_exception('no system') }}").render([{ role: 'user', content: 'x' }])).toThrow(/no system/);
  });
});

describe('built-in instruct template', () => {
  it('one image and text, generation prompt (spec §7.2 example)', () => {
    expect(instruct.render([{ role: 'user', content: [img, text('Describe this image.')] }], { addGenerationPrompt: true })).toBe(
      '<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('multi-turn with a system message (spec §7.5), no default system prompt', () => {
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'S' },
      { role: 'user', content: [img, text('Q1')] },
      { role: 'assistant', content: 'A1' },
      { role: 'user', content: 'Q2' },
    ];
    expect(instruct.render(msgs, { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(instruct.render([{ role: 'user', content: 'hi' }])).toBe('<|im_start|>user\nhi<|im_end|>\n');
  });

  it('vision ids count across the conversation; later system messages and system images are dropped', () => {
    const msgs: ChatMessage[] = [
      { role: 'system', content: [text('S1'), img, text('S2')] },
      { role: 'user', content: [img, vid, img] },
      { role: 'system', content: 'dropped' },
      { role: 'user', content: [vid] },
    ];
    expect(instruct.render(msgs, { addVisionId: true })).toBe(
      '<|im_start|>system\nS1S2<|im_end|>\n<|im_start|>user\nPicture 1: <|vision_start|><|image_pad|><|vision_end|>Video 1: <|vision_start|><|video_pad|><|vision_end|>Picture 2: <|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>user\nVideo 2: <|vision_start|><|video_pad|><|vision_end|><|im_end|>\n',
    );
  });

  it('tools: preamble in the system turn, tool calls, merged tool responses (spec §7.3)', () => {
    const tool = { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'S' },
      { role: 'user', content: 'Weather in Zürich and Bern?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { type: 'function', function: { name: 'get_weather', arguments: { city: 'Zürich' } } },
          { type: 'function', function: { name: 'get_weather', arguments: '{"city": "Bern"}' } },
        ],
      },
      { role: 'tool', content: '12°C' },
      { role: 'tool', content: [img, text('map')] },
    ];
    const out = instruct.render(msgs, { tools: [tool], addGenerationPrompt: true });
    expect(out).toBe(
      '<|im_start|>system\nS\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
        '{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}' +
        '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\nWeather in Zürich and Bern?<|im_end|>\n' +
        '<|im_start|>assistant\nChecking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Bern"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n12°C\n</tool_response>\n<tool_response>\n<|vision_start|><|image_pad|><|vision_end|>map\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it('a tool call without content gets no leading newline; null content is empty', () => {
    const out = instruct.render([{ role: 'assistant', content: null, tool_calls: [{ name: 'f', arguments: {} }] }]);
    expect(out).toBe('<|im_start|>assistant\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call><|im_end|>\n');
  });
});

describe('built-in thinking template', () => {
  it('generation prompt opens a think block; reasoning kept only after the last query', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: '<think>\nr1\n</think>\n\nA1' },
      { role: 'user', content: 'Q2' },
      { role: 'assistant', content: 'A2', reasoning_content: 'r2' },
      { role: 'user', content: 'Q3' },
    ];
    expect(thinking.render(msgs, { addGenerationPrompt: true })).toBe(
      '<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\nA2<|im_end|>\n<|im_start|>user\nQ3<|im_end|>\n<|im_start|>assistant\n<think>\n',
    );
    const last: ChatMessage[] = [
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: '<think>\nplan\n</think>\n\nanswer' },
    ];
    expect(thinking.render(last)).toBe('<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nplan\n</think>\n\nanswer<|im_end|>\n');
  });

  it('renders later system messages and tool-response turns do not count as queries', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: '<think>\nx\n</think>\n\ncall', tool_calls: [{ name: 'f', arguments: {} }] },
      { role: 'tool', content: 'r' },
      { role: 'assistant', content: '<think>\ny\n</think>\n\ndone' },
      { role: 'system', content: 'later' },
    ];
    const out = thinking.render(msgs);
    expect(out).toContain('<|im_start|>assistant\n<think>\nx\n</think>\n\ncall\n<tool_call>');
    expect(out).toContain('<|im_start|>assistant\n<think>\ny\n</think>\n\ndone<|im_end|>');
    expect(out.endsWith('<|im_start|>system\nlater<|im_end|>\n')).toBe(true);
  });
});

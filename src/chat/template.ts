// Chat template: pick the checkpoint's own template (chat_template.jinja > chat_template.json > a vision-aware
// tokenizer_config.json template) or the built-in Qwen3-VL one, and render messages with @huggingface/jinja
// (trim_blocks + lstrip_blocks, Python-style tojson) as transformers' apply_chat_template does.

import { type CheckpointSource, type SourceLike, openSource } from '../io/source.js';
import { Template } from '@huggingface/jinja';
import { ChatTemplateError, InvalidInputError } from '../errors.js';
import { BUILTIN_INSTRUCT_TEMPLATE, BUILTIN_THINKING_TEMPLATE } from './builtinTemplate.js';
import { normaliseMessages, type ChatMessage, type ToolSpec } from './messages.js';

export type TemplateOrigin = 'chat_template.jinja' | 'chat_template.json' | 'tokenizer_config.json' | 'builtin-instruct' | 'builtin-thinking' | 'custom';

export interface ChatTemplateSource {
  readonly source: string;
  readonly origin: TemplateOrigin;
}

export type BuiltinFlavour = 'instruct' | 'thinking';

export interface LoadTemplateOptions {
  /** Use this Jinja source instead of anything in the folder. */
  chatTemplate?: string;
  /** Which built-in template to use when the checkpoint has none (default 'instruct'). */
  builtin?: BuiltinFlavour;
}

/** A template written for images/videos (emits the vision placeholders); a text-only Qwen3 template is not. */
export function isVisionTemplate(source: string): boolean {
  return source.includes('<|vision_start|>') || source.includes('image_pad');
}

function pickNamed(t: unknown): string | null {
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const d = t.find((x) => x && typeof x === 'object' && (x as { name?: string }).name === 'default') ?? t[0];
    const s = d && typeof d === 'object' ? (d as { template?: unknown }).template : undefined;
    return typeof s === 'string' ? s : null;
  }
  return null;
}

async function readJsonFile(src: CheckpointSource, name: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await src.readText(name));
  } catch (e) {
    throw new ChatTemplateError(`${src.resolve(name)}: ${(e as Error).message}`);
  }
}

/**
 * Find the template of a checkpoint folder. A tokenizer_config.json template that never emits vision
 * placeholders is the text-only Qwen3 one and is skipped in favour of the built-in Qwen3-VL template.
 */
export async function loadChatTemplate(dir: SourceLike, opts: LoadTemplateOptions = {}): Promise<ChatTemplateSource> {
  if (opts.chatTemplate !== undefined) return { source: opts.chatTemplate, origin: 'custom' };
  const src = await openSource(dir);
  if (await src.exists('chat_template.jinja')) return { source: await src.readText('chat_template.jinja'), origin: 'chat_template.jinja' };
  if (await src.exists('chat_template.json')) {
    const s = pickNamed((await readJsonFile(src, 'chat_template.json')).chat_template);
    if (s === null) throw new ChatTemplateError(`${src.resolve('chat_template.json')}: no chat_template string`);
    return { source: s, origin: 'chat_template.json' };
  }
  if (await src.exists('tokenizer_config.json')) {
    const s = pickNamed((await readJsonFile(src, 'tokenizer_config.json')).chat_template);
    if (s !== null && isVisionTemplate(s)) return { source: s, origin: 'tokenizer_config.json' };
  }
  return builtinTemplate(opts.builtin ?? 'instruct');
}

export function builtinTemplate(flavour: BuiltinFlavour): ChatTemplateSource {
  return flavour === 'thinking'
    ? { source: BUILTIN_THINKING_TEMPLATE, origin: 'builtin-thinking' }
    : { source: BUILTIN_INSTRUCT_TEMPLATE, origin: 'builtin-instruct' };
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  tools?: ToolSpec[];
  /** Prefix vision placeholders with "Picture n: " / "Video n: ". */
  addVisionId?: boolean;
  /** Further template variables (e.g. enable_thinking for templates that read it). */
  extra?: Record<string, unknown>;
}

export class ChatTemplate {
  private readonly compiled: Template;

  constructor(
    readonly source: string,
    readonly origin: TemplateOrigin = 'custom',
    private readonly specialTokens: Record<string, string | null> = {},
  ) {
    try {
      this.compiled = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(`cannot parse chat template (${origin}): ${(e as Error).message}`);
    }
  }

  /** The prompt text for `messages` (content-part form; media replaced by placeholders the template can test). */
  render(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
    if (!Array.isArray(messages)) throw new InvalidInputError('messages must be an array');
    const vars: Record<string, unknown> = {
      ...this.specialTokens,
      ...opts.extra,
      messages: normaliseMessages(messages),
      add_generation_prompt: !!opts.addGenerationPrompt,
      add_vision_id: !!opts.addVisionId,
    };
    if (opts.tools !== undefined) {
      if (!Array.isArray(opts.tools)) throw new InvalidInputError('tools must be an array of tool specifications');
      vars.tools = opts.tools;
    }
    try {
      return this.compiled.render(vars);
    } catch (e) {
      if (e instanceof ChatTemplateError) throw e;
      throw new ChatTemplateError(`rendering the chat template (${this.origin}) failed: ${(e as Error).message}`);
    }
  }
}

// Built-in Qwen3-VL chat templates (Jinja), used when a checkpoint ships none: our own wording of the format in
// spec §7 — ChatML turns, vision placeholders, tool preamble and calls, merged tool responses; the "thinking"
// flavour adds Qwen3 reasoning handling and opens the answer with `<think>\n`.

const VISION_MACROS = String.raw`
{%- macro vision_or_text(part, counted) -%}
  {%- if part.type == 'image' or 'image' in part or 'image_url' in part -%}
    {%- if counted %}{% set counters.image = counters.image + 1 %}{% endif -%}
    {%- if add_vision_id %}Picture {{ counters.image }}: {% endif -%}
    <|vision_start|><|image_pad|><|vision_end|>
  {%- elif part.type == 'video' or 'video' in part or 'video_url' in part -%}
    {%- if counted %}{% set counters.video = counters.video + 1 %}{% endif -%}
    {%- if add_vision_id %}Video {{ counters.video }}: {% endif -%}
    <|vision_start|><|video_pad|><|vision_end|>
  {%- elif 'text' in part -%}
    {{- part.text -}}
  {%- endif -%}
{%- endmacro -%}
{%- macro with_vision(content, counted) -%}
  {%- if content is string -%}{{- content -}}
  {%- elif content -%}{%- for part in content -%}{{- vision_or_text(part, counted) -}}{%- endfor -%}
  {%- endif -%}
{%- endmacro -%}
{%- macro text_only(content) -%}
  {%- if content is string -%}{{- content -}}
  {%- elif content -%}{%- for part in content -%}{%- if 'text' in part -%}{{- part.text -}}{%- endif -%}{%- endfor -%}
  {%- endif -%}
{%- endmacro -%}
{%- macro tool_calls_block(message, has_content) -%}
  {%- for call in message.tool_calls -%}
    {%- if not loop.first or has_content -%}{{- '\n' -}}{%- endif -%}
    {%- set fn = call.function if call.function else call -%}
    {{- '<tool_call>\n{"name": "' + fn.name + '", "arguments": ' -}}
    {%- if fn.arguments is string -%}{{- fn.arguments -}}{%- else -%}{{- fn.arguments | tojson -}}{%- endif -%}
    {{- '}\n</tool_call>' -}}
  {%- endfor -%}
{%- endmacro -%}
{%- macro tool_preamble(tools) -%}
  {{- '# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>' -}}
  {%- for tool in tools -%}{{- '\n' + (tool | tojson) -}}{%- endfor -%}
  {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>' -}}
{%- endmacro -%}
`;

/** Instruct: system only at position 0 (text parts), no reasoning handling, generation prompt without <think>. */
export const BUILTIN_INSTRUCT_TEMPLATE = String.raw`{%- set counters = namespace(image=0, video=0) -%}` + VISION_MACROS + String.raw`
{%- set has_system = messages and messages[0].role == 'system' -%}
{%- if tools -%}
  {{- '<|im_start|>system\n' -}}
  {%- if has_system -%}{{- text_only(messages[0].content) + '\n\n' -}}{%- endif -%}
  {{- tool_preamble(tools) + '<|im_end|>\n' -}}
{%- elif has_system -%}
  {{- '<|im_start|>system\n' + text_only(messages[0].content) + '<|im_end|>\n' -}}
{%- endif -%}
{%- for message in messages -%}
  {%- if message.role == 'user' -%}
    {{- '<|im_start|>user\n' + with_vision(message.content, true) + '<|im_end|>\n' -}}
  {%- elif message.role == 'assistant' -%}
    {%- set body = text_only(message.content) -%}
    {{- '<|im_start|>assistant\n' + body -}}
    {%- if message.tool_calls -%}{{- tool_calls_block(message, message.content) -}}{%- endif -%}
    {{- '<|im_end|>\n' -}}
  {%- elif message.role == 'tool' -%}
    {%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
    {{- '\n<tool_response>\n' + with_vision(message.content, true) + '\n</tool_response>' -}}
    {%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\n' -}}{%- endif -%}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
`;

/**
 * Thinking: every system message rendered, reasoning of the turns after the last real user query kept in
 * <think> blocks (earlier reasoning dropped), generation prompt opening a <think> block.
 */
export const BUILTIN_THINKING_TEMPLATE = String.raw`{%- set counters = namespace(image=0, video=0) -%}` + VISION_MACROS + String.raw`
{%- if tools -%}
  {{- '<|im_start|>system\n' -}}
  {%- if messages and messages[0].role == 'system' -%}{{- with_vision(messages[0].content, false) + '\n\n' -}}{%- endif -%}
  {{- tool_preamble(tools) + '<|im_end|>\n' -}}
{%- elif messages and messages[0].role == 'system' -%}
  {{- '<|im_start|>system\n' + with_vision(messages[0].content, false) + '<|im_end|>\n' -}}
{%- endif -%}
{%- set scan = namespace(searching=true, last_query=messages | length - 1) -%}
{%- for message in messages[::-1] -%}
  {%- if scan.searching and message.role == 'user' -%}
    {%- set rendered = with_vision(message.content, false) -%}
    {%- if not (rendered.startswith('<tool_response>') and rendered.endswith('</tool_response>')) -%}
      {%- set scan.searching = false -%}
      {%- set scan.last_query = messages | length - 1 - loop.index0 -%}
    {%- endif -%}
  {%- endif -%}
{%- endfor -%}
{%- for message in messages -%}
  {%- set content = with_vision(message.content, true) -%}
  {%- if message.role == 'user' or (message.role == 'system' and not loop.first) -%}
    {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>\n' -}}
  {%- elif message.role == 'assistant' -%}
    {%- set reasoning = '' -%}
    {%- if message.reasoning_content is string -%}
      {%- set reasoning = message.reasoning_content -%}
    {%- elif '</think>' in content -%}
      {%- set reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') -%}
      {%- set content = content.split('</think>')[-1].lstrip('\n') -%}
    {%- endif -%}
    {%- if loop.index0 > scan.last_query and (loop.last or reasoning) -%}
      {{- '<|im_start|>assistant\n<think>\n' + reasoning.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') -}}
    {%- else -%}
      {{- '<|im_start|>assistant\n' + content -}}
    {%- endif -%}
    {%- if message.tool_calls -%}{{- tool_calls_block(message, content) -}}{%- endif -%}
    {{- '<|im_end|>\n' -}}
  {%- elif message.role == 'tool' -%}
    {%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
    {{- '\n<tool_response>\n' + content + '\n</tool_response>' -}}
    {%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\n' -}}{%- endif -%}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n<think>\n' -}}{%- endif -%}
`;

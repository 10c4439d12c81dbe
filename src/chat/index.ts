// Chat template entry points.
export { ChatTemplate, loadChatTemplate, builtinTemplate, isVisionTemplate, type ChatTemplateSource, type RenderOptions, type TemplateOrigin, type BuiltinFlavour } from './template.js';
export { BUILTIN_INSTRUCT_TEMPLATE, BUILTIN_THINKING_TEMPLATE } from './builtinTemplate.js';
export * from './messages.js';

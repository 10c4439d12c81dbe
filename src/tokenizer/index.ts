// Tokenizer entry points.
export { QwenTokenizer, type DecodeOptions } from './tokenizer.js';
export { StreamingDetokenizer, type StreamingOptions } from './streaming.js';

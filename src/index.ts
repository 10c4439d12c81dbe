// Public API of the qwen3-vl package.
export { loadModel, Qwen3VL, type EngineOptions } from './generate/engine.js';
export type { LoadOptions } from './models/qwen3vl/load.js';
export { streamChat, chat, withDefaults, type ChatEvent, type ChatOptions, type ChatResult, type ChatProcessor, type FinishReason, type Usage, type WireLogprob } from './generate/chat.js';
export { Sampler, type SamplingOptions } from './generate/sampler.js';
export { GrammarConstraint, responseFormatGrammar, toolCallGrammar, GrammarError, type ResponseFormat, type GrammarSpec } from './generate/grammar.js';
export { tokenLogprob, type TokenLogprob } from './generate/logprobs.js';
// The Hub functions themselves are Node-only: import them from 'qwen3-vl/hub'; loadModel takes ids directly.
export type { HubOptions, ResolvedModel, CachedModel as HubCachedModel } from './io/hub.js';
export { StopMatcher } from './generate/stop.js';
export { OutputParser, type ToolCall, type OutputEvent } from './generate/output.js';
export { Qwen3VLModel, type ForwardInputs, type ForwardOutput, type EncodedVision } from './models/qwen3vl/model.js';
export { ropeIndex } from './models/qwen3vl/positions.js';
export { KvCache } from './nn/kvCache.js';
export { createBackend, type BackendName, type Backend } from './backend/index.js';
export { loadConfig, parseConfig, type ModelConfig, type TextConfig, type VisionConfig } from './models/qwen3vl/config.js';
export { loadGenerationConfig, type GenerationConfig } from './config/generation.js';
export { Checkpoint, SafetensorsFile, SafetensorsWriter, writeSafetensors } from './io/safetensors.js';
export { openSource, type CheckpointSource, type RangeFile, type SourceLike } from './io/source.js';
export { FetchSource, type FetchSourceOptions } from './io/fetchSource.js';
export { CachedSource, weightCache, type CacheProgress, type CachedModel, type WeightCacheOptions } from './io/weightCache.js';
export { BlobSource } from './io/blobSource.js';
export type { WeightFormat } from './weights/convert.js';
export { tidy, Tensor } from './tensor/tensor.js';
export * from './processor/index.js';
export { Qwen3VLError, errorKind, HTTP_STATUS, type ErrorKind, AbortError, CliError, InputError, SamplingError, ConfigError, SafetensorsError, WeightError } from './errors.js';

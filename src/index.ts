// Public API of the qwen3-vl package.
export { loadModel, Qwen3VL, type EngineOptions } from './generate/engine.js';
export type { LoadOptions } from './models/qwen3vl/load.js';
export { streamChat, chat, withDefaults, type ChatEvent, type ChatOptions, type ChatResult, type ChatProcessor, type FinishReason, type Usage } from './generate/chat.js';
export { Sampler, SamplingError, type SamplingOptions } from './generate/sampler.js';
export { StopMatcher } from './generate/stop.js';
export { OutputParser, type ToolCall, type OutputEvent } from './generate/output.js';
export { Qwen3VLModel, type ForwardInputs, type ForwardOutput, type EncodedVision } from './models/qwen3vl/model.js';
export { InputError, ropeIndex } from './models/qwen3vl/positions.js';
export { KvCache } from './nn/kvCache.js';
export { createBackend, type BackendName, type Backend } from './backend/index.js';
export { loadConfig, parseConfig, ConfigError, type ModelConfig, type TextConfig, type VisionConfig } from './config/config.js';
export { loadGenerationConfig, type GenerationConfig } from './config/generation.js';
export { Checkpoint, SafetensorsFile, SafetensorsError, SafetensorsWriter, writeSafetensors } from './io/safetensors.js';
export { openSource, type CheckpointSource, type RangeFile, type SourceLike } from './io/source.js';
export { FetchSource, type FetchSourceOptions } from './io/fetchSource.js';
export { CachedSource, weightCache, type CacheProgress, type CachedModel, type WeightCacheOptions } from './io/weightCache.js';
export { WeightError } from './weights/qwen3vl.js';
export type { WeightFormat } from './weights/convert.js';
export { tidy, Tensor } from './tensor/tensor.js';
export * from './processor/index.js';


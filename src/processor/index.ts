// Public API of the input side: processor entry point, tokenizer, chat templates and the pipeline pieces.
export { loadProcessor, Qwen3VLProcessor, type LoadProcessorOptions, type PrepareOptions, type PreparedInputs } from './processor.js';
export { QwenTokenizer, StreamingDetokenizer, type DecodeOptions, type StreamingOptions } from '../tokenizer/index.js';
export * from '../chat/index.js';
export { ProcessorError, InvalidInputError, ProcessorConfigError, TokenizerError, ChatTemplateError, ImageDecodeError, ImageSizeError, VideoDecodeError, RemoteFetchDisabledError, InputLimitError } from '../errors.js';
export { loadImageConfig, loadVideoConfig, parseImageConfig, parseVideoConfig, DEFAULT_IMAGE_CONFIG, DEFAULT_VIDEO_CONFIG, type ImageProcessorConfig, type VideoProcessorConfig } from './config.js';
export { smartResize, smartResizeVideo, SmartResizeError } from './smartResize.js';
export { pyRound, formatFixed, linspaceRound } from './pyMath.js';
export { resizeBicubicAA, axisWeights, type Resampler } from './resize.js';
export { patchify, normalisationTable, type PatchParams } from './patchify.js';
export { decodeImage, sniffFormat, DEFAULT_MAX_DECODE_PIXELS, type RgbImage, type ImageFormat } from './imageDecode.js';
export { loadImage, processImage, type ProcessedVisual } from './image.js';
export { processVideo, sampleFrameIndices, groupTimestamps, type ProcessedVideo } from './video.js';
export { probeVideo, decodeFrames, ffmpegPath, ffprobePath, type VideoProbe } from './ffmpeg.js';
export { expandPrompt, videoPlaceholder, mmTokenTypes, IMAGE_PAD, VIDEO_PAD, VISION_START, VISION_END } from './prompt.js';
export type { FetchHook, SourceOptions } from './source.js';
export type { InputLimits } from './limits.js';

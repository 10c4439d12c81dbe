// Typed errors of the whole library, a leaf every layer may import. Each class carries a machine-readable `kind`;
// the server maps it to an HTTP status and the CLI to "print the message" (user input) or "our bug" (the rest).
// Messages name the input they are about, so a caller can tell which of several images or videos was bad.

/**
 * What went wrong, for callers that map errors (HTTP status, exit message):
 * - `invalid_input`: the request is bad (a message, option, image, video or limit); HTTP 400.
 * - `bad_checkpoint`: the model folder is broken or unsupported; HTTP 500 (the operator's problem), a plain CLI message.
 * - `usage`: a command-line mistake; a plain CLI message.
 * - `cancelled`: the caller aborted; HTTP 499.
 * - `internal`: a bug or an environment failure; HTTP 500, and the CLI hints at QWEN3VL_DEBUG.
 */
export type ErrorKind = 'invalid_input' | 'bad_checkpoint' | 'usage' | 'cancelled' | 'internal';

/** The HTTP status of each kind. */
export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = { invalid_input: 400, bad_checkpoint: 500, usage: 400, cancelled: 499, internal: 500 };

/** Base class: `name` is the class name, `kind` is a static of the class (inherited, overridable). */
export class Qwen3VLError extends Error {
  static readonly kind: ErrorKind = 'internal';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
  get kind(): ErrorKind {
    return (this.constructor as typeof Qwen3VLError).kind;
  }
}

/** A user mistake on the command line: printed as one line, exit code 1, no stack. */
export class CliError extends Qwen3VLError {
  static override readonly kind = 'usage';
  override readonly name = 'CliError';
}

/** The caller aborted (an AbortSignal fired; a prefill stopped between chunks, the cache left partly filled). */
export class AbortError extends Qwen3VLError {
  static override readonly kind = 'cancelled';
  override readonly name = 'AbortError';
}

/** Token ids, grids or positions handed to the model that do not fit together. */
export class InputError extends Qwen3VLError {
  static override readonly kind = 'invalid_input';
  override readonly name = 'InputError';
}

/** A sampling option out of range. */
export class SamplingError extends Qwen3VLError {
  static override readonly kind = 'invalid_input';
  override readonly name = 'SamplingError';
}

/** config.json (or another checkpoint JSON file) is unreadable, malformed or unsupported. */
export class ConfigError extends Qwen3VLError {
  static override readonly kind = 'bad_checkpoint';
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** A safetensors file that cannot be read or is malformed. */
export class SafetensorsError extends Qwen3VLError {
  static override readonly kind = 'bad_checkpoint';
  override readonly name = 'SafetensorsError';
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(`${file}${tensor ? ` [${tensor}]` : ''}: ${message}`);
  }
}

/** Checkpoint tensors missing, misshapen or unused by the model; `tensors` names them. */
export class WeightError extends Qwen3VLError {
  static override readonly kind = 'bad_checkpoint';
  override readonly name = 'WeightError';
  constructor(
    message: string,
    readonly tensors: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Base class of the input side (tokenizer, chat template, images, videos, prompt expansion): what it refuses to take. */
export class ProcessorError extends Qwen3VLError {
  static override readonly kind: ErrorKind = 'invalid_input';
}

/** A message, content part or option that does not have the documented shape. */
export class InvalidInputError extends ProcessorError {}

/** The checkpoint folder lacks a file the processor needs, or one of its JSON files is malformed. */
export class ProcessorConfigError extends ProcessorError {
  static override readonly kind = 'bad_checkpoint';
}

/** tokenizer.json could not be loaded, or ids/strings are outside the vocabulary. */
export class TokenizerError extends ProcessorError {}

/** The chat template could not be parsed or raised while rendering. */
export class ChatTemplateError extends ProcessorError {}

/** An image that cannot be read: unknown format, truncated or corrupt data, zero size. */
export class ImageDecodeError extends ProcessorError {
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super(`image ${source}: ${reason}`);
  }
}

/** An image whose declared size exceeds the decode limit (decompression-bomb guard) or whose aspect ratio is > 200. */
export class ImageSizeError extends ProcessorError {
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super(`image ${source}: ${reason}`);
  }
}

/** A video that cannot be read or sampled: missing ffmpeg, unreadable file, too few frames. */
export class VideoDecodeError extends ProcessorError {
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super(`video ${source}: ${reason}`);
  }
}

/** A remote (http/https) image or video while remote fetching is not enabled. */
export class RemoteFetchDisabledError extends ProcessorError {
  constructor(readonly url: string) {
    super(`remote input ${url}: fetching http(s) URLs is disabled; pass allowRemote: true or a fetchImage hook`);
  }
}

/** An input over a caller-set limit (media per call, decoded size, video length or frames, prompt size). */
export class InputLimitError extends ProcessorError {
  constructor(
    /** Which limit, in snake case as a server reports it (e.g. 'max_images', 'max_video_seconds'). */
    readonly limit: string,
    message: string,
  ) {
    super(message);
  }
}

/** A response format or strict tool schema that cannot become a grammar (structured outputs). */
export class GrammarError extends Qwen3VLError {
  static override readonly kind = 'invalid_input';
  override readonly name = 'GrammarError';
}

/** A Hugging Face model id that cannot be resolved: unknown, gated without a token, offline and not cached, a failed download. */
export class HubError extends Qwen3VLError {
  static override readonly kind = 'usage';
  override readonly name = 'HubError';
}

/** A request that can never fit the engine (context size or the whole KV cache), refused before any work starts. */
export class AdmissionError extends Qwen3VLError {
  static override readonly kind = 'invalid_input';
  override readonly name = 'AdmissionError';
  constructor(
    /** Which limit: 'ctx_size' (--ctx-size) or 'kv_cache' (--kv-cache-gb). */
    readonly limit: 'ctx_size' | 'kv_cache',
    message: string,
  ) {
    super(message);
  }
}

/** A KV cache (or other up-front allocation) larger than the memory this process can take, refused before it is made. */
export class MemoryBudgetError extends Qwen3VLError {
  static override readonly kind = 'usage';
  override readonly name = 'MemoryBudgetError';
}

/** Errors known by name: a subclass above, or one re-created from name + message after crossing a worker boundary. */
const KINDS = new Map<string, ErrorKind>(
  [CliError, AbortError, InputError, SamplingError, ConfigError, SafetensorsError, WeightError, ProcessorError, InvalidInputError, ProcessorConfigError,
    TokenizerError, ChatTemplateError, ImageDecodeError, ImageSizeError, VideoDecodeError, RemoteFetchDisabledError, InputLimitError, GrammarError, HubError, AdmissionError, MemoryBudgetError].map((c) => [c.name, c.kind]),
);
// Built-ins: an AbortSignal's reason (DOMException 'AbortError') and the range checks of numeric options
// (processor helpers, smart resize, server limits) that throw RangeError.
KINDS.set('RangeError', 'invalid_input');
KINDS.set('SmartResizeError', 'invalid_input');

/** The kind of any thrown value: its own `kind` when it is one of ours, else by its name, else 'internal'. */
export function errorKind(e: unknown): ErrorKind {
  if (e instanceof Qwen3VLError) return e.kind;
  const name = (e as { name?: unknown } | null)?.name;
  return (typeof name === 'string' && KINDS.get(name)) || 'internal';
}

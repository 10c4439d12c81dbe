// Typed errors of the input side (tokenizer, chat template, images, videos, prompt expansion). Every message names
// the input it is about, so a caller can tell which of several images or videos was bad.

/** Base class: anything the processor refuses to take. */
export class ProcessorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A message, content part or option that does not have the documented shape. */
export class InvalidInputError extends ProcessorError {}

/** The checkpoint folder lacks a file the processor needs, or one of its JSON files is malformed. */
export class ProcessorConfigError extends ProcessorError {}

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

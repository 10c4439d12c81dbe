// The checkpoint-source contract (a folder of files read by byte ranges, local or remote) and its errors; the
// implementations (fetchSource.ts, nodeSource.ts) import this, and source.ts picks one, so nothing imports in a circle.

/** One file opened for byte-range reads. */
export interface RangeFile {
  /** Its path or URL, as error messages name it. */
  readonly name: string;
  readonly size: number;
  /** Read up to into.byteLength bytes at `position` into `into`; returns how many were read (0 at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/** A folder of checkpoint files (config, tokenizer, safetensors shards), local or remote. */
export interface CheckpointSource {
  /** The folder path or base URL. */
  readonly location: string;
  /** Path or URL of a file in the folder, as error messages name it. */
  resolve(name: string): string;
  exists(name: string): Promise<boolean>;
  /** A whole text file; throws TooLargeError beyond maxBytes. */
  readText(name: string, maxBytes?: number): Promise<string>;
  open(name: string): Promise<RangeFile>;
}

/** A folder path, an http(s) URL, or a source object. */
export type SourceLike = string | CheckpointSource;

/** A failure whose message is complete as it stands (callers do not prefix "cannot open"). */
export class SourceError extends Error {
  override name = 'SourceError';
}

export class TooLargeError extends Error {
  override name = 'TooLargeError';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${size} bytes exceeds the ${limit}-byte limit`);
  }
}

export const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** Hidden from bundlers (a variable specifier), so browser bundles never pull in Node built-ins. */
export function nodeImport<T>(specifier: string): Promise<T> {
  return import(/* @vite-ignore */ specifier) as Promise<T>;
}

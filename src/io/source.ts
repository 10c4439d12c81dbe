// Where checkpoint files come from: a local folder (Node) or a base URL read with HTTP Range requests (browsers and
// Node), behind one small interface so safetensors, config and weight loading run unchanged in both.

import { FetchSource } from './fetchSource.js';
import type { WeightCacheOptions } from './weightCache.js';

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

/** `cache`: URLs go through the browser's weight cache (src/io/weightCache.ts) instead of straight to the network. */
export async function openSource(where: SourceLike, cache?: boolean | WeightCacheOptions): Promise<CheckpointSource> {
  if (typeof where !== 'string') return where;
  if (isUrl(where) && cache) return (await import('./weightCache.js')).CachedSource.open(where, cache === true ? {} : cache);
  if (isUrl(where)) return new FetchSource(where);
  const { NodeSource } = await import('./nodeSource.js');
  return NodeSource.create(where);
}

/** A single file by path or URL. */
export async function openRangeFile(file: string): Promise<RangeFile> {
  if (isUrl(file)) return FetchSource.openUrl(file);
  const { openNodeFile } = await import('./nodeSource.js');
  return openNodeFile(file);
}

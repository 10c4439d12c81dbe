// Where checkpoint files come from: a local folder (Node) or a base URL read with HTTP Range requests (browsers and
// Node), behind one small interface so safetensors, config and weight loading run unchanged in both.

import { ConfigError } from '../errors.js';
import { FetchSource } from './fetchSource.js';
import { type CheckpointSource, type RangeFile, type SourceLike, isUrl } from './sourceBase.js';
import type { WeightCacheOptions } from './weightCache.js';

export * from './sourceBase.js';

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

/** A JSON file of a checkpoint folder (path, URL or source); errors name the file. */
export async function readJson(src: CheckpointSource, name: string): Promise<unknown> {
  const file = src.resolve(name);
  let text: string;
  try {
    text = await src.readText(name);
  } catch (e) {
    throw new ConfigError(`cannot read: ${(e as Error).message}`, file);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`not valid JSON (${(e as Error).message})`, file);
  }
}

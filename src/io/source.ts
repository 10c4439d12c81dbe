// Where checkpoint files come from: a local folder (Node) or a base URL read with HTTP Range requests (browsers and
// Node), behind one small interface so safetensors, config and weight loading run unchanged in both.

import { ConfigError } from '../errors.js';
import { FetchSource } from './fetchSource.js';
import { type CheckpointSource, type RangeFile, type SourceLike, isUrl } from './sourceBase.js';

export * from './sourceBase.js';

export async function openSource(where: SourceLike): Promise<CheckpointSource> {
  if (typeof where !== 'string') return where;
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

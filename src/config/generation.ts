// `generation_config.json`: the checkpoint's sampling defaults and stop tokens (all fields optional).

import { ConfigError } from '../errors.js';
import { type SourceLike, openSource, readJson } from '../io/source.js';

export interface GenerationConfig {
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly doSample: boolean;
  readonly temperature: number | null;
  readonly topP: number | null;
  readonly topK: number | null;
  readonly minP: number | null;
  readonly repetitionPenalty: number | null;
  readonly maxNewTokens: number | null;
}

export function parseGenerationConfig(raw: unknown, file = 'generation_config.json'): GenerationConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('not a JSON object', file);
  const o = raw as Record<string, unknown>;
  const num = (k: string, min: number, max = Infinity): number | null => {
    const v = o[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new ConfigError(`${k} must be a number in [${min}, ${max}] (got ${JSON.stringify(v)})`, file);
    return v;
  };
  const int = (k: string): number | null => {
    const v = num(k, 0);
    if (v !== null && !Number.isInteger(v)) throw new ConfigError(`${k} must be an integer (got ${v})`, file);
    return v;
  };
  const eos = o.eos_token_id;
  let eosTokenIds: number[] = [];
  if (Array.isArray(eos)) eosTokenIds = eos as number[];
  else if (eos !== undefined && eos !== null) eosTokenIds = [eos as number];
  if (!eosTokenIds.every((x) => Number.isSafeInteger(x) && x >= 0)) throw new ConfigError(`eos_token_id must be an id or a list of ids (got ${JSON.stringify(eos)})`, file);
  const doSample = o.do_sample ?? false;
  if (typeof doSample !== 'boolean') throw new ConfigError(`do_sample must be true or false`, file);
  return Object.freeze({
    bosTokenId: int('bos_token_id'),
    eosTokenIds: Object.freeze(eosTokenIds),
    padTokenId: int('pad_token_id'),
    doSample,
    temperature: num('temperature', 0),
    topP: num('top_p', 0, 1),
    topK: int('top_k'),
    minP: num('min_p', 0, 1),
    repetitionPenalty: num('repetition_penalty', 0),
    maxNewTokens: int('max_new_tokens'),
  });
}

/** The folder's generation config, or an empty one when the file is absent. */
export async function loadGenerationConfig(dir: SourceLike): Promise<GenerationConfig> {
  const src = await openSource(dir);
  const name = 'generation_config.json';
  return parseGenerationConfig((await src.exists(name)) ? await readJson(src, name) : {}, src.resolve(name));
}

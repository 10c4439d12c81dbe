// Context sizing: KV bytes per token for each KV dtype, the prefill's working memory for a chunk, the largest context
// a memory budget holds, and the check that refuses a request which cannot fit before any work starts.

import type { ModelConfig, TextConfig } from '../models/qwen3vl/config.js';
import { InputLimitError } from '../errors.js';
import type { KvDType } from '../backend/backend.js';
import { kvBytesPerToken as kvBytesPerTokenOf } from '../nn/kvPool.js';

export type { KvDType };
export const KV_DTYPES: readonly KvDType[] = ['f32', 'f16', 'q8_0'];

/** Tokens per prefill chunk (the model's default). */
export const PREFILL_CHUNK = 1024;

/** Bytes one token takes in the KV cache of this text config (the paged pool's own count). */
export function kvBytesPerToken(t: TextConfig, dtype: KvDType): number {
  return kvBytesPerTokenOf(t.numHiddenLayers, t.numKeyValueHeads * t.headDim, dtype);
}

/**
 * Working memory of one prefill chunk of `chunk` tokens over `kvLen` keys (f32 activations), beyond the weights and
 * the KV cache: the layer's activations, the logits row, and the attention's key copy (the CPU kernel packs one
 * layer's keys transposed). An upper estimate, not a measurement.
 */
export function prefillWorkBytes(cfg: ModelConfig, chunk: number, kvLen: number): number {
  const t = cfg.text;
  const inter = t.moe ? t.moe.moeIntermediateSize * t.moe.numExpertsPerTok : t.intermediateSize;
  const qkv = (t.numAttentionHeads + 2 * t.numKeyValueHeads) * t.headDim;
  const perToken = 4 * t.hiddenSize + 2 * qkv + 3 * inter + 2 * t.numAttentionHeads * t.headDim; // live at once, f32
  return 4 * (chunk * perToken + t.vocabSize + kvLen * t.numKeyValueHeads * t.headDim);
}

/** The largest context (tokens) whose KV cache and prefill fit in `budgetBytes` after `fixedBytes` (weights). */
export function largestContext(cfg: ModelConfig, budgetBytes: number, fixedBytes: number, dtype: KvDType, chunk = PREFILL_CHUNK): number {
  const per = kvBytesPerToken(cfg.text, dtype);
  // The key copy grows with the context too: 4 bytes per value of one layer's keys.
  const perWithWork = per + 4 * cfg.text.numKeyValueHeads * cfg.text.headDim;
  const room = budgetBytes - fixedBytes - prefillWorkBytes(cfg, chunk, 0);
  return Math.max(0, Math.min(cfg.text.maxPositionEmbeddings, Math.floor(room / perWithWork)));
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

/**
 * Refuse, before any work, a request of `tokens` tokens (prompt plus the decode room reserved up front) that cannot
 * fit: past the model's context, or its KV cache and prefill over `availableBytes` (null: not known, not checked).
 */
export function checkContextFits(cfg: ModelConfig, tokens: number, availableBytes: number | null, dtype: KvDType = 'f32', chunk = PREFILL_CHUNK): void {
  const ctx = cfg.text.maxPositionEmbeddings;
  if (tokens > ctx) throw new InputLimitError('context', `the request needs ${tokens} tokens of context, but the model holds ${ctx}`);
  if (availableBytes === null) return;
  const kv = tokens * kvBytesPerToken(cfg.text, dtype);
  const work = prefillWorkBytes(cfg, Math.min(chunk, tokens), tokens);
  if (kv + work > availableBytes) {
    throw new InputLimitError(
      'memory',
      `the request needs ${tokens} tokens of context: ${gib(kv)} of ${dtype} KV cache and about ${gib(work)} of prefill memory, ` +
        `but ${gib(availableBytes)} is available; shorten the prompt or lower max_tokens`,
    );
  }
}

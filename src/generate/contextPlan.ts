// Context sizing: KV bytes per token for each KV dtype, the prefill's working memory for a chunk, the largest context
// a memory budget holds, and the check that refuses a request which cannot fit before any work starts.

import type { ModelConfig, TextConfig } from '../models/qwen3vl/config.js';
import { nodeImport } from '../io/source.js';
import { InputLimitError, MemoryBudgetError } from '../errors.js';
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

/** Memory this process can still take: the OS's available memory, under a cgroup limit if one is set (Node only). */
export async function availableMemory(): Promise<number | null> {
  const proc = (globalThis as { process?: { versions?: { node?: string }; constrainedMemory?: () => number; memoryUsage?: { rss(): number } } }).process;
  if (!proc?.versions?.node) return null;
  const os = await nodeImport<{ freemem(): number; totalmem(): number }>('node:os');
  let avail = os.freemem();
  const limit = Number(proc.constrainedMemory?.() ?? 0);
  if (limit > 0 && limit < os.totalmem() && proc.memoryUsage) avail = Math.min(avail, limit - proc.memoryUsage.rss());
  return Math.max(0, avail);
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

/**
 * Refuse, before it is allocated, a KV pool of `tokens` tokens that cannot fit in `availableBytes` (what the process
 * can still take, weights already loaded) together with a prefill chunk's working memory and `otherBytes` (the
 * vision-feature cache). The message names the flags that size it and what would fit.
 */
export function checkKvPoolFits(cfg: ModelConfig, tokens: number, dtype: KvDType, availableBytes: number, chunk = PREFILL_CHUNK, otherBytes = 0): void {
  const per = kvBytesPerToken(cfg.text, dtype);
  const kv = tokens * per;
  const work = prefillWorkBytes(cfg, chunk, tokens);
  if (kv + work + otherBytes <= availableBytes) return;
  const fits = (d: KvDType) => Math.max(0, Math.floor((availableBytes - otherBytes - prefillWorkBytes(cfg, chunk, 0)) / (kvBytesPerToken(cfg.text, d) + 4 * cfg.text.numKeyValueHeads * cfg.text.headDim)));
  const alt = dtype === 'q8_0' ? '' : `, or --kv-cache-type q8_0 (about ${fits('q8_0')} tokens)`;
  throw new MemoryBudgetError(
    `the KV cache for ${tokens} tokens needs ${gib(kv)} (${dtype}) plus about ${gib(work + otherBytes)} of working memory, but this process can take ` +
      `${gib(availableBytes)} more beside the weights: lower --kv-cache-gb (kvCache.bytes) or --ctx-size to about ${fits(dtype)} tokens${alt}`,
  );
}

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

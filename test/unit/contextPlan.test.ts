// Context sizing on the 2B shape: KV bytes per token per dtype (worked out by hand from the shape), the largest
// context a budget holds, and the refusal of a request that cannot fit, before the model runs at all.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/models/qwen3vl/config.js';
import { availableMemory, checkContextFits, checkKvPoolFits, kvBytesPerToken, largestContext, prefillWorkBytes } from '../../src/generate/contextPlan.js';
import { InputLimitError, MemoryBudgetError } from '../../src/errors.js';
import { configJson, SHAPES } from '../../src/models/qwen3vl/checkpoint.js';

const cfg = parseConfig(configJson(SHAPES['2B']));
const GiB = 2 ** 30;

describe('context plan (2B: 28 layers, 8 kv heads × 128)', () => {
  it('KV bytes per token: 2 · 28 · 1024 values at 4, 2 and 34/32 bytes', () => {
    expect(kvBytesPerToken(cfg.text, 'f32')).toBe(229_376);
    expect(kvBytesPerToken(cfg.text, 'f16')).toBe(114_688);
    expect(kvBytesPerToken(cfg.text, 'q8_0')).toBe(60_928);
    // The figure: q8_0 KV for 262,144 tokens is about 15 GB (14.9 GiB).
    expect((262_144 * kvBytesPerToken(cfg.text, 'q8_0')) / GiB).toBeCloseTo(14.875, 3);
  });

  it('the largest context is what the budget holds after weights and prefill memory, capped by the model', () => {
    const weights = 1.2 * GiB;
    for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
      const n = largestContext(cfg, 24 * GiB, weights, dtype);
      const per = kvBytesPerToken(cfg.text, dtype) + 4 * 1024;
      expect(n * per + weights + prefillWorkBytes(cfg, 1024, 0)).toBeLessThanOrEqual(24 * GiB);
      if (n < cfg.text.maxPositionEmbeddings) expect((n + 1) * per + weights + prefillWorkBytes(cfg, 1024, 0)).toBeGreaterThan(24 * GiB);
    }
    expect(largestContext(cfg, 24 * GiB, weights, 'q8_0')).toBeGreaterThan(128 * 1024); // the goal: 128K in 24 GiB
    expect(largestContext(cfg, 1e15, 0, 'f32')).toBe(cfg.text.maxPositionEmbeddings);
    expect(largestContext(cfg, 1 * GiB, 2 * GiB, 'f16')).toBe(0);
  });

  it('prefill memory does not grow with the prompt beyond one layer of keys', () => {
    const a = prefillWorkBytes(cfg, 1024, 32_768);
    const b = prefillWorkBytes(cfg, 1024, 262_144);
    expect(b - a).toBe((262_144 - 32_768) * 1024 * 4);
  });

  it('refuses requests past the context or over memory, naming the limit', () => {
    expect(() => checkContextFits(cfg, cfg.text.maxPositionEmbeddings + 1, null)).toThrow(InputLimitError);
    expect(() => checkContextFits(cfg, 262_144, 8 * GiB, 'f32')).toThrow(/262144 tokens of context: 56.00 GiB of f32 KV cache/);
    let err: unknown = null;
    try {
      checkContextFits(cfg, 262_144, 8 * GiB, 'q8_0');
    } catch (e) {
      err = e;
    }
    expect((err as InputLimitError | null)?.limit).toBe('memory');
    expect(() => checkContextFits(cfg, 4096, 8 * GiB)).not.toThrow();
    expect(() => checkContextFits(cfg, 262_144, null)).not.toThrow(); // unknown memory: only the context is checked
  });

  it('refuses a KV pool larger than the memory left beside the weights, naming the flags and what would fit', () => {
    // 262,144 q8_0 tokens need 14.9 GiB of KV (and 1 GiB of f32 key copy in the prefill): refused in 8 GiB, taken in 17.
    let err: unknown = null;
    try {
      checkKvPoolFits(cfg, 262_144, 'q8_0', 8 * GiB);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemoryBudgetError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/the KV cache for 262144 tokens needs 14\.88 GiB \(q8_0\)/);
    expect(msg).toMatch(/lower --kv-cache-gb \(kvCache\.bytes\) or --ctx-size to about (\d+) tokens$/);
    // "what would fit" is what the check then accepts.
    const fits = Number(/about (\d+) tokens$/.exec(msg)![1]);
    expect(() => checkKvPoolFits(cfg, fits, 'q8_0', 8 * GiB)).not.toThrow();
    expect(() => checkKvPoolFits(cfg, 262_144, 'q8_0', 17 * GiB)).not.toThrow();
    // f16 points at q8_0 as the way to fit more.
    expect(() => checkKvPoolFits(cfg, 131_072, 'f16', 8 * GiB)).toThrow(/or --kv-cache-type q8_0 \(about \d+ tokens\)/);
    // The vision cache's budget counts too.
    expect(() => checkKvPoolFits(cfg, 16_384, 'f16', 2.5 * GiB)).not.toThrow();
    expect(() => checkKvPoolFits(cfg, 16_384, 'f16', 2.5 * GiB, 1024, 1 * GiB)).toThrow(MemoryBudgetError);
  });

  it('availableMemory is a positive byte count under Node', async () => {
    const a = await availableMemory();
    expect(a).toBeGreaterThan(0);
  });
});

// /metrics in the Prometheus text format (0.0.4): the gauges a gateway balancing replicas reads (queue depth, running
// sequences, KV utilisation), token and request counters, and a time-to-first-token histogram.

import type { EngineStatus } from '../generate/service.js';

/** Upper bounds (seconds) of the TTFT histogram's buckets. */
export const TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class Histogram {
  readonly counts = new Array<number>(TTFT_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = TTFT_BUCKETS.findIndex((b) => seconds <= b);
    if (i < 0) i = TTFT_BUCKETS.length;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

export interface PromSnapshot {
  readonly model: string;
  readonly engine: EngineStatus;
  readonly queueWaiting: number;
  readonly queueRunning: number;
  readonly requests: number;
  readonly generations: { started: number; completed: number; cancelled: number; failed: number };
  readonly tokens: { prompt: number; completion: number };
  readonly ttft: Histogram;
  readonly rssBytes: number;
}

export function prometheusText(s: PromSnapshot): string {
  const lines: string[] = [];
  const label = `model="${s.model.replace(/["\\\n]/g, '_')}"`;
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number, extra = '') => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}{${label}${extra}} ${value}`);
  };
  const e = s.engine;
  const used = e.kvBlocksUsed ?? 0;
  const total = e.kvBlocksTotal ?? 0;
  metric('qwen3vl_requests_waiting', 'gauge', 'Requests waiting for a batch slot (queue depth).', s.queueWaiting + (e.waiting ?? 0));
  metric('qwen3vl_requests_running', 'gauge', 'Sequences running in the batch.', e.running ?? s.queueRunning);
  metric('qwen3vl_kv_cache_blocks_used', 'gauge', 'KV cache blocks in use.', used);
  metric('qwen3vl_kv_cache_blocks_total', 'gauge', 'KV cache blocks in the pool.', total);
  metric('qwen3vl_kv_cache_usage_ratio', 'gauge', 'KV cache utilisation (0-1).', total ? used / total : 0);
  metric('qwen3vl_preemptions_total', 'counter', 'Sequences preempted under KV pressure (recomputed later).', e.preemptions ?? 0);
  const pc = e.prefixCache;
  if (pc) {
    metric('qwen3vl_prefix_cache_queries_tokens_total', 'counter', 'Prompt tokens admitted with prefix reuse on.', pc.promptTokens);
    metric('qwen3vl_prefix_cache_hits_tokens_total', 'counter', 'Prompt tokens found in the prefix cache (not prefilled again).', pc.hitTokens);
    metric('qwen3vl_prefix_cache_hit_ratio', 'gauge', 'Prefix cache hit rate: tokens hit / prompt tokens (0-1).', pc.hitRate);
    metric('qwen3vl_prefix_cache_blocks', 'gauge', 'KV blocks holding a cached prefix (in use or free and revivable).', pc.cachedBlocks);
    metric('qwen3vl_prefix_cache_evictions_total', 'counter', 'Cached KV blocks reused for new tokens.', pc.evictions);
  }
  const vc = e.visionCache;
  if (vc) {
    metric('qwen3vl_vision_cache_hits_total', 'counter', 'Images and videos whose features came from the vision cache.', vc.hits);
    metric('qwen3vl_vision_cache_misses_total', 'counter', 'Images and videos run through the vision tower.', vc.misses);
    metric('qwen3vl_vision_cache_hit_ratio', 'gauge', 'Vision cache hit rate: hits / lookups (0-1).', vc.hits + vc.misses ? vc.hits / (vc.hits + vc.misses) : 0);
    metric('qwen3vl_vision_cache_bytes', 'gauge', 'Bytes of vision features held.', vc.bytes);
    metric('qwen3vl_vision_cache_capacity_bytes', 'gauge', 'Vision cache budget in bytes (--vision-cache-mb).', vc.capacityBytes);
    metric('qwen3vl_vision_cache_evictions_total', 'counter', 'Vision cache entries dropped for room.', vc.evictions);
  }
  metric('qwen3vl_http_requests_total', 'counter', 'HTTP requests received.', s.requests);
  lines.push('# HELP qwen3vl_generations_total Generations by outcome.', '# TYPE qwen3vl_generations_total counter');
  for (const k of ['completed', 'cancelled', 'failed'] as const) lines.push(`qwen3vl_generations_total{${label},outcome="${k}"} ${s.generations[k]}`);
  metric('qwen3vl_prompt_tokens_total', 'counter', 'Prompt tokens processed (text and visual).', s.tokens.prompt);
  metric('qwen3vl_generation_tokens_total', 'counter', 'Tokens generated.', s.tokens.completion);
  metric('qwen3vl_process_resident_memory_bytes', 'gauge', 'Resident memory of the server process (worker included).', s.rssBytes);
  lines.push('# HELP qwen3vl_time_to_first_token_seconds Time from request arrival to the first generated token.', '# TYPE qwen3vl_time_to_first_token_seconds histogram');
  let acc = 0;
  TTFT_BUCKETS.forEach((b, i) => {
    acc += s.ttft.counts[i];
    lines.push(`qwen3vl_time_to_first_token_seconds_bucket{${label},le="${b}"} ${acc}`);
  });
  lines.push(`qwen3vl_time_to_first_token_seconds_bucket{${label},le="+Inf"} ${s.ttft.count}`);
  lines.push(`qwen3vl_time_to_first_token_seconds_sum{${label}} ${s.ttft.sum}`, `qwen3vl_time_to_first_token_seconds_count{${label}} ${s.ttft.count}`);
  return lines.join('\n') + '\n';
}

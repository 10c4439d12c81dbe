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

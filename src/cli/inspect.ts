// `qwen3-vl inspect DIR`: what a checkpoint is (config summary), how big each part is (parameters from the
// safetensors headers: text, vision, MoE experts), and what it takes in memory per weight format plus KV cache.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { checkpointTensors, rowLength } from '../models/qwen3vl/checkpoint.js';
import { loadConfig, type ModelConfig } from '../models/qwen3vl/config.js';
import { loadGenerationConfig } from '../config/generation.js';
import { KV_DTYPES, kvBytesPerToken, largestContext, type KvDType } from '../generate/contextPlan.js';
import { Checkpoint } from '../io/safetensors.js';
import { byteSize, type DType } from '../tensor/dtype.js';
import { formatFor } from '../weights/convert.js';
import { checkModelDir, numArg } from './common.js';

type ReportFormat = 'f32' | 'bf16' | 'q8_0' | 'q4_0';
const FORMATS: readonly ReportFormat[] = ['f32', 'bf16', 'q8_0', 'q4_0'];

export interface InspectReport {
  readonly dir: string;
  readonly modelType: string;
  readonly text: { layers: number; hidden: number; heads: number; kvHeads: number; headDim: number; vocab: number; context: number; tiedEmbeddings: boolean; experts: { count: number; perToken: number; intermediate: number } | null };
  readonly vision: { depth: number; hidden: number; patch: number; merge: number; deepstackLayers: readonly number[] };
  readonly params: { text: number; vision: number; experts: number; total: number; activePerToken: number };
  /** Weight bytes when loaded with each format (norms, biases, small matrices stay wider: see weights/convert.ts). */
  readonly weightBytes: Record<ReportFormat, number>;
  /** KV cache bytes per token of context for each storage format of the paged cache (--kv-cache-type). */
  readonly kvBytesPerToken: Record<KvDType, number>;
  /** With a memory budget: the largest context each KV dtype fits beside the weights of each format. */
  readonly contextIn?: { readonly budgetBytes: number; readonly tokens: Record<KvDType, Record<ReportFormat, number>> };
  readonly files: Record<string, boolean>;
  readonly generation: Record<string, unknown>;
}

export async function inspectCheckpoint(dir: string, opts: { memoryBytes?: number } = {}): Promise<InspectReport> {
  const cfg: ModelConfig = await loadConfig(dir);
  const gen = await loadGenerationConfig(dir);
  const ckpt = await Checkpoint.open(dir);
  const params = { text: 0, vision: 0, experts: 0, total: 0, activePerToken: 0 };
  const weightBytes: Record<ReportFormat, number> = { f32: 0, bf16: 0, q8_0: 0, q4_0: 0 };
  // Roles and row lengths from the model's tensor table; a tensor it lacks (a tied checkpoint's spare lm_head) counts as a matrix.
  const table = new Map(checkpointTensors(cfg, cfg.tieWordEmbeddings || !ckpt.has('lm_head.weight')).map((t) => [t.name, t]));
  try {
    for (const [name, info] of ckpt.tensors) {
      const n = info.shape.reduce((a, b) => a * b, 1);
      if (name.startsWith('model.visual.')) params.vision += n;
      else if (name.includes('.mlp.experts.')) params.experts += n;
      else params.text += n;
      const src: DType = info.dtype === 'F32' ? 'f32' : info.dtype === 'F16' ? 'f16' : 'bf16';
      const t = table.get(name) ?? { role: 'linear' as const, layout: 'hub' as const, shape: info.shape };
      const k = rowLength({ layout: t.layout, shape: info.shape });
      for (const f of FORMATS) weightBytes[f] += byteSize(formatFor(t.role, [n / k, k], f, src), n);
    }
  } finally {
    await ckpt.close();
  }
  const t = cfg.text;
  const moe = t.moe;
  params.total = params.text + params.vision + params.experts;
  params.activePerToken = params.text + params.vision + (moe ? (params.experts * moe.numExpertsPerTok) / moe.numExperts : 0);
  const has = (f: string) => existsSync(path.join(dir, f));
  const { bosTokenId: _b, padTokenId: _p, ...generation } = gen;
  return {
    dir: path.resolve(dir),
    modelType: cfg.modelType,
    text: {
      layers: t.numHiddenLayers, hidden: t.hiddenSize, heads: t.numAttentionHeads, kvHeads: t.numKeyValueHeads, headDim: t.headDim, vocab: t.vocabSize,
      context: t.maxPositionEmbeddings, tiedEmbeddings: cfg.tieWordEmbeddings, experts: moe ? { count: moe.numExperts, perToken: moe.numExpertsPerTok, intermediate: moe.moeIntermediateSize } : null,
    },
    vision: { depth: cfg.vision.depth, hidden: cfg.vision.hiddenSize, patch: cfg.vision.patchSize, merge: cfg.vision.spatialMergeSize, deepstackLayers: cfg.vision.deepstackVisualIndexes },
    params,
    weightBytes,
    kvBytesPerToken: Object.fromEntries(KV_DTYPES.map((d) => [d, kvBytesPerToken(t, d)])) as Record<KvDType, number>,
    ...(opts.memoryBytes !== undefined && {
      contextIn: {
        budgetBytes: opts.memoryBytes,
        tokens: Object.fromEntries(KV_DTYPES.map((d) => [d, Object.fromEntries(FORMATS.map((f) => [f, largestContext(cfg, opts.memoryBytes!, weightBytes[f], d)]))])) as Record<KvDType, Record<ReportFormat, number>>,
      },
    }),
    files: {
      tokenizer: has('tokenizer.json'), 'chat template': has('chat_template.json') || has('chat_template.jinja'),
      'image preprocessor': has('preprocessor_config.json'), 'video preprocessor': has('video_preprocessor_config.json'),
      'generation config': has('generation_config.json'),
    },
    generation,
  };
}

export function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

export function humanBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatReport(r: InspectReport): string {
  const t = r.text;
  const moe = t.experts ? `, MoE ${t.experts.count} experts (${t.experts.perToken} per token, intermediate ${t.experts.intermediate})` : '';
  const row = (label: string, v: string) => `  ${label.padEnd(22)}${v}`;
  const lines = [
    `${r.dir}`,
    `  model type            ${r.modelType}`,
    '',
    'text decoder',
    row('layers', `${t.layers}, hidden ${t.hidden}, ${t.heads} heads / ${t.kvHeads} kv heads × ${t.headDim}${moe}`),
    row('vocabulary', `${t.vocab}${t.tiedEmbeddings ? ' (embeddings tied to the output head)' : ''}`),
    row('context', `${t.context} tokens`),
    'vision tower',
    row('blocks', `${r.vision.depth}, hidden ${r.vision.hidden}, patch ${r.vision.patch}, merge ${r.vision.merge}×${r.vision.merge}, DeepStack from blocks [${r.vision.deepstackLayers.join(', ')}]`),
    '',
    'parameters',
    row('text', humanCount(r.params.text)),
    row('vision', humanCount(r.params.vision)),
    ...(t.experts ? [row('experts', humanCount(r.params.experts)), row('active per token', humanCount(r.params.activePerToken))] : []),
    row('total', humanCount(r.params.total)),
    '',
    'memory (weights; --dtype)',
    ...FORMATS.map((f) => row(f, humanBytes(r.weightBytes[f]))),
    row('KV cache', `per token: ${humanBytes(r.kvBytesPerToken.f16)} f16 (default), ${humanBytes(r.kvBytesPerToken.q8_0)} q8_0, ${humanBytes(r.kvBytesPerToken.f32)} f32; per 1k tokens ${humanBytes(r.kvBytesPerToken.f16 * 1000)} f16`),
    ...(r.contextIn ? contextLines(r.contextIn, row) : []),
    '',
    'files',
    ...Object.entries(r.files).map(([f, ok]) => row(f, ok ? 'yes' : 'no')),
    'generation defaults',
    ...Object.entries(r.generation)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => row(k, JSON.stringify(v))),
  ];
  return lines.join('\n');
}

/** Largest context per KV dtype (rows) beside the weights of each format (columns), within the budget. */
function contextLines(c: NonNullable<InspectReport['contextIn']>, row: (label: string, v: string) => string): string[] {
  const cell = (n: number) => (n === 0 ? 'does not fit' : `${n.toLocaleString('en-US')} tokens`).padEnd(18);
  return [
    '',
    `largest context in ${humanBytes(c.budgetBytes)} (weights + KV cache + prefill working memory; capped at the model's context)`,
    row('KV dtype', FORMATS.map((f) => `${f} weights`.padEnd(18)).join('')),
    ...KV_DTYPES.map((d) => row(d, FORMATS.map((f) => cell(c.tokens[d][f])).join(''))),
  ];
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .summary('summarise a checkpoint: config, parameter counts, memory per dtype')
    .description('Read a checkpoint folder\'s config and safetensors headers (no weights are loaded) and report its shape, parameter counts per part, and memory needed per weight format, including the KV cache bytes per token for each KV format (f16, q8_0, f32).')
    .argument('<dir>', 'Qwen3-VL checkpoint folder')
    .option('--json', 'print the report as JSON')
    .option('--memory-gb <GiB>', 'also print the largest context each KV dtype fits in this much memory (GiB)', numArg(Number.MIN_VALUE))
    .addHelpText('after', '\nExamples:\n  $ qwen3-vl inspect ./Qwen3-VL-8B-Instruct\n  $ qwen3-vl inspect ./Qwen3-VL-30B-A3B-Instruct --json | jq .weightBytes\n  $ qwen3-vl inspect ./Qwen3-VL-2B-Instruct --memory-gb 24')
    .action(async (dir: string, flags: { json?: boolean; memoryGb?: number }) => {
      const r = await inspectCheckpoint(checkModelDir(dir), { memoryBytes: flags.memoryGb === undefined ? undefined : Math.floor(flags.memoryGb * 2 ** 30) });
      process.stdout.write(`${flags.json ? JSON.stringify(r, null, 2) : formatReport(r)}\n`);
    });
}

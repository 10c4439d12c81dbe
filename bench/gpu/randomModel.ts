// A Qwen3-VL model with random weights of the real shapes made directly on the GPU (no checkpoint, no host copy):
// the same weight tree loadQwen3VLWeights builds, filled by the backend's random kernel.
import type { ModelConfig } from '../../src/models/qwen3vl/config.js';
import { isMoeLayer } from '../../src/models/qwen3vl/config.js';
import { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { buildVisionWeights, type LinearWeights, type MergerWeights, type NormWeights, type Qwen3VLWeights } from '../../src/models/qwen3vl/weights.js';
import type { WebGpuBackend } from '../../src/backend/webgpu/backend.js';

/** quant: the text layers' matrices (attention and experts or MLP; not embeddings, lm_head, router) as q4_0. */
export function randomModel(b: WebGpuBackend, cfg: ModelConfig, seed = 1, quant?: 'q4_0'): Qwen3VLModel {
  return new Qwen3VLModel(b, cfg, randomWeights(b, cfg, seed, quant));
}

type Maker = Pick<WebGpuBackend, 'random' | 'randomQuant'>;

function randomWeights(b: Maker, cfg: ModelConfig, seed: number, quant?: 'q4_0'): Qwen3VLWeights {
  let s = seed;
  const mat = (shape: number[]): Tensor => b.random(shape, 'bf16', s++, 0.03);
  // q4_0 values are scale · (q − 8), q in 0..15: a scale of 0.004 gives weights of about the bf16 ones' size.
  const qmat = (shape: number[]): Tensor => (quant ? b.randomQuant(shape, quant, s++, 0.004) : mat(shape));
  const ones = (n: number): Tensor => b.random([n], 'f32', s++, 0.05, 1);
  const small = (n: number): Tensor => b.random([n], 'f32', s++, 0.02);
  const t = cfg.text;
  const v = cfg.vision;
  const [H, hd] = [t.hiddenSize, t.headDim];
  const lin = (o: number, i: number): LinearWeights => ({ weight: mat([o, i]), bias: small(o) });
  const nrm = (n: number): NormWeights => ({ weight: ones(n), bias: small(n) });
  const M = v.hiddenSize * v.spatialMergeSize ** 2;
  const merger = (n: number): MergerWeights => ({ norm: nrm(n), linearFc1: lin(M, M), linearFc2: lin(v.outHiddenSize, M) });
  const embed = mat([t.vocabSize, H]);
  return {
    text: {
      embedTokens: embed,
      lmHead: t.tieWordEmbeddings ? embed : mat([t.vocabSize, H]),
      norm: ones(H),
      layers: Array.from({ length: t.numHiddenLayers }, (_, l) => ({
        inputLayernorm: ones(H),
        postAttentionLayernorm: ones(H),
        qkvProj: qmat([(t.numAttentionHeads + 2 * t.numKeyValueHeads) * hd, H]),
        oProj: qmat([H, t.numAttentionHeads * hd]),
        qNorm: ones(hd),
        kNorm: ones(hd),
        mlp: isMoeLayer(t, l)
          ? {
              kind: 'moe' as const,
              router: mat([t.moe!.numExperts, H]),
              gateUp: qmat([t.moe!.numExperts, 2 * t.moe!.moeIntermediateSize, H]),
              down: qmat([t.moe!.numExperts, H, t.moe!.moeIntermediateSize]),
            }
          : { kind: 'dense' as const, gateUp: qmat([2 * t.intermediateSize, H]), down: qmat([H, t.intermediateSize]) },
      })),
    },
    vision: buildVisionWeights(v, { lin, nrm, merger }, lin(v.hiddenSize, v.inChannels * v.temporalPatchSize * v.patchSize ** 2), b.random([v.numPositionEmbeddings, v.hiddenSize], 'f32', s++, 0.02)),
  };
}

/**
 * GPU bytes of randomModel's weights, counted without a GPU (the same tree, each tensor's buffer size): whether a
 * model fits a card before any device time is spent.
 */
export function weightBytes(cfg: ModelConfig, quant?: 'q4_0'): number {
  let bytes = 0;
  const count = (shape: readonly number[], per: (n: number) => number): Tensor => {
    bytes += per(shape.reduce((a, c) => a * c, 1));
    return { shape } as unknown as Tensor;
  };
  const recorder: Maker = {
    random: (shape, dtype) => count(shape, (n) => (dtype === 'f32' ? 4 * n : 4 * Math.ceil(n / 2))),
    randomQuant: (shape, dtype) => count(shape, (n) => 4 * (Math.ceil(Math.ceil(n / 32 / 2) / 4) * 4 + (n / 32) * (dtype === 'q4_0' ? 4 : 8))),
  };
  randomWeights(recorder, cfg, 1, quant);
  return bytes;
}

/** Bytes one decode step must read: every text-layer weight (bf16, or q4_0) and lm_head once (bf16), f32 KV cache. */
export function decodeBytes(cfg: ModelConfig, kvLen: number, quant?: 'q4_0'): number {
  const t = cfg.text;
  const H = t.hiddenSize;
  const attn = H * t.headDim * (2 * t.numAttentionHeads + 2 * t.numKeyValueHeads);
  const mlp = t.moe ? t.moe.numExpertsPerTok * 3 * H * t.moe.moeIntermediateSize + t.moe.numExperts * H : 3 * H * t.intermediateSize;
  // The embedding row gather is negligible; lm_head is read in full once (tied or not).
  const weights = (quant ? 18 / 32 : 2) * t.numHiddenLayers * (attn + mlp) + 2 * t.vocabSize * H;
  const kv = 4 * t.numHiddenLayers * 2 * kvLen * t.numKeyValueHeads * t.headDim;
  return weights + kv;
}

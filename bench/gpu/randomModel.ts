// A Qwen3-VL model with random weights of the real shapes made directly on the GPU (no checkpoint, no host copy):
// the same weight tree loadQwen3VLWeights builds, filled by the backend's random kernel.
import type { ModelConfig } from '../../src/models/qwen3vl/config.js';
import { isMoeLayer } from '../../src/models/qwen3vl/config.js';
import { Qwen3VLModel } from '../../src/models/qwen3vl/model.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { buildVisionWeights, type LinearWeights, type MergerWeights, type NormWeights, type Qwen3VLWeights } from '../../src/models/qwen3vl/weights.js';
import type { WebGpuBackend } from '../../src/backend/webgpu/backend.js';

export function randomModel(b: WebGpuBackend, cfg: ModelConfig, seed = 1): Qwen3VLModel {
  let s = seed;
  const mat = (shape: number[]): Tensor => b.random(shape, 'bf16', s++, 0.03);
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
  const weights: Qwen3VLWeights = {
    text: {
      embedTokens: embed,
      lmHead: t.tieWordEmbeddings ? embed : mat([t.vocabSize, H]),
      norm: ones(H),
      layers: Array.from({ length: t.numHiddenLayers }, (_, l) => ({
        inputLayernorm: ones(H),
        postAttentionLayernorm: ones(H),
        qkvProj: mat([(t.numAttentionHeads + 2 * t.numKeyValueHeads) * hd, H]),
        oProj: mat([H, t.numAttentionHeads * hd]),
        qNorm: ones(hd),
        kNorm: ones(hd),
        mlp: isMoeLayer(t, l)
          ? {
              kind: 'moe' as const,
              router: mat([t.moe!.numExperts, H]),
              gateUp: mat([t.moe!.numExperts, 2 * t.moe!.moeIntermediateSize, H]),
              down: mat([t.moe!.numExperts, H, t.moe!.moeIntermediateSize]),
            }
          : { kind: 'dense' as const, gateUp: mat([2 * t.intermediateSize, H]), down: mat([H, t.intermediateSize]) },
      })),
    },
    vision: buildVisionWeights(v, { lin, nrm, merger }, lin(v.hiddenSize, v.inChannels * v.temporalPatchSize * v.patchSize ** 2), b.random([v.numPositionEmbeddings, v.hiddenSize], 'f32', s++, 0.02)),
  };
  return new Qwen3VLModel(b, cfg, weights);
}

/** Bytes one decode step must read: every text-layer weight and lm_head once (bf16), and the f32 KV cache. */
export function decodeBytes(cfg: ModelConfig, kvLen: number): number {
  const t = cfg.text;
  const H = t.hiddenSize;
  const attn = H * t.headDim * (2 * t.numAttentionHeads + 2 * t.numKeyValueHeads);
  const mlp = t.moe ? t.moe.numExpertsPerTok * 3 * H * t.moe.moeIntermediateSize + t.moe.numExperts * H : 3 * H * t.intermediateSize;
  // The embedding row gather is negligible; lm_head is read in full once (tied or not).
  const weights = 2 * (t.numHiddenLayers * (attn + mlp) + t.vocabSize * H);
  const kv = 4 * t.numHiddenLayers * 2 * kvLen * t.numKeyValueHeads * t.headDim;
  return weights + kv;
}

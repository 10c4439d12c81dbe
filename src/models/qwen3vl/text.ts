// The Qwen3 text decoder of Qwen3-VL (spec §5): pre-norm layers with q/k RMSNorm, GQA attention under interleaved
// MRoPE, a dense SwiGLU or sparse MoE block per layer, and DeepStack features added after the first layers.

import type { Backend } from '../../backend/backend.js';
import type { TextConfig } from './config.js';
import { linearEx, qkvPost } from '../../backend/fused.js';
import type { KvBinding } from '../../nn/kvBinding.js';
import type { Trace } from '../../nn/trace.js';
import { tidy, type Tensor } from '../../tensor/tensor.js';
import type { MlpWeights, TextLayerWeights, TextWeights } from './weights.js';

/** Visual rows of the sequence and the DeepStack feature per level ([rows, H] each). */
export interface DeepStack {
  readonly rows: Tensor; // i32 [R]
  readonly features: readonly Tensor[];
}

export class TextDecoder {
  constructor(
    private readonly b: Backend,
    readonly cfg: TextConfig,
    private readonly w: TextWeights,
  ) {}

  /** x [T, H] = embedding rows of token ids (host ids, or an i32 tensor already on the backend). */
  embed(ids: Int32Array | Tensor): Tensor {
    if (!(ids instanceof Int32Array)) return this.b.gatherRows(this.w.embedTokens, ids);
    const t = this.b.upload(ids, [ids.length], 'i32');
    const x = this.b.gatherRows(this.w.embedTokens, t);
    t.dispose();
    return x;
  }

  /**
   * Run every layer over x [T, H] (the new tokens), storing their keys/values through `cache` (a contiguous cache whose
   * length is the first new token's index, or a paged batch of several sequences); cos/sin [T, hd] are the rotary
   * tables of the new tokens. Returns the final-normed hidden states.
   */
  forward(x: Tensor, cos: Tensor, sin: Tensor, cache: KvBinding, deepstack: DeepStack | null, trace: Trace): Tensor {
    const T = x.rows;
    cache.begin(T);
    const L = this.cfg.numHiddenLayers;
    trace('hidden_states.0', x);
    for (let l = 0; l < L; l++) {
      const prev = x;
      x = tidy(() => this.layer(l, x, cos, sin, cache));
      if (prev !== x && l > 0) prev.dispose();
      if (l < L - 1) trace(`hidden_states.${l + 1}`, x);
      const ds = deepstack?.features[l];
      if (ds) this.b.scatterRows(x, deepstack.rows, ds, true);
    }
    cache.end(T);
    const out = this.b.rmsNorm(x, this.w.norm, this.cfg.rmsNormEps);
    if (L > 0) x.dispose();
    trace(`hidden_states.${L}`, out);
    return out;
  }

  /** logits [rows, V] of final hidden states. */
  logits(h: Tensor): Tensor {
    return this.b.linear(h, this.w.lmHead);
  }

  private layer(l: number, x: Tensor, cos: Tensor, sin: Tensor, cache: KvBinding): Tensor {
    const { b, cfg } = this;
    const w: TextLayerWeights = this.w.layers[l];
    const eps = cfg.rmsNormEps;
    const heads = { nHeads: cfg.numAttentionHeads, nKvHeads: cfg.numKeyValueHeads, headDim: cfg.headDim };
    const qkv = linearEx(b, x, w.qkvProj, { norm: { w: w.inputLayernorm, eps } }); // [T, (nh + 2·nkv)·hd]
    const kv = cache.target(l, x.rows);
    // Normed, rotated keys and values go straight to the binding's rows; q [T, nh·hd] comes back.
    const q = qkvPost(b, qkv, w.qNorm, w.kNorm, cos, sin, eps, kv.k, kv.v, kv.row0, heads);
    const o = cache.attend(l, q, kv, { ...heads, scale: 1 / Math.sqrt(cfg.headDim) });
    const h = linearEx(b, o, w.oProj, { residual: x });
    return this.mlp(w.mlp, h, { w: w.postAttentionLayernorm, eps });
  }

  /** h + MLP(RMSNorm(h)): dense SwiGLU with the norm and residual fused into its matmuls, or the MoE block. */
  private mlp(m: MlpWeights, h: Tensor, norm: { w: Tensor; eps: number }): Tensor {
    const b = this.b;
    if (m.kind === 'dense') return linearEx(b, linearEx(b, h, m.gateUp, { norm }), m.down, { swiglu: true, residual: h });
    const a = b.rmsNorm(h, norm.w, norm.eps);
    const { ids, weights } = b.routerTopk(b.linear(a, m.router), this.cfg.moe!.numExpertsPerTok);
    return b.add(h, b.moe(a, ids, weights, m.gateUp, m.down));
  }
}

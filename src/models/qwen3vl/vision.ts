// The Qwen3-VL vision tower (spec §4): patch embedding, bilinearly interpolated learned position embedding, 2-D
// rotary, full attention within each image / temporal group, final patch merger and DeepStack mergers.

import type { Backend } from '../../backend/backend.js';
import { linearEx } from '../../backend/fused.js';
import type { VisionConfig } from './config.js';
import { visionRopeTables } from '../../nn/rope.js';
import type { Trace } from '../../nn/trace.js';
import { tidy, type Tensor } from '../../tensor/tensor.js';
import type { MergerWeights, VisionWeights } from './weights.js';
import { InputError, checkGrids } from './positions.js';

export interface VisionOutput {
  /** [N/4, O] merged tokens, in (image, t, block row, block col) order. */
  readonly merged: Tensor;
  /** One [N/4, O] tensor per DeepStack level. */
  readonly deepstack: readonly Tensor[];
}

/** Patch layout of a batch of grids, in the processor's merge-window row order (spec §4.1). */
export interface PatchLayout {
  readonly rows: Int32Array; // patch row within its image
  readonly cols: Int32Array;
  /** Bilinear position-embedding taps: 4 table indices and 4 weights per patch. */
  readonly posIdx: Int32Array;
  readonly posW: Float32Array;
  /** cu_seqlens: one attention segment per temporal patch of each grid. */
  readonly segments: number[];
}

const f = Math.fround;

export function patchLayout(grids: readonly (readonly number[])[], merge: number, numPos: number): PatchLayout {
  const side = Math.round(Math.sqrt(numPos));
  const n = grids.reduce((a, [t, h, w]) => a + t * h * w, 0);
  const rows = new Int32Array(n);
  const cols = new Int32Array(n);
  const posIdx = new Int32Array(n * 4);
  const posW = new Float32Array(n * 4);
  const segments = [0];
  let o = 0;
  for (const [t, h, w] of grids) {
    // align_corners mapping of the grid onto the side×side table, in f32 (closed form i·(side−1)/(len−1)).
    const coord = (len: number) => Float32Array.from({ length: len }, (_, i) => (len === 1 ? 0 : f((i * (side - 1)) / (len - 1))));
    const hs = coord(h);
    const ws = coord(w);
    for (let ti = 0; ti < t; ti++) {
      for (let br = 0; br < h / merge; br++) {
        for (let bc = 0; bc < w / merge; bc++) {
          for (let ir = 0; ir < merge; ir++) {
            for (let ic = 0; ic < merge; ic++, o++) {
              const r = br * merge + ir;
              const c = bc * merge + ic;
              rows[o] = r;
              cols[o] = c;
              const hf = Math.trunc(hs[r]);
              const wf = Math.trunc(ws[c]);
              const hc = Math.min(hf + 1, side - 1);
              const wc = Math.min(wf + 1, side - 1);
              const dh = f(hs[r] - hf);
              const dw = f(ws[c] - wf);
              posIdx.set([hf * side + wf, hf * side + wc, hc * side + wf, hc * side + wc], o * 4);
              posW.set([f(f(1 - dh) * f(1 - dw)), f(f(1 - dh) * dw), f(dh * f(1 - dw)), f(dh * dw)], o * 4);
            }
          }
        }
      }
      segments.push(segments[segments.length - 1] + h * w);
    }
  }
  return { rows, cols, posIdx, posW, segments };
}

export class VisionTower {
  constructor(
    private readonly b: Backend,
    readonly cfg: VisionConfig,
    private readonly w: VisionWeights,
  ) {}

  get patchDim(): number {
    const c = this.cfg;
    return c.inChannels * c.temporalPatchSize * c.patchSize * c.patchSize;
  }

  /** Encode pixel patches [N, C·T·P·P] of the given grids (validated against N). */
  forward(pixels: Float32Array, grids: readonly (readonly number[])[], trace: Trace, what = 'pixelValues'): VisionOutput {
    const { b, cfg, w } = this;
    const merge = cfg.spatialMergeSize;
    checkGrids(grids, `${what} grids`, merge);
    const n = grids.reduce((a, [t, h, ww]) => a + t * h * ww, 0);
    if (pixels.length !== n * this.patchDim) {
      throw new InputError(`${what} holds ${pixels.length / this.patchDim} patches of ${this.patchDim} values, but the grids [${grids.map((g) => `[${g}]`)}] need ${n}`);
    }
    const lay = patchLayout(grids, merge, cfg.numPositionEmbeddings);
    const hd = cfg.hiddenSize / cfg.numHeads;
    const rope = visionRopeTables(lay.rows, lay.cols, hd, cfg.ropeTheta);
    return tidy(() => {
      const cos = b.upload(rope.cos, [n, hd], 'f32');
      const sin = b.upload(rope.sin, [n, hd], 'f32');
      const px = b.upload(pixels, [n, this.patchDim], 'f32');
      const pe = b.gatherRows(w.posEmbed, b.upload(lay.posIdx, [n * 4], 'i32'), 4, b.upload(lay.posW, [n * 4], 'f32'));
      let x = b.add(b.linear(px, w.patchEmbed.weight, w.patchEmbed.bias), pe); // [N, Hv]
      trace('visual.hidden_states.0', x);
      const deepstack: Tensor[] = [];
      for (let i = 0; i < cfg.depth; i++) {
        const prev = x;
        x = tidy(() => this.block(i, x, cos, sin, lay.segments));
        prev.dispose();
        trace(`visual.hidden_states.${i + 1}`, x);
        const j = cfg.deepstackVisualIndexes.indexOf(i);
        if (j >= 0) deepstack[j] = this.merger(w.deepstackMergers[j], x, true);
      }
      trace('visual.last_hidden_state', x);
      const merged = this.merger(w.merger, x, false);
      trace('visual.pooler_output.0', merged);
      deepstack.forEach((d, j) => trace(`visual.deepstack_features.${j}`, d));
      return { merged, deepstack };
    });
  }

  private block(i: number, x: Tensor, cos: Tensor, sin: Tensor, segments: number[]): Tensor {
    const { b, cfg } = this;
    const bw = this.w.blocks[i];
    const hd = cfg.hiddenSize / cfg.numHeads;
    const a = b.layerNorm(x, bw.norm1.weight, bw.norm1.bias!, 1e-6);
    const q = b.rope(b.linear(a, bw.q.weight, bw.q.bias), cos, sin);
    const k = b.rope(b.linear(a, bw.k.weight, bw.k.bias), cos, sin);
    const v = b.linear(a, bw.v.weight, bw.v.bias);
    const o = b.attention(q, k, v, { nHeads: cfg.numHeads, nKvHeads: cfg.numHeads, headDim: hd, scale: 1 / Math.sqrt(hd), kvLen: x.rows, causal: false, segments });
    // Bias, GELU and the residual adds ride in the GEMMs' write-back where the backend fuses them (linearEx).
    const h = linearEx(b, o, bw.proj.weight, { bias: bw.proj.bias, residual: x });
    const m = b.layerNorm(h, bw.norm2.weight, bw.norm2.bias!, 1e-6);
    const f = linearEx(b, m, bw.linearFc1.weight, { bias: bw.linearFc1.bias, gelu: 'tanh' }); // [N, Iv]
    return linearEx(b, f, bw.linearFc2.weight, { bias: bw.linearFc2.bias, residual: h });
  }

  /** Merge 2×2 windows into one token: LayerNorm before (final merger) or after (DeepStack) the 4-row shuffle. */
  private merger(mw: MergerWeights, x: Tensor, postShuffle: boolean): Tensor {
    const b = this.b;
    const win = this.cfg.spatialMergeSize ** 2;
    return tidy(() => {
      const shuffled = (t: Tensor) => t.reshape([t.rows / win, t.cols * win]);
      const normed = postShuffle ? b.layerNorm(shuffled(x), mw.norm.weight, mw.norm.bias!, 1e-6) : shuffled(b.layerNorm(x, mw.norm.weight, mw.norm.bias!, 1e-6));
      return b.linear(linearEx(b, normed, mw.linearFc1.weight, { bias: mw.linearFc1.bias, gelu: 'none' }), mw.linearFc2.weight, mw.linearFc2.bias);
    });
  }
}

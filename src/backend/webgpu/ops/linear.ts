// linear: y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias). A few rows go to the matrix-vector kernel (decode is bandwidth-bound:
// it must stream the weights once at full speed); more rows to the tiled matmul, with tiles sized to fill the GPU.

import type { Tensor } from '../../../tensor/tensor.js';
import { type Ctx, weightFormat } from '../ctx.js';
import type { GpuBuf } from '../runtime.js';
import { f32bits } from '../runtime.js';

/** Workgroups a matmul should have before split-K stops (about two per H200 multiprocessor). */
const SPLITK_TARGET_TILES = 264;

/** Rows from which the tiled matmul fits its tile height to M (rt.matmulFit). */
const FIT_MIN_ROWS = 512;

/** Workgroups under which the fast matmul takes a smaller tile (one per H200 multiprocessor). */
const FAST_MIN_TILES = 132;

/** Rows up to which the matrix-vector kernel is used. */
export const MATVEC_MAX_ROWS = 4;

export interface MatvecExtras {
  /** RMSNorm of x (weight, eps) applied on the fly. */
  readonly norm?: { readonly w: GpuBuf; readonly eps: number };
  /** x is [M, 2K] (gate | up) and enters as silu(gate) ⊙ up. */
  readonly swiglu?: boolean;
  /** Added to the output ([M, N] f32). */
  readonly residual?: GpuBuf;
}

/** Record the matrix-vector kernel: k = w.cols, m <= MATVEC_MAX_ROWS, k % 8 == 0. */
export function matvec(c: Ctx, xb: GpuBuf, m: number, w: Tensor, bias: GpuBuf | null, out: GpuBuf, ex: MatvecExtras = {}): void {
  const n = w.rows;
  const k = w.cols;
  const ws = c.store(w);
  // Threads per row: enough 8-weight chunks per thread to pipeline loads, without idle lanes on short rows.
  const tpr = Math.min(32, Math.max(4, 2 ** Math.floor(Math.log2(k / 8 / 4))));
  const consts = { WG: 256, TPR: tpr, MMAX: m <= 1 ? 1 : MATVEC_MAX_ROWS, BIAS: !!bias, NORM: !!ex.norm, SWIGLU: !!ex.swiglu, RESID: !!ex.residual };
  c.run(
    { shader: 'matvec', fmt: weightFormat(w.dtype), bindings: ['r', 'r', 'r', 'r', 'r', 'w'], consts },
    [xb, ws.gb, bias ?? c.dummy, ex.norm?.w ?? c.dummy, ex.residual ?? c.dummy, out],
    [m, n, k, ws.qoff, f32bits(ex.norm?.eps ?? 0)],
    Math.ceil(n / (consts.WG / consts.TPR)),
  );
}

export function linear(c: Ctx, x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  const n = w.rows;
  const k = w.cols;
  if (x.cols !== k) throw new Error(`webgpu.linear: x [${x.shape}] does not match w [${w.shape}] (K = ${k})`);
  if (bias && bias.size !== n) throw new Error(`webgpu.linear: bias of ${bias.size} values for ${n} outputs`);
  const m = x.rows;
  const out = c.make([...x.shape.slice(0, -1), n]);
  const xb = c.act(x, 'linear');
  const bb = bias ? c.vec(bias, 'linear bias') : null;
  const vec = k % 8 === 0;
  if (m <= MATVEC_MAX_ROWS && vec) {
    matvec(c, xb, m, w, bb, c.store(out).gb);
  } else if (c.rt.fast && w.dtype === 'f16' && k % 16 === 0 && n % 16 === 0) {
    matmulFast(c, xb, m, w, bb, c.store(out).gb);
  } else if (c.rt.subgroupMatrix && vec && (w.dtype === 'bf16' || w.dtype === 'f16')) {
    matmulSgmat(c, x, w, bb, c.store(out).gb);
  } else {
    const ws = c.store(w);
    const big = Math.ceil(m / 128) * Math.ceil(n / 128) >= 264;
    let [bm, bn, tm, tn] = big ? [128, 128, 8, 8] : [64, 64, 4, 4];
    if (c.rt.matmulFit && m >= FIT_MIN_ROWS && n >= 128) {
      // 8×8 results a thread, 128 columns, and 128, 96 or 64 rows a tile, whichever pads M least; split K below
      // fills the GPU. H200 (run 11): 1024×4096×4096 24 -> 32 TFLOP/s, 784×3456×1152 (8B vision at 448²) 18 -> 22;
      // below 512 rows (a 270-token prompt) the 64×64 tiles without split K stayed faster (18.5 vs 14.5 TFLOP/s).
      bm = [96, 64].reduce((best, b) => (Math.ceil(m / b) * b < Math.ceil(m / best) * best ? b : best), 128);
      [bn, tm, tn] = [128, 8, 8];
    }
    const tiles = Math.ceil(m / bm) * Math.ceil(n / bn);
    // Too few tiles to fill the GPU (prefill of a few hundred tokens): split K so more workgroups run.
    const splits = vec ? Math.min(8, Math.floor(k / 256), Math.ceil(SPLITK_TARGET_TILES / tiles)) : 1;
    const kc = splits > 1 ? Math.ceil(k / splits / 16) * 16 : k;
    const z = Math.ceil(k / kc);
    const consts = { BM: bm, BN: bn, BK: 16, TM: tm, TN: tn, VEC: vec, BIAS: !!bias && z === 1, SPLIT: z > 1 };
    const part = z > 1 ? c.scratch(z * m * n * 4) : c.store(out).gb;
    c.run(
      { shader: 'matmul', fmt: weightFormat(w.dtype), bindings: ['r', 'r', 'r', 'w'], consts },
      [xb, ws.gb, bb ?? c.dummy, part],
      [m, n, k, ws.qoff, kc],
      [Math.ceil(n / bn), Math.ceil(m / bm), z],
    );
    if (z > 1) {
      c.run({ shader: 'splitk_sum', bindings: ['r', 'r', 'w'], consts: { BIAS: !!bias } }, [part, bb ?? c.dummy, c.store(out).gb], [m * n, n, z], Math.ceil((m * n) / 256));
    }
  }
  c.done();
  return out;
}

/**
 * The tiled matmul on f16 subgroup matrices (matmul_sgmat.wgsl; 128×128 tiles, split K when the tiles are too few
 * to fill the GPU). Activations enter as hi + lo f16 pairs, bf16/f16 weights exactly, accumulation in f32.
 */
function matmulSgmat(c: Ctx, x: Tensor, w: Tensor, bias: GpuBuf | null, out: GpuBuf): void {
  const [m, n, k] = [x.rows, w.rows, w.cols];
  const ws = c.store(w);
  const tiles = Math.ceil(m / 128) * Math.ceil(n / 128);
  const splits = Math.max(1, Math.min(8, Math.floor(k / 256), Math.ceil(SPLITK_TARGET_TILES / tiles)));
  const kc = splits > 1 ? Math.ceil(k / splits / 32) * 32 : k;
  const z = Math.ceil(k / kc);
  const part = z > 1 ? c.scratch(z * m * n * 4) : out;
  c.run(
    { shader: 'matmul_sgmat', fmt: weightFormat(w.dtype), bindings: ['r', 'r', 'r', 'w'], consts: { BIAS: !!bias && z === 1, SPLIT: z > 1 } },
    [c.act(x, 'linear'), ws.gb, bias ?? c.dummy, part],
    [m, n, k, ws.qoff, kc],
    [Math.ceil(n / 128), Math.ceil(m / 128), z],
  );
  if (z > 1) {
    c.run({ shader: 'splitk_sum', bindings: ['r', 'r', 'w'], consts: { BIAS: !!bias } }, [part, bias ?? c.dummy, out], [m * n, n, z], Math.ceil((m * n) / 256));
  }
}

/**
 * Precision 'fast': activations to f16 with a power-of-two scale per row (to_f16.wgsl), then plain f16 × f16 → f32
 * tensor-core products (matmul_h.wgsl). The tile is rt.fastTile, or a smaller one when that leaves fewer
 * workgroups than multiprocessors; split K when even those are too few.
 */
export function matmulFast(c: Ctx, xb: GpuBuf, m: number, w: Tensor, bias: GpuBuf | null, out: GpuBuf): void {
  const [n, k] = [w.rows, w.cols];
  const tilesOf = (t: readonly number[]) => Math.ceil(m / (t[0] * t[2] * 16)) * Math.ceil(n / (t[1] * t[3] * 16));
  const staged = c.rt.fastMatmul === 'staged';
  const first = staged && !stagedFits(c, c.rt.fastTile) ? ([2, 2, 4, 4] as const) : c.rt.fastTile;
  const options = [first, [2, 2, 2, 4], [2, 2, 2, 2]] as const;
  const tile = options.find((t) => tilesOf(t) >= FAST_MIN_TILES) ?? options[options.length - 1];
  const [wm, wn, fm, fn] = tile;
  const tm = wm * fm * 16;
  const mp = Math.ceil(m / tm) * tm;
  const tiles = tilesOf(tile);
  const splits = Math.max(1, Math.min(8, Math.floor(k / 512), Math.ceil(SPLITK_TARGET_TILES / tiles)));
  const kc = splits > 1 ? Math.ceil(k / splits / 32) * 32 : k;
  const z = Math.ceil(k / kc);
  const xh = c.scratch(mp * k * 2);
  const sc = c.scratch(mp * 4);
  c.run({ shader: 'to_f16', bindings: ['r', 'w', 'w'] }, [xb, xh, sc], [m, k, mp], mp);
  const part = z > 1 ? c.scratch(z * m * n * 4) : out;
  c.run(
    { shader: staged ? 'matmul_hs' : 'matmul_h', bindings: ['r', 'r', 'r', 'r', 'w'], consts: { WM: wm, WN: wn, FM: fm, FN: fn, BIAS: !!bias && z === 1, SPLIT: z > 1 } },
    [xh, sc, c.store(w).gb, bias ?? c.dummy, part],
    [m, n, k, kc],
    [Math.ceil(n / (wn * fn * 16)), mp / tm, z],
  );
  if (z > 1) {
    c.run({ shader: 'splitk_sum', bindings: ['r', 'r', 'w'], consts: { BIAS: !!bias } }, [part, bias ?? c.dummy, out], [m * n, n, z], Math.ceil((m * n) / 256));
  }
}

/**
 * Whether matmul_hs.wgsl takes a tiling: two 32-deep K slices of A and B (rows padded to 40 halves) and a 16×16 f32
 * square per subgroup in workgroup memory, and whole 8-half chunks per thread for the copies.
 */
export function stagedFits(c: Ctx, t: readonly number[]): boolean {
  const [wm, wn, fm, fn] = t;
  const bytes = 2 * (wm * fm * 16) * 40 * 2 + 2 * (wn * fn * 16) * 40 * 2 + wm * wn * 1024;
  return bytes <= c.rt.maxWorkgroupStorage && (fm * 2) % wn === 0 && (fn * 2) % wm === 0;
}

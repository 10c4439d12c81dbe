// The op harness: one list of cases over every backend op, each run on a backend and on `ref`, compared with a
// tolerance declared per op. Backend test files call `describeOpSuite(name, factory)`.

import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { RefBackend } from '../../src/backend/ref/index.js';
import { type DType, toBf16 } from '../../src/tensor/dtype.js';
import { quantize } from '../../src/tensor/quant.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { rng } from '../helpers/rng.js';
import { relErr } from '../helpers/compare.js';
import { linearEx, qkvPost } from '../../src/backend/fused.js';
import { kvDTypes } from '../../src/backend/paged.js';
import { pagedCases } from './pagedCases.js';

/** A case builds its inputs on a backend from a seed and returns the tensor(s) to compare. */
export interface OpCase {
  name: string;
  /** A KV storage format the case needs (paged ops); backends without it skip the case. */
  kvDType?: 'f32' | 'f16' | 'q8_0';
  /** Max relative error: max|a−b| / max|ref|. */
  tol: number;
  run(b: Backend, r: () => number): Tensor | Tensor[];
}

function rand(r: () => number, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** Upload random weights [n, k] in `dtype` (quantized on the host for q8_0/q4_0). */
function weight(b: Backend, r: () => number, n: number, k: number, dtype: DType): Tensor {
  const x = rand(r, n * k, 0.5);
  if (dtype === 'f32') return b.upload(x, [n, k], 'f32');
  if (dtype === 'bf16') return b.upload(toBf16(x), [n, k], 'bf16');
  if (dtype === 'q8_0' || dtype === 'q4_0') return b.upload(quantize(x, k, dtype), [n, k], dtype);
  throw new Error(`weight dtype ${dtype}`);
}

function act(b: Backend, r: () => number, shape: number[], scale = 1): Tensor {
  return b.upload(rand(r, shape.reduce((a, c) => a * c, 1), scale), shape, 'f32');
}

function ints(b: Backend, vals: number[], shape = [vals.length]): Tensor {
  return b.upload(Int32Array.from(vals), shape, 'i32');
}

const weightTypes: DType[] = ['f32', 'bf16', 'q8_0', 'q4_0'];

/** Shapes deliberately off the usual tile/block multiples. */
const linearShapes: [number, number, number][] = [
  [1, 64, 96],
  [1, 160, 64],
  [3, 96, 33],
  [17, 128, 70],
  [64, 256, 129],
  [130, 64, 48],
  // Past the CPU backend's GEMM blocking: K over one 256-deep block, N over 64-row tiles, M over the 6-row panel.
  [13, 544, 130],
  [40, 96, 72],
  // GPU tile heights fitted to M (from 512 rows): 96-row tiles for 520 rows, 64-row tiles for 704.
  [520, 64, 136],
  [704, 32, 130],
  // CPU GEMM blocking: M over the 1024-row tile (two balanced tiles, a 12-row panel's remainder), N over the 256-row
  // task width with a partial last panel.
  [1030, 32, 40],
  [25, 64, 600],
  // The CPU int8 GEMMs (q8_0/q4_0 weights, more than 24 rows): K of one block with rows off the 4-/6-row micro-tiles
  // and a partial weight panel; 33 blocks (three 16-block K chunks).
  [29, 32, 17],
  [37, 1056, 50],
  // Weight panels are packed eight rows at a time: a last panel of 13 rows ends in a group of five.
  [33, 64, 77],
  // The last micro-panel of the int8 GEMMs two and three rows short of the AVX2 4-row tile (AVX2 q8_0 lays four
  // rows out together as i16 k-pairs; missing rows are zeros) and of the VNNI 6-row tile.
  [26, 64, 40],
  [31, 96, 24],
];

export const opCases: OpCase[] = [
  ...weightTypes.flatMap((dt) =>
    linearShapes.map(([m, k, n]): OpCase => ({
      name: `linear ${dt} m${m} k${k} n${n}`,
      tol: 1e-5,
      run: (b, r) => b.linear(act(b, r, [m, k]), weight(b, r, n, k, dt)),
    })),
  ),
  { name: 'linear bias', tol: 1e-5, run: (b, r) => b.linear(act(b, r, [5, 48]), weight(b, r, 40, 48, 'bf16'), act(b, r, [40])) },
  // Bias added in the GEMM's write-back (full and partial panels, two tasks).
  { name: 'linear bias gemm', tol: 1e-5, run: (b, r) => b.linear(act(b, r, [30, 64]), weight(b, r, 300, 64, 'f32'), act(b, r, [300])) },
  // bf16 GEMMs the CPU's AMX path (precision 'fast') takes and leaves: a vision-tower-like K (1536: three 512-deep
  // blocks) with bias and a partial 32-row group; K not a multiple of 32 (the f32 GEMM runs).
  { name: 'linear bf16 gemm bias m45 k1536 n70', tol: 1e-5, run: (b, r) => b.linear(act(b, r, [45, 1536]), weight(b, r, 70, 1536, 'bf16'), act(b, r, [70])) },
  { name: 'linear bf16 gemm m9 k40 n50', tol: 1e-5, run: (b, r) => b.linear(act(b, r, [9, 40]), weight(b, r, 50, 40, 'bf16')) },
  // Weights packed for the GEMM (packWeight; ref has none and uses w as is): one row (no matrix-vector path for
  // packed weights), a partial 32-row panel, odd K (bf16 k-pairs padded), K over one 256-deep block with bias, the
  // vision tower's K = 1536 (AMX-BF16 reads the panels in place under precision 'fast'), two M tiles.
  ...(['f32', 'bf16'] as const).flatMap((dt) =>
    // Guided GEMM tasks: 1000 columns split into shrinking column ranges (down to two micro-panels, a partial last one)
    // over two M tiles.
    ([[1, 64, 96], [17, 41, 70], [25, 544, 130], [45, 1536, 70], [1030, 32, 40], [1030, 40, 1000]] as const).map(([m, k, n]): OpCase => ({
      name: `linear ${dt} packed m${m} k${k} n${n}`,
      tol: 1e-5,
      run: (b, r) => {
        const w = weight(b, r, n, k, dt);
        return b.linear(act(b, r, [m, k]), b.packWeight?.(w) ?? w, m === 25 ? act(b, r, [n]) : undefined);
      },
    })),
  ),
  ...weightTypes.map((dt): OpCase => ({
    name: `gatherRows ${dt}`,
    tol: 1e-6,
    run: (b, r) => b.gatherRows(weight(b, r, 50, 64, dt), ints(b, [3, 0, 49, 3, 17])),
  })),
  {
    name: 'gatherRows weighted k=4',
    tol: 1e-6,
    run: (b, r) => b.gatherRows(act(b, r, [36, 24]), ints(b, [0, 1, 6, 7, 4, 5, 10, 11, 35, 35, 35, 35]), 4, act(b, r, [12])),
  },
  { name: 'add', tol: 1e-7, run: (b, r) => b.add(act(b, r, [7, 33]), act(b, r, [7, 33])) },
  { name: 'rmsNorm', tol: 1e-6, run: (b, r) => b.rmsNorm(act(b, r, [9, 200], 3), act(b, r, [200]), 1e-6) },
  { name: 'rmsNorm per head', tol: 1e-6, run: (b, r) => b.rmsNorm(act(b, r, [5, 4 * 32]), act(b, r, [32]), 1e-6) },
  { name: 'layerNorm', tol: 1e-6, run: (b, r) => b.layerNorm(act(b, r, [11, 72], 2), act(b, r, [72]), act(b, r, [72]), 1e-6) },
  { name: 'swiglu', tol: 1e-6, run: (b, r) => b.swiglu(act(b, r, [6, 2 * 75], 4)) },
  { name: 'gelu tanh', tol: 1e-6, run: (b, r) => b.gelu(act(b, r, [5, 99], 4), 'tanh') },
  { name: 'gelu erf', tol: 1e-6, run: (b, r) => b.gelu(act(b, r, [5, 99], 4), 'none') },
  {
    name: 'rope hd72',
    tol: 1e-6,
    run: (b, r) => b.rope(act(b, r, [7, 3 * 72]), act(b, r, [7, 72]), act(b, r, [7, 72])),
  },
  ...[
    { t: 1, s: 9, nh: 4, nkv: 2, hd: 32, causal: true },
    { t: 13, s: 13, nh: 4, nkv: 2, hd: 32, causal: true },
    { t: 5, s: 21, nh: 8, nkv: 1, hd: 64, causal: true },
    // Decode rows over several key splits (the GPU's split-K path), and many rows over several key tiles.
    { t: 1, s: 150, nh: 4, nkv: 2, hd: 128, causal: true },
    { t: 3, s: 301, nh: 2, nkv: 1, hd: 64, causal: true },
    { t: 150, s: 230, nh: 2, nkv: 2, hd: 64, causal: true },
    { t: 37, s: 37, nh: 2, nkv: 2, hd: 72, causal: false },
    // Tiled paths: a prefill chunk after cached keys, and a prompt spanning several query tiles and key blocks.
    { t: 40, s: 70, nh: 4, nkv: 2, hd: 64, causal: true },
    { t: 70, s: 70, nh: 2, nkv: 1, hd: 128, causal: true },
    // Decode over many key chunks (cpu: split-K partial softmaxes merged), GQA groups of 1, 2, 4 and 8, head sizes
    // that do and do not fit the register blocking.
    { t: 1, s: 150, nh: 8, nkv: 2, hd: 64, causal: true },
    { t: 3, s: 200, nh: 16, nkv: 8, hd: 128, causal: true },
    { t: 2, s: 133, nh: 8, nkv: 1, hd: 72, causal: true },
    { t: 1, s: 100, nh: 3, nkv: 3, hd: 40, causal: false },
    // Tiled prefill with head sizes off the CPU kernels' 8- (AVX-512) and 4-row (AVX2) d slices (zero-padded values).
    { t: 100, s: 130, nh: 4, nkv: 2, hd: 36, causal: true },
    { t: 60, s: 60, nh: 2, nkv: 1, hd: 18, causal: false },
    // Query tiles, keys and the output moved in 8×8 register blocks (AVX2) with rows past the last whole block (45 rows:
    // a 24-row tile and 21 = 2·8 + 5) and a last key group of one (kvLen 45); hd 72 keeps it off the bf16 path of
    // precision fast (hd a multiple of 32).
    { t: 45, s: 45, nh: 2, nkv: 2, hd: 72, causal: false },
    // From 2048 keys the AVX2 tiled kernel takes 256-key blocks (a partial last one here).
    { t: 30, s: 2100, nh: 2, nkv: 1, hd: 16, causal: true },
    { t: 40, s: 2100, nh: 2, nkv: 2, hd: 24, causal: false },
  ].map(
    (c): OpCase => ({
      name: `attention t${c.t} s${c.s} nh${c.nh} nkv${c.nkv} hd${c.hd}${c.causal ? ' causal' : ''}`,
      tol: 1e-5,
      run: (b, r) =>
        b.attention(act(b, r, [c.t, c.nh * c.hd]), act(b, r, [c.s + 3, c.nkv * c.hd]), act(b, r, [c.s + 3, c.nkv * c.hd]), {
          nHeads: c.nh,
          nKvHeads: c.nkv,
          headDim: c.hd,
          scale: c.hd ** -0.5,
          kvLen: c.s,
          causal: c.causal,
        }),
    }),
  ),
  {
    name: 'attention segments',
    tol: 1e-5,
    run: (b, r) =>
      b.attention(act(b, r, [24, 2 * 16]), act(b, r, [24, 2 * 16]), act(b, r, [24, 2 * 16]), {
        nHeads: 2,
        nKvHeads: 2,
        headDim: 16,
        scale: 0.25,
        kvLen: 24,
        causal: false,
        segments: [0, 6, 10, 24],
      }),
  },
  // Over a thousand rows (the GPU's one-row-per-thread kernel): GQA with cached keys, and vision-like segments.
  {
    name: 'attention t1100 s1200 nh2 nkv1 hd64 causal',
    tol: 1e-5,
    run: (b, r) =>
      b.attention(act(b, r, [1100, 2 * 64]), act(b, r, [1200, 64]), act(b, r, [1200, 64]), {
        nHeads: 2,
        nKvHeads: 1,
        headDim: 64,
        scale: 0.125,
        kvLen: 1200,
        causal: true,
      }),
  },
  {
    name: 'attention t1030 segments hd72',
    tol: 1e-5,
    run: (b, r) =>
      b.attention(act(b, r, [1030, 72]), act(b, r, [1030, 72]), act(b, r, [1030, 72]), {
        nHeads: 1,
        nKvHeads: 1,
        headDim: 72,
        scale: 72 ** -0.5,
        kvLen: 1030,
        causal: false,
        segments: [0, 500, 517, 1030],
      }),
  },
  // The vision tower's shape: head size 64 (one 4-vector register block per row on AVX-512), two images.
  {
    name: 'attention vision hd64 two segments',
    tol: 1e-5,
    run: (b, r) =>
      b.attention(act(b, r, [300, 4 * 64]), act(b, r, [300, 4 * 64]), act(b, r, [300, 4 * 64]), {
        nHeads: 4,
        nKvHeads: 4,
        headDim: 64,
        scale: 0.125,
        kvLen: 300,
        causal: false,
        segments: [0, 196, 300],
      }),
  },
  {
    name: 'attention segments across tiles',
    tol: 1e-5,
    run: (b, r) =>
      b.attention(act(b, r, [100, 2 * 72]), act(b, r, [100, 2 * 72]), act(b, r, [100, 2 * 72]), {
        nHeads: 2,
        nKvHeads: 2,
        headDim: 72,
        scale: 72 ** -0.5,
        kvLen: 100,
        causal: false,
        segments: [0, 40, 45, 100],
      }),
  },
  {
    name: 'writeRows',
    tol: 0,
    run: (b, r) => {
      const dst = b.zeros([10, 12]);
      b.writeRows(dst, 3, act(b, r, [4, 12]));
      b.writeRows(dst, 9, act(b, r, [1, 12]));
      return dst;
    },
  },
  { name: 'sliceRows', tol: 0, run: (b, r) => b.sliceRows(act(b, r, [10, 7]), 4, 3) },
  {
    name: 'scatterRows set+add',
    tol: 1e-7,
    run: (b, r) => {
      const dst = act(b, r, [12, 16]);
      b.scatterRows(dst, ints(b, [1, 5, 11]), act(b, r, [3, 16]), false);
      b.scatterRows(dst, ints(b, [0, 5]), act(b, r, [2, 16]), true);
      return dst;
    },
  },
  {
    name: 'routerTopk',
    tol: 1e-6,
    run: (b, r) => {
      const { ids, weights } = b.routerTopk(act(b, r, [7, 8], 3), 2);
      return [ids, weights];
    },
  },
  ...(['f32', 'bf16', 'q8_0', 'q4_0'] as DType[]).map(
    (dt): OpCase => ({
      name: `moe ${dt}`,
      tol: 1e-5,
      run: (b, r) => {
        const [e, h, inter, t, k] = [6, 64, 96, 5, 2];
        const gateUp = weight(b, r, e * 2 * inter, h, dt).reshape([e, 2 * inter, h]);
        const down = weight(b, r, e * h, inter, dt).reshape([e, h, inter]);
        const ids = ints(b, [0, 5, 2, 3, 5, 1, 4, 0, 2, 2].slice(0, t * k), [t, k]);
        const w = act(b, r, [t, k]);
        return b.moe(act(b, r, [t, h]), ids, w, gateUp, down);
      },
    }),
  ),
  {
    // Many tokens per expert (the grouped matrix-matrix path of backends that batch by expert).
    name: 'moe q4_0 t24 k3',
    tol: 1e-5,
    run: (b, r) => {
      const [e, h, inter, t, k] = [4, 64, 32, 24, 3];
      const gateUp = weight(b, r, e * 2 * inter, h, 'q4_0').reshape([e, 2 * inter, h]);
      const down = weight(b, r, e * h, inter, 'q4_0').reshape([e, h, inter]);
      const ids = ints(b, Array.from({ length: t * k }, (_, i) => (i % k) + Math.floor(i / k) % 2), [t, k]);
      return b.moe(act(b, r, [t, h]), ids, act(b, r, [t, k]), gateUp, down);
    },
  },
  { name: 'argmax', tol: 0, run: (b, r) => b.argmax(act(b, r, [4, 1000])) },
  {
    // A vocabulary-length row (several chunks on a GPU) with its maximum repeated: the first occurrence wins.
    name: 'argmax long rows, ties',
    tol: 0,
    run: (b, r) => {
      const x = rand(r, 2 * 9001);
      for (const i of [7000, 8999, 9001 + 4100, 9001 + 2047, 9001 + 9000]) x[i] = 5;
      return b.argmax(b.upload(x, [2, 9001], 'f32'));
    },
  },
  // Fused ops: a backend's own kernels against the composition that defines them (backend/fused.ts).
  ...[1, 3, 9].flatMap((m): OpCase[] => [
    {
      name: `linearEx norm+residual m${m}`,
      tol: 1e-5,
      run: (b, r) => linearEx(b, act(b, r, [m, 256]), weight(b, r, 96, 256, 'bf16'), { norm: { w: act(b, r, [256]), eps: 1e-6 }, residual: act(b, r, [m, 96]) }),
    },
    {
      name: `linearEx q8_0 swiglu+residual m${m}`,
      tol: 1e-5,
      run: (b, r) => linearEx(b, act(b, r, [m, 2 * 160]), weight(b, r, 64, 160, 'q8_0'), { swiglu: true, residual: act(b, r, [m, 64]) }),
    },
  ]),
  { name: 'linearEx bias', tol: 1e-5, run: (b, r) => linearEx(b, act(b, r, [2, 64]), weight(b, r, 40, 64, 'f32'), { bias: act(b, r, [40]) }) },
  // GELU and the residual in the GEMM's write-back (the vision MLP; full and partial 32-column panels, two tasks), on
  // weights packed at load (no matrix-vector path; AMX-BF16 under 'fast'), in the int8 GEMM's write-back (q8_0/q4_0,
  // more than 24 rows), and after the matrix-vector kernels (separate passes).
  { name: 'linearEx gelu tanh gemm', tol: 1e-5, run: (b, r) => linearEx(b, act(b, r, [30, 64]), weight(b, r, 300, 64, 'f32'), { bias: act(b, r, [300]), gelu: 'tanh' }) },
  {
    name: 'linearEx bf16 packed gelu erf+residual m45 k1536 n70',
    tol: 1e-5,
    run: (b, r) => {
      const w = weight(b, r, 70, 1536, 'bf16');
      return linearEx(b, act(b, r, [45, 1536]), b.packWeight?.(w) ?? w, { bias: act(b, r, [70]), gelu: 'none', residual: act(b, r, [45, 70]) });
    },
  },
  {
    name: 'linearEx f32 packed residual m1030 k32 n40',
    tol: 1e-5,
    run: (b, r) => {
      const w = weight(b, r, 40, 32, 'f32');
      return linearEx(b, act(b, r, [1030, 32]), b.packWeight?.(w) ?? w, { residual: act(b, r, [1030, 40]) });
    },
  },
  { name: 'linearEx bf16 gelu tanh+residual m3', tol: 1e-5, run: (b, r) => linearEx(b, act(b, r, [3, 64]), weight(b, r, 40, 64, 'bf16'), { bias: act(b, r, [40]), gelu: 'tanh', residual: act(b, r, [3, 40]) }) },
  ...(['q8_0', 'q4_0'] as const).map(
    (dt): OpCase => ({
      name: `linearEx ${dt} int8 gemm gelu erf+residual m45 k96 n70`,
      tol: 1e-5,
      run: (b, r) => linearEx(b, act(b, r, [45, 96]), weight(b, r, 70, 96, dt), { bias: act(b, r, [70]), gelu: 'none', residual: act(b, r, [45, 70]) }),
    }),
  ),
  { name: 'linearEx q8_0 gelu tanh+residual m20', tol: 1e-5, run: (b, r) => linearEx(b, act(b, r, [20, 64]), weight(b, r, 40, 64, 'q8_0'), { bias: act(b, r, [40]), gelu: 'tanh', residual: act(b, r, [20, 40]) }) },
  ...[
    { t: 1, row0: 6 },
    { t: 5, row0: 0 },
  ].map(
    ({ t, row0 }): OpCase => ({
      name: `qkvPost t${t} row0 ${row0}`,
      tol: 1e-5,
      run: (b, r) => {
        const [nh, nkv, hd] = [4, 2, 32];
        const kc = act(b, r, [12, nkv * hd]);
        const vc = act(b, r, [12, nkv * hd]);
        const heads = { nHeads: nh, nKvHeads: nkv, headDim: hd };
        const q = qkvPost(b, act(b, r, [t, (nh + 2 * nkv) * hd]), act(b, r, [hd]), act(b, r, [hd]), act(b, r, [t, hd]), act(b, r, [t, hd]), 1e-6, kc, vc, row0, heads);
        return [q, kc, vc];
      },
    }),
  ),
  ...pagedCases,
];

async function readAll(x: Tensor | Tensor[]): Promise<(Float32Array | Int32Array)[]> {
  return Promise.all((Array.isArray(x) ? x : [x]).map((t) => t.read()));
}

/** Run every case (that the backend supports) on `make()` and on ref with the same seed. */
export interface OpSuiteOptions {
  skip?: (c: OpCase) => boolean;
  /** A backend-specific tolerance for a case (e.g. q8-rounded activations against quantized weights). */
  tol?: (c: OpCase) => number | undefined;
}

export function describeOpSuite(name: string, make: () => Promise<Backend | null>, opts: OpSuiteOptions = {}): void {
  describe(`op harness: ${name} vs ref`, () => {
    let be: Backend | null = null;
    const ref = new RefBackend();
    beforeAll(async () => {
      be = await make();
    });
    afterAll(() => be?.destroy());
    for (const c of opCases) {
      it(c.name, async (ctx) => {
        if (!be) return ctx.skip(`${name} backend not available`);
        if (opts.skip?.(c)) return ctx.skip('not supported by this backend');
        if (c.kvDType && !kvDTypes(be).includes(c.kvDType)) return ctx.skip(`${name} stores no ${c.kvDType} KV cache`);
        const want = await readAll(c.run(ref, rng(1234)));
        const got = await readAll(c.run(be, rng(1234)));
        expect(got.length).toBe(want.length);
        for (let i = 0; i < want.length; i++) {
          expect(got[i].length).toBe(want[i].length);
          expect(relErr(got[i], want[i])).toBeLessThanOrEqual(opts.tol?.(c) ?? c.tol);
        }
      });
    }
  });
}

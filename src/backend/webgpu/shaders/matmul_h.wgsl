// linear for many rows on f16 tensor cores (precision 'fast'): Y[M, N] = S[m] · (XH[M, K] · W[N, K]ᵀ) (+ bias).
// XH holds the activations as f16, each row scaled by the power of two S[m] (to_f16.wgsl), padded with zero rows
// to a whole number of tiles; W is f16 (bf16 weights are converted at load in this mode). Products accumulate in
// f32 (the f16 × f16 → f32 16×16×16 subgroup-matrix configuration). No workgroup memory on the way in: every
// subgroup loads its 16×16 operands straight from the storage buffers (L1 serves the other subgroups of the tile)
// and the next K slice is loaded before the current one is multiplied (register double buffering). The workgroup
// is WM × WN subgroups, each owning FM × FN result matrices (FM, FN ≤ 4: the 4 × 4 accumulators are written out,
// the unused ones are guarded by constants); results leave through a 16×16 f32 staging square per subgroup, where
// the row scale, the bias and the M / N bounds are applied. Column blocks past N are clamped inside W (their
// results are dropped), so N only needs to be a multiple of 16. Split K over grid z (SPLIT) as matmul.wgsl does.
// Consts: WM, WN, FM, FN, BIAS, SPLIT. Needs K % 16 == 0, N % 16 == 0, N ≥ 16 and subgroups of 32 lanes.
enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, subgroup_uniformity);
struct Params { m: u32, n: u32, k: u32, kc: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> XH: array<f16>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read> W: array<f16>;
@group(0) @binding(4) var<storage, read> B: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;

alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias C = subgroup_matrix_result<f32, 16, 16>;
var<workgroup> Cs: array<f32, WM * WN * 256u>;

// The 16×16 result a subgroup just staged in Cs goes to Y rows gm0.., columns gn0.. (inside M × N only).
fn flush(sg: u32, lane: u32, gm0: u32, gn0: u32, z: u32) {
  for (var e = lane; e < 256u; e += 32u) {
    let gm = gm0 + e / 16u;
    let gn = gn0 + e % 16u;
    if (gm < P.m && gn < P.n) {
      var v = Cs[sg * 256u + e] * S[gm];
      if (SPLIT) {
        Y[(z * P.m + gm) * P.n + gn] = v;
      } else {
        if (BIAS) { v += B[gn]; }
        Y[gm * P.n + gn] = v;
      }
    }
  }
}

@compute @workgroup_size(WM * WN * 32u)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let K = P.k;
  let gm = wg.y * (WM * FM * 16u) + (sg / WN) * (FM * 16u); // this subgroup's first row
  let gn = wg.x * (WN * FN * 16u) + (sg % WN) * (FN * 16u); // and first column
  var kb = 0u;
  var ke = K;
  if (SPLIT) {
    kb = wg.z * P.kc;
    ke = min(K, kb + P.kc);
  }
  // Operand offsets at k = 0: rows of XH (row-major), columns of W (W rows, read as a column-major K × 16 right matrix).
  let xo0 = (gm + 0u) * K;
  let xo1 = (gm + 16u) * K;
  let xo2 = (gm + 32u) * K;
  let xo3 = (gm + 48u) * K;
  let wo0 = min(gn + 0u, P.n - 16u) * K;
  let wo1 = min(gn + 16u, P.n - 16u) * K;
  let wo2 = min(gn + 32u, P.n - 16u) * K;
  let wo3 = min(gn + 48u, P.n - 16u) * K;
  var c00: C; var c01: C; var c02: C; var c03: C;
  var c10: C; var c11: C; var c12: C; var c13: C;
  var c20: C; var c21: C; var c22: C; var c23: C;
  var c30: C; var c31: C; var c32: C; var c33: C;
  var a0: L; var a1: L; var a2: L; var a3: L;
  var b0: R; var b1: R; var b2: R; var b3: R;
  var a0n: L; var a1n: L; var a2n: L; var a3n: L;
  var b0n: R; var b1n: R; var b2n: R; var b3n: R;
  a0 = subgroupMatrixLoad<L>(&XH, xo0 + kb, false, K);
  if (FM > 1u) { a1 = subgroupMatrixLoad<L>(&XH, xo1 + kb, false, K); }
  if (FM > 2u) { a2 = subgroupMatrixLoad<L>(&XH, xo2 + kb, false, K); }
  if (FM > 3u) { a3 = subgroupMatrixLoad<L>(&XH, xo3 + kb, false, K); }
  b0 = subgroupMatrixLoad<R>(&W, wo0 + kb, true, K);
  if (FN > 1u) { b1 = subgroupMatrixLoad<R>(&W, wo1 + kb, true, K); }
  if (FN > 2u) { b2 = subgroupMatrixLoad<R>(&W, wo2 + kb, true, K); }
  if (FN > 3u) { b3 = subgroupMatrixLoad<R>(&W, wo3 + kb, true, K); }
  for (var k0 = kb; k0 < ke; k0 += 16u) {
    // The next slice (the last pass reloads the current one, unused) is in flight while this one multiplies.
    let kn = min(k0 + 16u, ke - 16u);
    a0n = subgroupMatrixLoad<L>(&XH, xo0 + kn, false, K);
    if (FM > 1u) { a1n = subgroupMatrixLoad<L>(&XH, xo1 + kn, false, K); }
    if (FM > 2u) { a2n = subgroupMatrixLoad<L>(&XH, xo2 + kn, false, K); }
    if (FM > 3u) { a3n = subgroupMatrixLoad<L>(&XH, xo3 + kn, false, K); }
    b0n = subgroupMatrixLoad<R>(&W, wo0 + kn, true, K);
    if (FN > 1u) { b1n = subgroupMatrixLoad<R>(&W, wo1 + kn, true, K); }
    if (FN > 2u) { b2n = subgroupMatrixLoad<R>(&W, wo2 + kn, true, K); }
    if (FN > 3u) { b3n = subgroupMatrixLoad<R>(&W, wo3 + kn, true, K); }
    c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
    if (FN > 1u) { c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01); }
    if (FN > 2u) { c02 = subgroupMatrixMultiplyAccumulate(a0, b2, c02); }
    if (FN > 3u) { c03 = subgroupMatrixMultiplyAccumulate(a0, b3, c03); }
    if (FM > 1u) { c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); }
    if (FM > 1u && FN > 1u) { c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11); }
    if (FM > 1u && FN > 2u) { c12 = subgroupMatrixMultiplyAccumulate(a1, b2, c12); }
    if (FM > 1u && FN > 3u) { c13 = subgroupMatrixMultiplyAccumulate(a1, b3, c13); }
    if (FM > 2u) { c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); }
    if (FM > 2u && FN > 1u) { c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21); }
    if (FM > 2u && FN > 2u) { c22 = subgroupMatrixMultiplyAccumulate(a2, b2, c22); }
    if (FM > 2u && FN > 3u) { c23 = subgroupMatrixMultiplyAccumulate(a2, b3, c23); }
    if (FM > 3u) { c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); }
    if (FM > 3u && FN > 1u) { c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31); }
    if (FM > 3u && FN > 2u) { c32 = subgroupMatrixMultiplyAccumulate(a3, b2, c32); }
    if (FM > 3u && FN > 3u) { c33 = subgroupMatrixMultiplyAccumulate(a3, b3, c33); }
    a0 = a0n; a1 = a1n; a2 = a2n; a3 = a3n;
    b0 = b0n; b1 = b1n; b2 = b2n; b3 = b3n;
  }
  {
    subgroupMatrixStore(&Cs, sg * 256u, c00, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 0u, gn + 0u, wg.z);
    workgroupBarrier();
  }
  if (FN > 1u) {
    subgroupMatrixStore(&Cs, sg * 256u, c01, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 0u, gn + 16u, wg.z);
    workgroupBarrier();
  }
  if (FN > 2u) {
    subgroupMatrixStore(&Cs, sg * 256u, c02, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 0u, gn + 32u, wg.z);
    workgroupBarrier();
  }
  if (FN > 3u) {
    subgroupMatrixStore(&Cs, sg * 256u, c03, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 0u, gn + 48u, wg.z);
    workgroupBarrier();
  }
  if (FM > 1u) {
    subgroupMatrixStore(&Cs, sg * 256u, c10, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 16u, gn + 0u, wg.z);
    workgroupBarrier();
  }
  if (FM > 1u && FN > 1u) {
    subgroupMatrixStore(&Cs, sg * 256u, c11, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 16u, gn + 16u, wg.z);
    workgroupBarrier();
  }
  if (FM > 1u && FN > 2u) {
    subgroupMatrixStore(&Cs, sg * 256u, c12, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 16u, gn + 32u, wg.z);
    workgroupBarrier();
  }
  if (FM > 1u && FN > 3u) {
    subgroupMatrixStore(&Cs, sg * 256u, c13, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 16u, gn + 48u, wg.z);
    workgroupBarrier();
  }
  if (FM > 2u) {
    subgroupMatrixStore(&Cs, sg * 256u, c20, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 32u, gn + 0u, wg.z);
    workgroupBarrier();
  }
  if (FM > 2u && FN > 1u) {
    subgroupMatrixStore(&Cs, sg * 256u, c21, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 32u, gn + 16u, wg.z);
    workgroupBarrier();
  }
  if (FM > 2u && FN > 2u) {
    subgroupMatrixStore(&Cs, sg * 256u, c22, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 32u, gn + 32u, wg.z);
    workgroupBarrier();
  }
  if (FM > 2u && FN > 3u) {
    subgroupMatrixStore(&Cs, sg * 256u, c23, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 32u, gn + 48u, wg.z);
    workgroupBarrier();
  }
  if (FM > 3u) {
    subgroupMatrixStore(&Cs, sg * 256u, c30, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 48u, gn + 0u, wg.z);
    workgroupBarrier();
  }
  if (FM > 3u && FN > 1u) {
    subgroupMatrixStore(&Cs, sg * 256u, c31, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 48u, gn + 16u, wg.z);
    workgroupBarrier();
  }
  if (FM > 3u && FN > 2u) {
    subgroupMatrixStore(&Cs, sg * 256u, c32, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 48u, gn + 32u, wg.z);
    workgroupBarrier();
  }
  if (FM > 3u && FN > 3u) {
    subgroupMatrixStore(&Cs, sg * 256u, c33, false, 16u);
    workgroupBarrier();
    flush(sg, lane, gm + 48u, gn + 48u, wg.z);
    workgroupBarrier();
  }
}

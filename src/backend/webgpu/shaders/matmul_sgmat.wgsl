// linear for many rows on f16 subgroup matrices (tensor cores): Y[M, N] = X[M, K] · W[N, K]ᵀ (+ bias), opt-in.
// Each activation enters as two f16 terms, hi = x cut to 11 significant bits and lo = f16((x − hi) · 2^11), so X
// keeps about 22 bits of mantissa; lo is scaled up so that it stays a normal f16 (subnormal f16 lo terms were lost: run 7 measured the
// error of hi alone, 1.8e-4). hi and lo products go to separate f32 accumulators, joined as hi + lo · 2^-11 at the
// end. bf16/f16 weights are exact in f16 (apart from values under 2^-14, which become f16 subnormals). 128×128
// tiles, BK = 32 slices in workgroup memory; 8 subgroups of 32 lanes as 4 (m) × 2 (n), each owning a 32×64 block
// of 2×4 16×16 result matrices. Split K over grid z (SPLIT) as matmul.wgsl does.
// Consts: BIAS, SPLIT. Needs k % 8 == 0 and subgroups of exactly 32 lanes (subgroup_id picks the block).
enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, subgroup_uniformity);
struct Params { m: u32, n: u32, k: u32, qoff: u32, kc: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

const BM = 128u;
const BN = 128u;
const BK = 32u;
const SA = 40u; // row stride in halves (BK + 8: 80 bytes, a multiple of 16)
const WG = 256u;
alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias C = subgroup_matrix_result<f32, 16, 16>;
var<workgroup> Ah: array<f16, BM * SA>; // [m][k]
var<workgroup> Al: array<f16, BM * SA>;
var<workgroup> Bs: array<f16, BN * SA>; // [n][k]: the right matrix (k × n) read column-major
var<workgroup> Cs: array<f32, 8u * 512u>; // per subgroup: one 16×16 hi result and its lo result, on their way out
const LO = 2048.0;

// Write the 16×16 result a subgroup just stored in Cs to Y rows gm0.., columns gn0.. (inside M × N only).
fn flush(sg: u32, lane: u32, gm0: u32, gn0: u32, z: u32) {
  for (var e = lane; e < 256u; e += 32u) {
    let gm = gm0 + e / 16u;
    let gn = gn0 + e % 16u;
    if (gm < P.m && gn < P.n) {
      var v = Cs[sg * 512u + e] + Cs[sg * 512u + 256u + e] * (1.0 / LO);
      if (SPLIT) {
        Y[(z * P.m + gm) * P.n + gn] = v;
      } else {
        if (BIAS) { v += B[gn]; }
        Y[gm * P.n + gn] = v;
      }
    }
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let sm = (sg / 2u) * 32u; // this subgroup's first row in the tile
  let sn = (sg % 2u) * 64u; // and first column
  var kb = 0u;
  var ke = P.k;
  if (SPLIT) {
    kb = wg.z * P.kc;
    ke = min(P.k, kb + P.kc);
  }
  var c00: C; var c01: C; var c02: C; var c03: C;
  var c10: C; var c11: C; var c12: C; var c13: C;
  var d00: C; var d01: C; var d02: C; var d03: C; // lo products
  var d10: C; var d11: C; var d12: C; var d13: C;
  for (var k0 = kb; k0 < ke; k0 += BK) {
    // A: 128 rows × 8 vec4 = 1024 loads, 4 per thread, split into hi and lo halves.
    for (var i = li; i < BM * BK / 4u; i += WG) {
      let r = i / (BK / 4u);
      let q = (i % (BK / 4u)) * 4u;
      let gm = m0 + r;
      let gk = k0 + q;
      var v = vec4<f32>(0.0);
      if (gm < P.m && gk < ke) { v = X[(gm * P.k + gk) >> 2u]; }
      // hi: x with its mantissa cut to f16's 10 bits by a mask. Rounding through f16 and back (f32(f16(x)), or
      // pack2x16float/unpack2x16float) was folded away by the compiler: lo came out zero (runs 7-8: the error of hi
      // alone, 1.8e-4, in every variant).
      let hf = bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) & vec4<u32>(0xffffe000u));
      let h = vec4<f16>(hf);
      let l = vec4<f16>((v - hf) * LO);
      let o = r * SA + q;
      Ah[o] = h.x; Ah[o + 1u] = h.y; Ah[o + 2u] = h.z; Ah[o + 3u] = h.w;
      Al[o] = l.x; Al[o + 1u] = l.y; Al[o + 2u] = l.z; Al[o + 3u] = l.w;
    }
    // W: 128 rows × 4 groups of 8 = 512 loads, 2 per thread.
    for (var i = li; i < BN * BK / 8u; i += WG) {
      let r = i / (BK / 8u);
      let q = (i % (BK / 8u)) * 8u;
      let gn = n0 + r;
      let gk = k0 + q;
      var w = W8(vec4<f32>(0.0), vec4<f32>(0.0));
      if (gn < P.n && gk < ke) { w = w8(gn, gk >> 3u, P.k, P.qoff); }
      let lo = vec4<f16>(w.lo);
      let hi = vec4<f16>(w.hi);
      let o = r * SA + q;
      Bs[o] = lo.x; Bs[o + 1u] = lo.y; Bs[o + 2u] = lo.z; Bs[o + 3u] = lo.w;
      Bs[o + 4u] = hi.x; Bs[o + 5u] = hi.y; Bs[o + 6u] = hi.z; Bs[o + 7u] = hi.w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk += 16u) {
      let h0 = subgroupMatrixLoad<L>(&Ah, sm * SA + kk, false, SA);
      let h1 = subgroupMatrixLoad<L>(&Ah, (sm + 16u) * SA + kk, false, SA);
      let l0 = subgroupMatrixLoad<L>(&Al, sm * SA + kk, false, SA);
      let l1 = subgroupMatrixLoad<L>(&Al, (sm + 16u) * SA + kk, false, SA);
      let r0 = subgroupMatrixLoad<R>(&Bs, sn * SA + kk, true, SA);
      let r1 = subgroupMatrixLoad<R>(&Bs, (sn + 16u) * SA + kk, true, SA);
      let r2 = subgroupMatrixLoad<R>(&Bs, (sn + 32u) * SA + kk, true, SA);
      let r3 = subgroupMatrixLoad<R>(&Bs, (sn + 48u) * SA + kk, true, SA);
      d00 = subgroupMatrixMultiplyAccumulate(l0, r0, d00);
      d01 = subgroupMatrixMultiplyAccumulate(l0, r1, d01);
      d02 = subgroupMatrixMultiplyAccumulate(l0, r2, d02);
      d03 = subgroupMatrixMultiplyAccumulate(l0, r3, d03);
      d10 = subgroupMatrixMultiplyAccumulate(l1, r0, d10);
      d11 = subgroupMatrixMultiplyAccumulate(l1, r1, d11);
      d12 = subgroupMatrixMultiplyAccumulate(l1, r2, d12);
      d13 = subgroupMatrixMultiplyAccumulate(l1, r3, d13);
      c00 = subgroupMatrixMultiplyAccumulate(h0, r0, c00);
      c01 = subgroupMatrixMultiplyAccumulate(h0, r1, c01);
      c02 = subgroupMatrixMultiplyAccumulate(h0, r2, c02);
      c03 = subgroupMatrixMultiplyAccumulate(h0, r3, c03);
      c10 = subgroupMatrixMultiplyAccumulate(h1, r0, c10);
      c11 = subgroupMatrixMultiplyAccumulate(h1, r1, c11);
      c12 = subgroupMatrixMultiplyAccumulate(h1, r2, c12);
      c13 = subgroupMatrixMultiplyAccumulate(h1, r3, c13);
    }
    workgroupBarrier();
  }
  let gm = m0 + sm;
  let gn = n0 + sn;
  subgroupMatrixStore(&Cs, sg * 512u, c00, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d00, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 0u, gn + 0u, wg.z);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, sg * 512u, c01, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d01, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 0u, gn + 16u, wg.z);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, sg * 512u, c02, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d02, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 0u, gn + 32u, wg.z);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, sg * 512u, c03, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d03, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 0u, gn + 48u, wg.z);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, sg * 512u, c10, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d10, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 16u, gn + 0u, wg.z);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, sg * 512u, c11, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d11, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 16u, gn + 16u, wg.z);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, sg * 512u, c12, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d12, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 16u, gn + 32u, wg.z);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, sg * 512u, c13, false, 16u);
  subgroupMatrixStore(&Cs, sg * 512u + 256u, d13, false, 16u);
  workgroupBarrier();
  flush(sg, lane, gm + 16u, gn + 48u, wg.z);
  workgroupBarrier();
}

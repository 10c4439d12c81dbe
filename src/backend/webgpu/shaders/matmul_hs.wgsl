// linear for many rows on f16 tensor cores (precision 'fast'), operands staged in workgroup memory: the variant of
// matmul_h.wgsl (same inputs, outputs and consts) whose K slices of 32 are copied from XH and W with 16-byte loads
// into two workgroup buffers (the next slice is fetched into registers while the current one multiplies; one
// barrier a slice), and whose subgroups read their 16×16 operands from workgroup memory. K may end in half a
// slice (zeros fill it). Consts: WM, WN, FM, FN, BIAS, SPLIT. Needs K % 16 == 0, N % 16 == 0, N ≥ 16.
enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, subgroup_uniformity);
struct Params { m: u32, n: u32, k: u32, kc: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> XH: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> B: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;

alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias C = subgroup_matrix_result<f32, 16, 16>;
const TM = WM * FM * 16u;
const TN = WN * FN * 16u;
const NT = WM * WN * 32u;
const SA = 40u; // row stride in halves (32 + 8: 80 bytes)
var<workgroup> As: array<f16, 2u * TM * SA>; // [buffer][m][k]
var<workgroup> Bs: array<f16, 2u * TN * SA>; // [buffer][n][k]: the right matrix read column-major
var<workgroup> Cs: array<f32, WM * WN * 256u>;
// Per thread: the A and B chunks (8 halves each) of the slice in flight.
const CA = TM * 4u / NT;
const CB = TN * 4u / NT;

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

fn putA(o: u32, v: vec4<u32>) {
  let a = bitcast<vec2<f16>>(v.x); let b = bitcast<vec2<f16>>(v.y);
  let c = bitcast<vec2<f16>>(v.z); let d = bitcast<vec2<f16>>(v.w);
  As[o] = a.x; As[o + 1u] = a.y; As[o + 2u] = b.x; As[o + 3u] = b.y;
  As[o + 4u] = c.x; As[o + 5u] = c.y; As[o + 6u] = d.x; As[o + 7u] = d.y;
}
fn putB(o: u32, v: vec4<u32>) {
  let a = bitcast<vec2<f16>>(v.x); let b = bitcast<vec2<f16>>(v.y);
  let c = bitcast<vec2<f16>>(v.z); let d = bitcast<vec2<f16>>(v.w);
  Bs[o] = a.x; Bs[o + 1u] = a.y; Bs[o + 2u] = b.x; Bs[o + 3u] = b.y;
  Bs[o + 4u] = c.x; Bs[o + 5u] = c.y; Bs[o + 6u] = d.x; Bs[o + 7u] = d.y;
}

@compute @workgroup_size(NT)
fn main(
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let K8 = P.k / 8u;
  let m0 = wg.y * TM;
  let n0 = wg.x * TN;
  let sm = (sg / WN) * (FM * 16u); // this subgroup's first row and column inside the tile
  let sn = (sg % WN) * (FN * 16u);
  var kb = 0u;
  var ke = P.k;
  if (SPLIT) {
    kb = wg.z * P.kc;
    ke = min(P.k, kb + P.kc);
  }
  var ra: array<vec4<u32>, CA>;
  var rb: array<vec4<u32>, CB>;
  // Chunk i of a slice: row i / 4, halves (i % 4) · 8 .. + 8.
  for (var i = 0u; i < CA; i++) {
    let c = li + i * NT;
    let gk = kb + (c % 4u) * 8u;
    ra[i] = select(vec4<u32>(0u), XH[(m0 + c / 4u) * K8 + gk / 8u], gk < ke);
  }
  for (var i = 0u; i < CB; i++) {
    let c = li + i * NT;
    let gk = kb + (c % 4u) * 8u;
    let gn = n0 + c / 4u;
    rb[i] = select(vec4<u32>(0u), W[min(gn, P.n - 1u) * K8 + gk / 8u], gk < ke && gn < P.n);
  }
  for (var i = 0u; i < CA; i++) { let c = li + i * NT; putA((c / 4u) * SA + (c % 4u) * 8u, ra[i]); }
  for (var i = 0u; i < CB; i++) { let c = li + i * NT; putB((c / 4u) * SA + (c % 4u) * 8u, rb[i]); }
  workgroupBarrier();
  var c00: C; var c01: C; var c02: C; var c03: C;
  var c10: C; var c11: C; var c12: C; var c13: C;
  var c20: C; var c21: C; var c22: C; var c23: C;
  var c30: C; var c31: C; var c32: C; var c33: C;
  var cur = 0u;
  for (var k0 = kb; k0 < ke; k0 += 32u) {
    let more = k0 + 32u < ke;
    if (more) {
      for (var i = 0u; i < CA; i++) {
        let c = li + i * NT;
        let gk = k0 + 32u + (c % 4u) * 8u;
        ra[i] = select(vec4<u32>(0u), XH[(m0 + c / 4u) * K8 + gk / 8u], gk < ke);
      }
      for (var i = 0u; i < CB; i++) {
        let c = li + i * NT;
        let gk = k0 + 32u + (c % 4u) * 8u;
        let gn = n0 + c / 4u;
        rb[i] = select(vec4<u32>(0u), W[min(gn, P.n - 1u) * K8 + gk / 8u], gk < ke && gn < P.n);
      }
    }
    let ab = cur * TM * SA + sm * SA;
    let bb = cur * TN * SA + sn * SA;
    for (var kk = 0u; kk < 32u; kk += 16u) {
      var a0: L; { a0 = subgroupMatrixLoad<L>(&As, ab + 0u * SA + kk, false, SA); }
      var a1: L; if (FM > 1u) { a1 = subgroupMatrixLoad<L>(&As, ab + 16u * SA + kk, false, SA); }
      var a2: L; if (FM > 2u) { a2 = subgroupMatrixLoad<L>(&As, ab + 32u * SA + kk, false, SA); }
      var a3: L; if (FM > 3u) { a3 = subgroupMatrixLoad<L>(&As, ab + 48u * SA + kk, false, SA); }
      var b0: R; { b0 = subgroupMatrixLoad<R>(&Bs, bb + 0u * SA + kk, true, SA); }
      var b1: R; if (FN > 1u) { b1 = subgroupMatrixLoad<R>(&Bs, bb + 16u * SA + kk, true, SA); }
      var b2: R; if (FN > 2u) { b2 = subgroupMatrixLoad<R>(&Bs, bb + 32u * SA + kk, true, SA); }
      var b3: R; if (FN > 3u) { b3 = subgroupMatrixLoad<R>(&Bs, bb + 48u * SA + kk, true, SA); }
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
    }
    if (more) {
      let nb = 1u - cur;
      for (var i = 0u; i < CA; i++) { let c = li + i * NT; putA(nb * TM * SA + (c / 4u) * SA + (c % 4u) * 8u, ra[i]); }
      for (var i = 0u; i < CB; i++) { let c = li + i * NT; putB(nb * TN * SA + (c / 4u) * SA + (c % 4u) * 8u, rb[i]); }
    }
    workgroupBarrier();
    cur = 1u - cur;
  }
  let gm = m0 + sm;
  let gn = n0 + sn;
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

// linear for many rows (prefill, vision): Y[M, N] = X[M, K] · W[N, K]ᵀ (+ bias), BM×BN tiles over BK-deep slices
// staged in workgroup memory, TM×TN (4 or 8) results per thread in registers. A thread's rows and columns are
// runs of 4 (at tr·4 and, for 8, tr·4 + BM/2), so each k step reads them as 16-byte vectors: 16 FMAs per shared
// load. Weights of any format are widened to f32 on the way into shared memory.
// Small grids split K over grid z (SPLIT): each slice writes a partial [M, N] and splitk_sum.wgsl adds them.
// Consts: BM, BN, BK, TM, TN, VEC (k % 8 == 0: 16-byte global loads), BIAS, SPLIT.
struct Params { m: u32, n: u32, k: u32, qoff: u32, kc: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

const WG = (BM / TM) * (BN / TN);
const CT = BN / TN;
const RH = BM / (TM / 4u); // stride between a thread's runs of 4 rows
const CH = BN / (TN / 4u);
var<workgroup> As: array<vec4<f32>, BK * BM / 4u>; // [k][m]
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>; // [k][n]

fn setA(i: u32, v: f32) { As[i >> 2u][i & 3u] = v; }
fn setB(i: u32, v: f32) { Bs[i >> 2u][i & 3u] = v; }

fn xs(i: u32) -> f32 { return X[i >> 2u][i & 3u]; }

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let tr = li / CT;
  let tc = li % CT;
  var acc: array<array<f32, TN>, TM>;
  var kb = 0u;
  var ke = P.k;
  if (SPLIT) {
    kb = wg.z * P.kc;
    ke = min(P.k, kb + P.kc);
  }
  for (var k0 = kb; k0 < ke; k0 += BK) {
    if (VEC) {
      for (var i = li; i < BM * BK / 4u; i += WG) {
        let r = i / (BK / 4u);
        let q = i % (BK / 4u);
        let gm = m0 + r;
        let gk = k0 + 4u * q;
        var v = vec4<f32>(0.0);
        if (gm < P.m && gk < ke) { v = X[(gm * P.k + gk) >> 2u]; }
        setA((4u * q) * BM + r, v.x);
        setA((4u * q + 1u) * BM + r, v.y);
        setA((4u * q + 2u) * BM + r, v.z);
        setA((4u * q + 3u) * BM + r, v.w);
      }
      for (var i = li; i < BN * BK / 8u; i += WG) {
        let r = i / (BK / 8u);
        let q = i % (BK / 8u);
        let gn = n0 + r;
        let gk = k0 + 8u * q;
        var w = W8(vec4<f32>(0.0), vec4<f32>(0.0));
        if (gn < P.n && gk < ke) { w = w8(gn, gk >> 3u, P.k, P.qoff); }
        let b = (8u * q) * BN + r;
        setB(b, w.lo.x);
        setB(b + BN, w.lo.y);
        setB(b + 2u * BN, w.lo.z);
        setB(b + 3u * BN, w.lo.w);
        setB(b + 4u * BN, w.hi.x);
        setB(b + 5u * BN, w.hi.y);
        setB(b + 6u * BN, w.hi.z);
        setB(b + 7u * BN, w.hi.w);
      }
    } else {
      for (var i = li; i < BM * BK; i += WG) {
        let r = i / BK;
        let q = i % BK;
        let gm = m0 + r;
        let gk = k0 + q;
        var v = 0.0;
        if (gm < P.m && gk < ke) { v = xs(gm * P.k + gk); }
        setA(q * BM + r, v);
      }
      for (var i = li; i < BN * BK; i += WG) {
        let r = i / BK;
        let q = i % BK;
        let gn = n0 + r;
        let gk = k0 + q;
        var v = 0.0;
        if (gn < P.n && gk < ke) { v = w1(gn, gk, P.k, P.qoff); }
        setB(q * BN + r, v);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<vec4<f32>, TM / 4u>;
      var b: array<vec4<f32>, TN / 4u>;
      for (var h = 0u; h < TM / 4u; h++) { a[h] = As[(kk * BM + h * RH) / 4u + tr]; }
      for (var h = 0u; h < TN / 4u; h++) { b[h] = Bs[(kk * BN + h * CH) / 4u + tc]; }
      for (var i = 0u; i < TM; i++) {
        let av = a[i / 4u][i % 4u];
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av, b[j / 4u][j % 4u], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let gm = m0 + (i / 4u) * RH + tr * 4u + i % 4u;
    if (gm >= P.m) { continue; }
    for (var j = 0u; j < TN; j++) {
      let gn = n0 + (j / 4u) * CH + tc * 4u + j % 4u;
      if (gn < P.n) {
        var v = acc[i][j];
        if (SPLIT) {
          Y[(wg.z * P.m + gm) * P.n + gn] = v;
        } else {
          if (BIAS) { v += B[gn]; }
          Y[gm * P.n + gn] = v;
        }
      }
    }
  }
}

// linear for many rows (prefill, vision): Y[M, N] = X[M, K] · W[N, K]ᵀ (+ bias), BM×BN tiles over BK-deep slices
// staged in workgroup memory, TM×TN results per thread in registers (columns strided so shared reads are
// conflict-free). Weights of any format are widened to f32 on the way into shared memory.
// Consts: BM, BN, BK, TM, TN, VEC (k % 8 == 0: 16-byte loads), BIAS.
struct Params { m: u32, n: u32, k: u32, qoff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

const WG = (BM / TM) * (BN / TN);
const CT = BN / TN;
var<workgroup> As: array<f32, BK * BM>;
var<workgroup> Bs: array<f32, BK * BN>;

fn xs(i: u32) -> f32 { return X[i >> 2u][i & 3u]; }

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let tr = li / CT;
  let tc = li % CT;
  var acc: array<array<f32, TN>, TM>;
  for (var k0 = 0u; k0 < P.k; k0 += BK) {
    if (VEC) {
      for (var i = li; i < BM * BK / 4u; i += WG) {
        let r = i / (BK / 4u);
        let q = i % (BK / 4u);
        let gm = m0 + r;
        let gk = k0 + 4u * q;
        var v = vec4<f32>(0.0);
        if (gm < P.m && gk < P.k) { v = X[(gm * P.k + gk) >> 2u]; }
        As[(4u * q) * BM + r] = v.x;
        As[(4u * q + 1u) * BM + r] = v.y;
        As[(4u * q + 2u) * BM + r] = v.z;
        As[(4u * q + 3u) * BM + r] = v.w;
      }
      for (var i = li; i < BN * BK / 8u; i += WG) {
        let r = i / (BK / 8u);
        let q = i % (BK / 8u);
        let gn = n0 + r;
        let gk = k0 + 8u * q;
        var w = W8(vec4<f32>(0.0), vec4<f32>(0.0));
        if (gn < P.n && gk < P.k) { w = w8(gn, gk >> 3u, P.k, P.qoff); }
        let b = (8u * q) * BN + r;
        Bs[b] = w.lo.x;
        Bs[b + BN] = w.lo.y;
        Bs[b + 2u * BN] = w.lo.z;
        Bs[b + 3u * BN] = w.lo.w;
        Bs[b + 4u * BN] = w.hi.x;
        Bs[b + 5u * BN] = w.hi.y;
        Bs[b + 6u * BN] = w.hi.z;
        Bs[b + 7u * BN] = w.hi.w;
      }
    } else {
      for (var i = li; i < BM * BK; i += WG) {
        let r = i / BK;
        let q = i % BK;
        let gm = m0 + r;
        let gk = k0 + q;
        var v = 0.0;
        if (gm < P.m && gk < P.k) { v = xs(gm * P.k + gk); }
        As[q * BM + r] = v;
      }
      for (var i = li; i < BN * BK; i += WG) {
        let r = i / BK;
        let q = i % BK;
        let gn = n0 + r;
        let gk = k0 + q;
        var v = 0.0;
        if (gn < P.n && gk < P.k) { v = w1(gn, gk, P.k, P.qoff); }
        Bs[q * BN + r] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { a[i] = As[kk * BM + tr * TM + i]; }
      for (var j = 0u; j < TN; j++) { b[j] = Bs[kk * BN + tc + j * CT]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let gm = m0 + tr * TM + i;
    if (gm >= P.m) { break; }
    for (var j = 0u; j < TN; j++) {
      let gn = n0 + tc + j * CT;
      if (gn < P.n) {
        var v = acc[i][j];
        if (BIAS) { v += B[gn]; }
        Y[gm * P.n + gn] = v;
      }
    }
  }
}

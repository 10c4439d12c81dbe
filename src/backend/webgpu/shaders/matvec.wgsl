// linear for a few rows (decode): y[m, n] = [R[m, n] +] W[n, :] · f(x[m, :]) (+ bias[n]), m < P.m <= MMAX, where f is
// the identity, RMSNorm with weight G (NORM: each workgroup recomputes the row's norm, cheap next to its weight
// rows) or SwiGLU of a [M, 2K] input (SWIGLU). Fusing these saves whole launches per decoder layer.
// TPR threads share one weight row and each loads 8 weights per step (16 bytes of bf16), so a row streams as
// contiguous 16-byte loads; four steps are issued before use to keep enough loads in flight for HBM.
// Needs k % 8 == 0. Consts: WG, TPR, MMAX, BIAS, NORM, SWIGLU, RESID.
struct Params { m: u32, n: u32, k: u32, qoff: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read> G: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> R: array<f32>;
@group(0) @binding(6) var<storage, read_write> Y: array<f32>;

const ROWS = WG / TPR;
var<workgroup> red: array<f32, WG * MMAX>;
var<workgroup> rs: array<f32, MMAX>;

fn silu(g: vec4<f32>) -> vec4<f32> { return g / (vec4<f32>(1.0) + exp(-g)); }

// x[m, 8c .. 8c+8) after the prologue function f.
fn xload(m: u32, c: u32) -> W8 {
  let kq = P.k >> 2u;
  if (SWIGLU) {
    let o = m * 2u * kq + 2u * c;
    return W8(silu(X[o]) * X[o + kq], silu(X[o + 1u]) * X[o + kq + 1u]);
  }
  let o = m * kq + 2u * c;
  if (NORM) { return W8(G[2u * c] * (X[o] * rs[m]), G[2u * c + 1u] * (X[o + 1u] * rs[m])); }
  return W8(X[o], X[o + 1u]);
}

fn fma8(acc: f32, m: u32, c: u32, w: W8) -> f32 {
  let x = xload(m, c);
  return acc + dot(x.lo, w.lo) + dot(x.hi, w.hi);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let lane = li % TPR;
  let n = (wg.x + wg.y * nw.x) * ROWS + li / TPR;
  let nc = P.k >> 3u;
  if (NORM) {
    for (var m = 0u; m < MMAX; m++) {
      var s = 0.0;
      if (m < P.m) {
        for (var i = li; i < (P.k >> 2u); i += WG) { let v = X[m * (P.k >> 2u) + i]; s += dot(v, v); }
      }
      red[m * WG + li] = s;
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (li < s) {
        for (var m = 0u; m < MMAX; m++) { red[m * WG + li] += red[m * WG + li + s]; }
      }
      workgroupBarrier();
    }
    if (li < MMAX) { rs[li] = 1.0 / sqrt(red[li * WG] / f32(P.k) + P.eps); }
    workgroupBarrier();
  }
  var acc: array<f32, MMAX>;
  if (n < P.n) {
    var c = lane;
    for (; c + 3u * TPR < nc; c += 4u * TPR) {
      let w0 = w8(n, c, P.k, P.qoff);
      let w1_ = w8(n, c + TPR, P.k, P.qoff);
      let w2 = w8(n, c + 2u * TPR, P.k, P.qoff);
      let w3 = w8(n, c + 3u * TPR, P.k, P.qoff);
      for (var m = 0u; m < MMAX; m++) {
        if (m < P.m) {
          acc[m] = fma8(fma8(fma8(fma8(acc[m], m, c, w0), m, c + TPR, w1_), m, c + 2u * TPR, w2), m, c + 3u * TPR, w3);
        }
      }
    }
    for (; c < nc; c += TPR) {
      let w0 = w8(n, c, P.k, P.qoff);
      for (var m = 0u; m < MMAX; m++) {
        if (m < P.m) { acc[m] = fma8(acc[m], m, c, w0); }
      }
    }
  }
  workgroupBarrier();
  for (var m = 0u; m < MMAX; m++) { red[m * WG + li] = acc[m]; }
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var m = 0u; m < MMAX; m++) { red[m * WG + li] += red[m * WG + li + s]; }
    }
    workgroupBarrier();
  }
  if (lane == 0u && n < P.n) {
    var b = 0.0;
    if (BIAS) { b = B[n]; }
    for (var m = 0u; m < MMAX; m++) {
      if (m < P.m) {
        var y = red[m * WG + li] + b;
        if (RESID) { y += R[m * P.n + n]; }
        Y[m * P.n + n] = y;
      }
    }
  }
}

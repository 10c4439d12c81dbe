// linear for a few rows (decode): y[m, n] = x[m, :] · W[n, :] (+ bias[n]), m < P.m <= MMAX.
// TPR threads share one weight row and each loads 8 weights per step (16 bytes of bf16), so a row streams as
// contiguous 16-byte loads; four steps are issued before use to keep enough loads in flight for HBM.
// Needs k % 8 == 0. Consts: WG, TPR, MMAX, BIAS.
struct Params { m: u32, n: u32, k: u32, qoff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

const ROWS = WG / TPR;
var<workgroup> red: array<f32, WG * MMAX>;

fn fma8(acc: f32, m: u32, c: u32, w: W8) -> f32 {
  let kq = P.k >> 2u;
  return acc + dot(X[m * kq + 2u * c], w.lo) + dot(X[m * kq + 2u * c + 1u], w.hi);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let lane = li % TPR;
  let n = (wg.x + wg.y * nw.x) * ROWS + li / TPR;
  let nc = P.k >> 3u;
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
      if (m < P.m) { Y[m * P.n + n] = red[m * WG + li] + b; }
    }
  }
}

// MoE first half: for each routed pair (token t, slot j) with expert e = ids[t, j],
// act[t·k + j, c] = silu(gateUp[e, c] · x[t]) · (gateUp[e, I + c] · x[t]). Only routed experts' rows are read.
// Grid: (rows of I / ROWS, T·k). Needs H % 8 == 0. Consts: WG, TPR.
struct Params { t: u32, k: u32, h: u32, inter: u32, qoff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> A: array<f32>;

const ROWS = WG / TPR;
var<workgroup> rg: array<f32, WG>;
var<workgroup> ru: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = li % TPR;
  let c = wg.x * ROWS + li / TPR;
  let pair = wg.y;
  let e = u32(IDS[pair]);
  let tok = pair / P.k;
  let xo = tok * (P.h >> 2u);
  var g = 0.0;
  var u = 0.0;
  if (c < P.inter) {
    let rg_ = e * 2u * P.inter + c;
    for (var q = lane; q < (P.h >> 3u); q += TPR) {
      let x0 = X[xo + 2u * q];
      let x1 = X[xo + 2u * q + 1u];
      let a = w8(rg_, q, P.h, P.qoff);
      let b = w8(rg_ + P.inter, q, P.h, P.qoff);
      g += dot(x0, a.lo) + dot(x1, a.hi);
      u += dot(x0, b.lo) + dot(x1, b.hi);
    }
  }
  rg[li] = g;
  ru[li] = u;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      rg[li] += rg[li + s];
      ru[li] += ru[li + s];
    }
    workgroupBarrier();
  }
  if (lane == 0u && c < P.inter) {
    let gg = rg[li];
    A[pair * P.inter + c] = gg / (1.0 + exp(-gg)) * ru[li];
  }
}

// MoE second half: out[t, c] = Σ_j weights[t, j] · down[e_j, c] · act[t·k + j] for the token's k routed experts,
// summed in registers (no atomics). Grid: (rows of H / ROWS, T). Needs I % 8 == 0. Consts: WG, TPR.
struct Params { t: u32, k: u32, h: u32, inter: u32, qoff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read> WTS: array<f32>;
@group(0) @binding(4) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;

const ROWS = WG / TPR;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = li % TPR;
  let c = wg.x * ROWS + li / TPR;
  let tok = wg.y;
  var acc = 0.0;
  if (c < P.h) {
    for (var j = 0u; j < P.k; j++) {
      let pair = tok * P.k + j;
      let e = u32(IDS[pair]);
      let ao = pair * (P.inter >> 2u);
      var s = 0.0;
      for (var q = lane; q < (P.inter >> 3u); q += TPR) {
        let w = w8(e * P.h + c, q, P.inter, P.qoff);
        s += dot(A[ao + 2u * q], w.lo) + dot(A[ao + 2u * q + 1u], w.hi);
      }
      acc += WTS[pair] * s;
    }
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && c < P.h) { Y[tok * P.h + c] = red[li]; }
}

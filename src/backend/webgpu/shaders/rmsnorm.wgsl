// RMSNorm, one workgroup per row of length d (a row may be one head of a wider tensor): y = w ⊙ x / sqrt(mean(x²) + eps).
struct Params { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

const WG = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let row = wg.x + wg.y * nw.x;
  if (row >= P.rows) { return; }
  let o = row * P.d;
  var ss = 0.0;
  for (var c = li; c < P.d; c += WG) { let v = X[o + c]; ss = fma(v, v, ss); }
  red[li] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = 1.0 / sqrt(red[0] / f32(P.d) + P.eps);
  for (var c = li; c < P.d; c += WG) { Y[o + c] = G[c] * (X[o + c] * r); }
}

// LayerNorm, one workgroup per row: y = (x − mean) / sqrt(var + eps) ⊙ w + b with the biased variance, two passes.
struct Params { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> Bt: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

const WG = 256u;
var<workgroup> red: array<f32, WG>;

fn total(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let row = wg.x + wg.y * nw.x;
  if (row >= P.rows) { return; }
  let o = row * P.d;
  var s = 0.0;
  for (var c = li; c < P.d; c += WG) { s += X[o + c]; }
  let mean = total(s, li) / f32(P.d);
  var v = 0.0;
  for (var c = li; c < P.d; c += WG) { let x = X[o + c] - mean; v = fma(x, x, v); }
  let r = 1.0 / sqrt(total(v, li) / f32(P.d) + P.eps);
  for (var c = li; c < P.d; c += WG) { Y[o + c] = (X[o + c] - mean) * r * G[c] + Bt[c]; }
}

// Split-K epilogue: y[i] = Σ_s partial[s, i] (+ bias[i % n]) over the slices matmul.wgsl wrote.
struct Params { mn: u32, n: u32, splits: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P.mn) { return; }
  var s = 0.0;
  for (var z = 0u; z < P.splits; z++) { s += X[z * P.mn + i]; }
  if (BIAS) { s += B[i % P.n]; }
  Y[i] = s;
}

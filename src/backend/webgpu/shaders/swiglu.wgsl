// [M, 2I] -> [M, I]: silu(gate) ⊙ up with gate = x[:, :I], up = x[:, I:].
struct Params { n: u32, half: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P.n) { return; }
  let r = i / P.half;
  let c = i % P.half;
  let g = X[r * 2u * P.half + c];
  Y[i] = g / (1.0 + exp(-g)) * X[r * 2u * P.half + P.half + c];
}

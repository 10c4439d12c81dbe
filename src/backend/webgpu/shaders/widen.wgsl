// Any stored format -> f32 rows [rows, k] (bf16/f16 norm weights given to f32 ops, reading weights back).
struct Params { n: u32, k: u32, qoff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i < P.n) { Y[i] = w1(i / P.k, i % P.k, P.k, P.qoff); }
}

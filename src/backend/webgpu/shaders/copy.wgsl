// y[dst + i] = x[src + i] for i < n (writeRows, sliceRows), kept in the compute pass instead of a copy command.
struct Params { n: u32, dst: u32, src: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i < P.n) { Y[P.dst + i] = X[P.src + i]; }
}

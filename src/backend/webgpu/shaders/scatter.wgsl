// In place: dst[rows[i]] = src[i] (or += when ACC); rows are i32 and assumed distinct (each output row has one writer).
struct Params { n: u32, c: u32, dst_rows: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> R: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P.n * P.c) { return; }
  let row = R[i / P.c];
  if (row < 0 || u32(row) >= P.dst_rows) { return; }
  let o = u32(row) * P.c + i % P.c;
  if (ACC) { Y[o] = Y[o] + X[i]; } else { Y[o] = X[i]; }
}

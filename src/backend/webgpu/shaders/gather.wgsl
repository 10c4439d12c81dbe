// out[n, :] = Σ_j weights[n·k + j] · table[idx[n·k + j], :] (weights all 1 unless WEIGHTED); table in any format.
struct Params { n: u32, d: u32, k: u32, rows: u32, qoff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> IDX: array<i32>;
@group(0) @binding(3) var<storage, read> WT: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P.n * P.d) { return; }
  let row = i / P.d;
  let c = i % P.d;
  var s = 0.0;
  for (var j = 0u; j < P.k; j++) {
    let id = IDX[row * P.k + j];
    if (id < 0 || u32(id) >= P.rows) { continue; }
    var w = 1.0;
    if (WEIGHTED) { w = WT[row * P.k + j]; }
    s += w * w1(u32(id), c, P.d, P.qoff);
  }
  Y[i] = s;
}

// Rotate-half RoPE over x [T, n·hd] with per-row tables cos/sin [T, hd]; one thread per rotated pair.
struct Params { t: u32, w: u32, hd: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> C: array<f32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  let half = P.hd / 2u;
  let pairs = P.w / 2u;
  if (i >= P.t * pairs) { return; }
  let r = i / pairs;
  let e = i % pairs;
  let o = r * P.w + (e / half) * P.hd + e % half;
  let d = r * P.hd + e % half;
  let a = X[o];
  let b = X[o + half];
  Y[o] = a * C[d] - b * S[d];
  Y[o + half] = b * C[d + half] + a * S[d + half];
}

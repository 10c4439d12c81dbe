// Attention operands to f16 for attn_h.wgsl (precision 'fast'): X [rows, ≥ heads·hd] (row stride `stride` floats)
// times `mul` becomes XH [heads][rowsp][HDP] f16, head by head, zero-padded to rowsp rows and HDP columns (whole
// 16×16 operands for the tensor cores). Four values a thread.
enable f16;
struct Params { rows: u32, rowsp: u32, heads: u32, hd: u32, hdp: u32, stride: u32, mul: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> XH: array<vec4<f16>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  let q = P.hdp / 4u;
  if (i >= P.heads * P.rowsp * q) { return; }
  let d = (i % q) * 4u;
  let r = (i / q) % P.rowsp;
  let h = i / (q * P.rowsp);
  var v = vec4<f32>(0.0);
  if (r < P.rows && d < P.hd) { v = X[(r * P.stride + h * P.hd + d) / 4u] * P.mul; }
  XH[i] = vec4<f16>(v);
}

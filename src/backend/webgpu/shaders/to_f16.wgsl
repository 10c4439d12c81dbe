// Activations to f16 for the fast tensor-core matmul (matmul_h.wgsl): row m of X [M, K] (f32) is divided by a power
// of two S[m] that brings its largest magnitude into [2^14, 2^15), so f16 keeps 11 significant bits for every value
// down to 2^-29 of the row's largest, and nothing overflows; the matmul multiplies S[m] back. Rows M..MP-1 of XH
// are zeros (the matmul reads whole tiles). One workgroup a row, on a 2-D grid for more than 65535 rows.
enable f16;
struct Params { m: u32, k: u32, mp: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> XH: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let m = wg.x + wg.y * nw.x;
  if (m >= P.mp) { return; }
  let k4 = P.k / 4u;
  let base = m * k4;
  if (m >= P.m) {
    for (var i = li; i < k4; i += 256u) { XH[base + i] = vec4<f16>(0.0); }
    if (li == 0u) { S[m] = 1.0; }
    return;
  }
  var a = 0.0;
  for (var i = li; i < k4; i += 256u) {
    let v = abs(X[base + i]);
    a = max(a, max(max(v.x, v.y), max(v.z, v.w)));
  }
  red[li] = a;
  workgroupBarrier();
  for (var st = 128u; st > 0u; st >>= 1u) {
    if (li < st) { red[li] = max(red[li], red[li + st]); }
    workgroupBarrier();
  }
  let amax = red[0];
  // floor(log2(amax)) from the exponent bits; the row then lies below 2^(e+1) / 2^(e-14) = 2^15.
  let e = i32((bitcast<u32>(amax) >> 23u) & 0xffu) - 127;
  var s = clamp(e - 14, -100, 100);
  if (amax == 0.0) { s = 0; }
  let inv = exp2(f32(-s));
  for (var i = li; i < k4; i += 256u) { XH[base + i] = vec4<f16>(X[base + i] * inv); }
  if (li == 0u) { S[m] = exp2(f32(s)); }
}

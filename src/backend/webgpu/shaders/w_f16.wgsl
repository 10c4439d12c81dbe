// Weight format f16: two halves per u32 decoded with unpack2x16float (core WGSL, no shader-f16 feature needed).
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
fn w8(row: u32, c: u32, k: u32, qoff: u32) -> W8 {
  let v = W[row * (k >> 3u) + c];
  return W8(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)));
}
fn w1(row: u32, col: u32, k: u32, qoff: u32) -> f32 {
  let i = row * k + col;
  return unpack2x16float(W[i >> 3u][(i >> 1u) & 3u])[i & 1u];
}

// Weight format bf16: two values per u32 (element 2i in the low half), widened by a shift; no shader-f16 needed.
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
fn bf2(v: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(v << 16u), bitcast<f32>(v & 0xffff0000u));
}
fn w8(row: u32, c: u32, k: u32, qoff: u32) -> W8 {
  let v = W[row * (k >> 3u) + c];
  return W8(vec4<f32>(bf2(v.x), bf2(v.y)), vec4<f32>(bf2(v.z), bf2(v.w)));
}
fn w1(row: u32, col: u32, k: u32, qoff: u32) -> f32 {
  let i = row * k + col;
  let v = W[i >> 3u][(i >> 1u) & 3u];
  return bitcast<f32>(select(v << 16u, v & 0xffff0000u, (i & 1u) == 1u));
}

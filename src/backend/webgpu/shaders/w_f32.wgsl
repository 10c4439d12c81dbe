// Weight format f32: plain row-major [N, K] floats read through the op's `W: array<vec4<u32>>` binding.
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
// Weights [row·k + 8c, +8) (k a multiple of 8).
fn w8(row: u32, c: u32, k: u32, qoff: u32) -> W8 {
  let i = row * (k >> 2u) + 2u * c;
  return W8(bitcast<vec4<f32>>(W[i]), bitcast<vec4<f32>>(W[i + 1u]));
}
fn w1(row: u32, col: u32, k: u32, qoff: u32) -> f32 {
  let i = row * k + col;
  return bitcast<f32>(W[i >> 2u][i & 3u]);
}

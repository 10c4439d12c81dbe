// Weight format q4_0, repacked on upload: f16 block scales (two per u32) first, then from word `qoff` each block's
// 16 bytes as 4 u32 (byte i: element i in the low nibble, element i+16 in the high). Value = scale · (q − 8).
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
fn qscale(b: u32) -> f32 {
  return unpack2x16float(W[b >> 3u][(b >> 1u) & 3u])[b & 1u];
}
fn nib4(w: u32) -> vec4<f32> {
  return vec4<f32>(f32(w & 15u), f32((w >> 8u) & 15u), f32((w >> 16u) & 15u), f32((w >> 24u) & 15u)) - vec4<f32>(8.0);
}
fn w8(row: u32, c: u32, k: u32, qoff: u32) -> W8 {
  let b = row * (k >> 5u) + (c >> 2u);
  let s = qscale(b);
  let v = W[(qoff >> 2u) + b];
  let sub = c & 3u;
  let p = select(v.xy, v.zw, (sub & 1u) == 1u);
  let sh = select(0u, 4u, sub >= 2u);
  return W8(nib4(p.x >> sh) * s, nib4(p.y >> sh) * s);
}
fn w1(row: u32, col: u32, k: u32, qoff: u32) -> f32 {
  let b = row * (k >> 5u) + (col >> 5u);
  let j = col & 31u;
  let byte = j & 15u;
  let i = qoff + 4u * b + (byte >> 2u);
  let w = W[i >> 2u][i & 3u];
  let q = (w >> (8u * (byte & 3u) + select(0u, 4u, j >= 16u))) & 15u;
  return (f32(q) - 8.0) * qscale(b);
}

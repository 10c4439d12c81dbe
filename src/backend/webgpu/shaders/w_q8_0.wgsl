// Weight format q8_0, repacked on upload: f16 block scales (two per u32) first, then from word `qoff` (a multiple
// of 4) each block's 32 int8 as 8 u32. Value = scale · q, exactly as dequantizeRow computes it.
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
fn qscale(b: u32) -> f32 {
  return unpack2x16float(W[b >> 3u][(b >> 1u) & 3u])[b & 1u];
}
fn i8x4(w: u32) -> vec4<f32> {
  return vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u), bitcast<i32>(w << 16u), bitcast<i32>(w << 8u), bitcast<i32>(w)) >> vec4<u32>(24u));
}
fn w8(row: u32, c: u32, k: u32, qoff: u32) -> W8 {
  let b = row * (k >> 5u) + (c >> 2u);
  let s = qscale(b);
  let v = W[(qoff >> 2u) + 2u * b + ((c & 3u) >> 1u)];
  let p = select(v.xy, v.zw, (c & 1u) == 1u);
  return W8(i8x4(p.x) * s, i8x4(p.y) * s);
}
fn w1(row: u32, col: u32, k: u32, qoff: u32) -> f32 {
  let b = row * (k >> 5u) + (col >> 5u);
  let j = col & 31u;
  let i = qoff + 8u * b + (j >> 2u);
  let w = W[i >> 2u][i & 3u];
  return f32(bitcast<i32>(w << (24u - 8u * (j & 3u))) >> 24u) * qscale(b);
}

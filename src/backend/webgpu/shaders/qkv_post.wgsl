// Decoder attention prologue, fused: from projected rows qkv [T, (nh + 2·nkv)·hd] (q heads, k heads, v heads),
// q -> RMSNorm(qn) -> RoPE -> Q; k -> RMSNorm(kn) -> RoPE -> K cache row row0 + t; v -> V cache row row0 + t.
// One workgroup per (head, token); hd <= 2·WG.
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, row0: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read> QN: array<f32>;
@group(0) @binding(3) var<storage, read> KN: array<f32>;
@group(0) @binding(4) var<storage, read> C: array<f32>;
@group(0) @binding(5) var<storage, read> S: array<f32>;
@group(0) @binding(6) var<storage, read_write> Q: array<f32>;
@group(0) @binding(7) var<storage, read_write> KC: array<f32>;
@group(0) @binding(8) var<storage, read_write> VC: array<f32>;

const WG = 128u;
var<workgroup> ys: array<f32, 2u * WG>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let head = wg.x;
  let t = wg.y;
  let hd = P.hd;
  let src = (t * (P.nh + 2u * P.nkv) + head) * hd;
  let kw = P.nkv * hd;
  if (head >= P.nh + P.nkv) {
    for (var d = li; d < hd; d += WG) { VC[(P.row0 + t) * kw + (head - P.nh - P.nkv) * hd + d] = QKV[src + d]; }
    return;
  }
  var ss = 0.0;
  for (var d = li; d < hd; d += WG) { let v = QKV[src + d]; ss = fma(v, v, ss); }
  red[li] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = 1.0 / sqrt(red[0] / f32(hd) + P.eps);
  let isq = head < P.nh;
  for (var d = li; d < hd; d += WG) {
    var g = 0.0;
    if (isq) { g = QN[d]; } else { g = KN[d]; }
    ys[d] = g * (QKV[src + d] * r);
  }
  workgroupBarrier();
  let half = hd / 2u;
  for (var d = li; d < hd; d += WG) {
    let tc = t * hd + d;
    var y = 0.0;
    if (d < half) { y = ys[d] * C[tc] - ys[d + half] * S[tc]; } else { y = ys[d] * C[tc] + ys[d - half] * S[tc]; }
    if (isq) { Q[(t * P.nh + head) * hd + d] = y; } else { KC[(P.row0 + t) * kw + (head - P.nh) * hd + d] = y; }
  }
}

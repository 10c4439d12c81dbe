// Decode attention, split-K pass: workgroup (split s, head h, query row i) scores CH keys, and writes its partial
// output with the local max and sum; attn_combine.wgsl merges the splits. With one split (DIRECT) it writes the
// final output into OP (laid out like q) and skips the merge launch. hd % 4 == 0. Consts: WG, CH, HD, DIRECT.
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nsplit: u32, scale: f32, qw: u32, kw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> OP: array<f32>;
@group(0) @binding(5) var<storage, read_write> ML: array<f32>;

var<workgroup> qs: array<vec4<f32>, HD / 4u>;
var<workgroup> sc: array<f32, CH>;
var<workgroup> red: array<f32, WG>;

fn reduce(v: f32, li: u32, is_max: bool) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      if (is_max) { red[li] = max(red[li], red[li + s]); } else { red[li] += red[li + s]; }
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let s = wg.x;
  let h = wg.y;
  let i = wg.z;
  let g = h / (P.nh / P.nkv);
  let hd = P.hd;
  var hi = P.kvlen;
  if (P.causal != 0u) { hi = min(hi, P.qstart + i + 1u); }
  let a = s * CH;
  let b = min(hi, a + CH);
  for (var d = li; d < hd / 4u; d += WG) {
    let q = i * P.qw + h * hd + 4u * d;
    qs[d] = vec4<f32>(Q[q], Q[q + 1u], Q[q + 2u], Q[q + 3u]) * P.scale;
  }
  workgroupBarrier();
  var mx = -1e30;
  for (var jj = li; jj < CH; jj += WG) {
    let j = a + jj;
    var acc = -1e30;
    if (j < b) {
      acc = 0.0;
      let base = (j * P.kw + g * hd) >> 2u;
      for (var d = 0u; d < hd / 4u; d++) { acc += dot(qs[d], K[base + d]); }
    }
    sc[jj] = acc;
    mx = max(mx, acc);
  }
  let M = reduce(mx, li, true);
  var sum = 0.0;
  for (var jj = li; jj < CH; jj += WG) {
    var p = 0.0;
    if (a + jj < b) { p = exp(sc[jj] - M); }
    sc[jj] = p;
    sum += p;
  }
  let L = reduce(sum, li, false);
  let part = (i * P.nh + h) * P.nsplit + s;
  var n = 0u;
  if (b > a) { n = b - a; }
  for (var d = li; d < hd; d += WG) {
    var acc = 0.0;
    for (var jj = 0u; jj < n; jj++) { acc = fma(sc[jj], V[(a + jj) * P.kw + g * hd + d], acc); }
    if (DIRECT) { OP[i * P.qw + h * hd + d] = acc / L; } else { OP[part * hd + d] = acc; }
  }
  if (li == 0u && !DIRECT) {
    ML[2u * part] = M;
    ML[2u * part + 1u] = L;
  }
}

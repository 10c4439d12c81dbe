// Attention for many query rows with small heads (hd ≤ 80, hd % 4 == 0: the vision tower): one query row per
// thread, with its scaled q and its output in registers. The workgroup stages BK keys of K and V in workgroup
// memory; every thread reads them as broadcasts, 16 keys at a time: 16 independent dot products, one online-softmax
// rescale per 16 keys, then P·V. The only barriers are around the tile loads. Blocks of 16 keys a row cannot see
// are skipped. Masks (causal, segments) and GQA as in attn_flash.wgsl. Consts: HD4 (hd / 4), R (rows = threads
// per workgroup), BK (keys per tile, a multiple of 16).
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nseg: u32, scale: f32, qw: u32, kw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> SEG: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<vec4<f32>>;

var<workgroup> Ks: array<vec4<f32>, BK * HD4>; // [key][d / 4]
var<workgroup> Vs: array<vec4<f32>, BK * HD4>;
var<workgroup> span: vec2<u32>;

// Keys [lo, hi) that query row i may see.
fn keys_of(i: u32) -> vec2<u32> {
  var lo = 0u;
  var hi = P.kvlen;
  if (P.causal != 0u) { hi = min(hi, P.qstart + i + 1u); }
  if (P.nseg > 0u) {
    var a = 0u;
    var b = P.nseg;
    while (b - a > 1u) {
      let mid = (a + b) / 2u;
      if (SEG[mid] <= i) { a = mid; } else { b = mid; }
    }
    lo = max(lo, SEG[a]);
    hi = min(hi, SEG[a + 1u]);
  }
  return vec2<u32>(lo, hi);
}

@compute @workgroup_size(R)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let h = wg.y;
  let g = h / (P.nh / P.nkv);
  let q0 = wg.x * R;
  let row = min(q0 + li, P.t - 1u);
  // Rows only widen their key range downwards, so the first and last rows bound the workgroup's keys.
  if (li == 0u) { span = vec2<u32>(keys_of(q0).x, keys_of(min(q0 + R, P.t) - 1u).y); }
  let sp = workgroupUniformLoad(&span);
  let mine = keys_of(row);
  var q: array<vec4<f32>, HD4>;
  var o: array<vec4<f32>, HD4>;
  let qb = (row * P.qw + h * P.hd) / 4u;
  for (var d = 0u; d < HD4; d++) {
    q[d] = Q[qb + d] * P.scale;
    o[d] = vec4<f32>(0.0);
  }
  var m = -1e30;
  var l = 0.0;
  for (var k0 = sp.x; k0 < sp.y; k0 += BK) {
    workgroupBarrier();
    for (var e = li; e < BK * HD4; e += R) {
      let j = e / HD4;
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (k0 + j < sp.y) {
        let at = ((k0 + j) * P.kw + g * P.hd) / 4u + e % HD4;
        kv = K[at];
        vv = V[at];
      }
      Ks[e] = kv;
      Vs[e] = vv;
    }
    workgroupBarrier();
    let a = max(mine.x, k0);
    let b = min(mine.y, min(k0 + BK, sp.y));
    for (var j0 = 0u; j0 < BK; j0 += 16u) {
      if (k0 + j0 + 16u <= a || k0 + j0 >= b) { continue; }
      var s: array<f32, 16>;
      for (var j = 0u; j < 16u; j++) { s[j] = 0.0; }
      for (var d = 0u; d < HD4; d++) {
        let qd = q[d];
        for (var j = 0u; j < 16u; j++) { s[j] += dot(qd, Ks[(j0 + j) * HD4 + d]); }
      }
      var mb = m;
      for (var j = 0u; j < 16u; j++) {
        let key = k0 + j0 + j;
        if (key >= a && key < b) { mb = max(mb, s[j]); }
      }
      let c = exp(m - mb);
      m = mb;
      l *= c;
      for (var d = 0u; d < HD4; d++) { o[d] *= c; }
      for (var j = 0u; j < 16u; j++) {
        let key = k0 + j0 + j;
        var p = 0.0;
        if (key >= a && key < b) { p = exp(s[j] - mb); }
        l += p;
        for (var d = 0u; d < HD4; d++) { o[d] = fma(vec4<f32>(p), Vs[(j0 + j) * HD4 + d], o[d]); }
      }
    }
  }
  if (q0 + li < P.t) {
    for (var d = 0u; d < HD4; d++) { O[qb + d] = o[d] / l; }
  }
}

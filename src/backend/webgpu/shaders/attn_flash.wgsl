// Attention for many query rows (prefill, vision): one workgroup per (BQ query rows, head) walks key tiles of BKV
// with an online softmax, so no [T, T] score matrix exists anywhere. Masks: causal (row i sees keys
// [0, qstart + i]) and block-diagonal segments (cu_seqlens). Consts: BQ, BKV, LANES (threads per query row),
// HD (head dim rounded up to LANES). GQA: kv head g serves q heads [g·nh/nkv, (g+1)·nh/nkv).
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nseg: u32, scale: f32, qw: u32, kw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> SEG: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;

const WG = BQ * LANES;
const KS = HD + 1u; // padded key rows: lanes read different rows at the same d without bank conflicts
var<workgroup> Qs: array<f32, BQ * HD>;
var<workgroup> Ks: array<f32, BKV * KS>;
var<workgroup> Vs: array<f32, BKV * HD>;
var<workgroup> Ss: array<f32, BQ * BKV>;
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

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let h = wg.y;
  let g = h / (P.nh / P.nkv);
  let q0 = wg.x * BQ;
  let r = li / LANES;
  let lane = li % LANES;
  let i = q0 + r;
  let hd = P.hd;
  for (var e = li; e < BQ * hd; e += WG) {
    let rr = e / hd;
    let d = e % hd;
    var v = 0.0;
    if (q0 + rr < P.t) { v = Q[(q0 + rr) * P.qw + h * hd + d] * P.scale; }
    Qs[rr * HD + d] = v;
  }
  if (li == 0u) {
    span = vec2<u32>(keys_of(q0).x, keys_of(min(q0 + BQ, P.t) - 1u).y);
  }
  let sp = workgroupUniformLoad(&span);
  let mine = keys_of(min(i, P.t - 1u));
  var m = -1e30;
  var l = 0.0;
  var o: array<f32, HD / LANES>;
  for (var k0 = sp.x; k0 < sp.y; k0 += BKV) {
    workgroupBarrier();
    for (var e = li; e < BKV * hd; e += WG) {
      let jj = e / hd;
      let d = e % hd;
      let j = k0 + jj;
      var kv = 0.0;
      var vv = 0.0;
      if (j < sp.y) {
        kv = K[j * P.kw + g * hd + d];
        vv = V[j * P.kw + g * hd + d];
      }
      Ks[jj * KS + d] = kv;
      Vs[jj * HD + d] = vv;
    }
    workgroupBarrier();
    for (var s = 0u; s < BKV / LANES; s++) {
      let jj = lane + s * LANES;
      var acc = 0.0;
      for (var d = 0u; d < hd; d++) { acc = fma(Qs[r * HD + d], Ks[jj * KS + d], acc); }
      Ss[r * BKV + jj] = acc;
    }
    workgroupBarrier();
    var mx = m;
    for (var jj = 0u; jj < BKV; jj++) {
      let j = k0 + jj;
      if (j >= mine.x && j < mine.y) { mx = max(mx, Ss[r * BKV + jj]); }
    }
    let alpha = exp(m - mx);
    l *= alpha;
    for (var c = 0u; c < HD / LANES; c++) { o[c] *= alpha; }
    for (var jj = 0u; jj < BKV; jj++) {
      let j = k0 + jj;
      if (j >= mine.x && j < mine.y) {
        let p = exp(Ss[r * BKV + jj] - mx);
        l += p;
        for (var c = 0u; c < HD / LANES; c++) { o[c] = fma(p, Vs[jj * HD + lane + c * LANES], o[c]); }
      }
    }
    m = mx;
  }
  if (i < P.t) {
    for (var c = 0u; c < HD / LANES; c++) {
      let d = lane + c * LANES;
      if (d < hd) { O[i * P.qw + h * hd + d] = o[c] / l; }
    }
  }
}

// Attention for many query rows (prefill, vision): one workgroup per (64 query rows, head) walks 64-key tiles with
// an online softmax, so no [T, T] score matrix exists anywhere. Scores are a small matmul per tile: each of the
// 16×16 threads holds 4×4 of them (Q and K staged through workgroup memory in 16-dim slices), then 4 rows × HD/16
// output columns. Masks: causal (row i sees keys [0, qstart + i]) and block-diagonal segments (cu_seqlens).
// GQA: kv head g serves q heads [g·nh/nkv, (g+1)·nh/nkv). Consts: HD (head dim padded to 16), VK (keys per V slice).
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nseg: u32, scale: f32, qw: u32, kw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> SEG: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;

const BQ = 64u;
const BKV = 64u;
const DK = 16u;
const CPT = HD / 16u;
const MASKED = -3.0e38;
var<workgroup> Qc: array<vec4<f32>, DK * BQ / 4u>; // [d][row] as vec4 over 4 rows
var<workgroup> Kc: array<f32, DK * BKV>; // [d][key]
var<workgroup> Ss: array<f32, BQ * BKV>; // scores, then probabilities
var<workgroup> Vc: array<f32, VK * HD>;
var<workgroup> rowM: array<f32, BQ>;
var<workgroup> rowL: array<f32, BQ>;
var<workgroup> rowA: array<f32, BQ>;
var<workgroup> red: array<f32, 256>;
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

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let h = wg.y;
  let g = h / (P.nh / P.nkv);
  let q0 = wg.x * BQ;
  let ty = li / 16u;
  let tx = li % 16u;
  let hd = P.hd;
  if (li == 0u) { span = vec2<u32>(keys_of(q0).x, keys_of(min(q0 + BQ, P.t) - 1u).y); }
  if (li < BQ) {
    rowM[li] = -1e30;
    rowL[li] = 0.0;
  }
  let sp = workgroupUniformLoad(&span);
  var mine: array<vec2<u32>, 4>;
  for (var i = 0u; i < 4u; i++) { mine[i] = keys_of(min(q0 + ty * 4u + i, P.t - 1u)); }
  var o: array<array<f32, CPT>, 4>;
  for (var k0 = sp.x; k0 < sp.y; k0 += BKV) {
    // S = (scale·Q) Kᵀ for this tile, 16 dims at a time.
    // Zeroed explicitly: a function variable declared in a loop must restart at zero on every tile, which the
    // Vulkan path on the H200 and Chromium/SwiftShader did not do (tiles after the first added to the previous tile's scores).
    var s: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) { s[i] = array<f32, 4>(0.0, 0.0, 0.0, 0.0); }
    for (var d0 = 0u; d0 < HD; d0 += DK) {
      workgroupBarrier();
      for (var e = li; e < DK * BQ; e += 256u) {
        let r = e / DK;
        let dd = e % DK;
        let d = d0 + dd;
        var qv = 0.0;
        if (q0 + r < P.t && d < hd) { qv = Q[(q0 + r) * P.qw + h * hd + d] * P.scale; }
        Qc[dd * (BQ / 4u) + r / 4u][r % 4u] = qv;
        var kv = 0.0;
        if (k0 + r < sp.y && d < hd) { kv = K[(k0 + r) * P.kw + g * hd + d]; }
        Kc[dd * BKV + r] = kv;
      }
      workgroupBarrier();
      for (var d = 0u; d < DK; d++) {
        let a = Qc[d * (BQ / 4u) + ty];
        for (var j = 0u; j < 4u; j++) {
          let b = Kc[d * BKV + tx + 16u * j];
          s[0][j] = fma(a.x, b, s[0][j]);
          s[1][j] = fma(a.y, b, s[1][j]);
          s[2][j] = fma(a.z, b, s[2][j]);
          s[3][j] = fma(a.w, b, s[3][j]);
        }
      }
    }
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) {
        let key = k0 + tx + 16u * j;
        let ok = key < sp.y && key >= mine[i].x && key < mine[i].y;
        Ss[(ty * 4u + i) * BKV + tx + 16u * j] = select(MASKED, s[i][j], ok);
      }
    }
    workgroupBarrier();
    // Online softmax: 4 threads per row, 16 keys each.
    let row = li / 4u;
    let part = li % 4u;
    var mx = -1e30;
    for (var j = 0u; j < 16u; j++) { mx = max(mx, Ss[row * BKV + part * 16u + j]); }
    red[li] = mx;
    workgroupBarrier();
    if (part == 0u) {
      let mn = max(rowM[row], max(max(red[li], red[li + 1u]), max(red[li + 2u], red[li + 3u])));
      rowA[row] = exp(rowM[row] - mn);
      rowM[row] = mn;
    }
    workgroupBarrier();
    let m = rowM[row];
    var sum = 0.0;
    for (var j = 0u; j < 16u; j++) {
      let v = Ss[row * BKV + part * 16u + j];
      var p = 0.0;
      if (v > -1e38) { p = exp(v - m); }
      Ss[row * BKV + part * 16u + j] = p;
      sum += p;
    }
    red[li] = sum;
    workgroupBarrier();
    if (part == 0u) { rowL[row] = rowL[row] * rowA[row] + red[li] + red[li + 1u] + red[li + 2u] + red[li + 3u]; }
    for (var i = 0u; i < 4u; i++) {
      let al = rowA[ty * 4u + i];
      for (var c = 0u; c < CPT; c++) { o[i][c] *= al; }
    }
    // O += P V, VK keys at a time.
    for (var kc = 0u; kc < BKV; kc += VK) {
      workgroupBarrier();
      for (var e = li; e < VK * HD; e += 256u) {
        let j = e / HD;
        let d = e % HD;
        var vv = 0.0;
        if (k0 + kc + j < sp.y && d < hd) { vv = V[(k0 + kc + j) * P.kw + g * hd + d]; }
        Vc[e] = vv;
      }
      workgroupBarrier();
      for (var j = 0u; j < VK; j++) {
        for (var i = 0u; i < 4u; i++) {
          let p = Ss[(ty * 4u + i) * BKV + kc + j];
          for (var c = 0u; c < CPT; c++) { o[i][c] = fma(p, Vc[j * HD + tx + 16u * c], o[i][c]); }
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = ty * 4u + i;
    if (q0 + r < P.t) {
      let l = rowL[r];
      for (var c = 0u; c < CPT; c++) {
        let d = tx + 16u * c;
        if (d < hd) { O[(q0 + r) * P.qw + h * hd + d] = o[i][c] / l; }
      }
    }
  }
}

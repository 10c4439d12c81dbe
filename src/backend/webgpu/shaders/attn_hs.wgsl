// attn_h.wgsl with K and V staged in workgroup memory (precision 'fast', heads up to 80 wide): per block of BKEY keys
// the workgroup copies the block's K and V rows from KH / VH with 16-byte loads into Ks / Vs, shared by its four
// subgroups, whose tensor-core operands then come from workgroup memory instead of scattered storage loads.
// Everything else as attn_h.wgsl (inputs, outputs, masks, online softmax). Consts: HDP (≤ 80), BKEY (32 or 64).
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, subgroup_uniformity);
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nseg: u32, tp: u32, lp: u32, qw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> QH: array<f16>;
@group(0) @binding(2) var<storage, read> KH: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> VH: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> SEG: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;

alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias C = subgroup_matrix_result<f32, 16, 16>;
const ND = HDP / 16u;
const NJ = BKEY / 16u;
const KPL = BKEY / 2u; // keys a lane scores (two lanes a row)
const HH = HDP / 2u;
const SK = HDP + 8u; // Ks / Vs row stride in halves
const SW = 16u * max(BKEY, HDP);
const NCH = BKEY * HDP / 8u; // 8-half chunks of a K (or V) block
const CH = (NCH + 127u) / 128u; // of them a thread copies
var<workgroup> Ks: array<f16, BKEY * SK>;
var<workgroup> Vs: array<f16, BKEY * SK>;
var<workgroup> Ss: array<f32, 4u * SW>;
var<workgroup> Ps: array<f16, 4u * 16u * BKEY>;
var<workgroup> span: vec2<u32>;

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

fn put(o: u32, k: vec4<u32>, v: vec4<u32>) {
  let k0 = bitcast<vec2<f16>>(k.x); let k1 = bitcast<vec2<f16>>(k.y); let k2 = bitcast<vec2<f16>>(k.z); let k3 = bitcast<vec2<f16>>(k.w);
  Ks[o] = k0.x; Ks[o + 1u] = k0.y; Ks[o + 2u] = k1.x; Ks[o + 3u] = k1.y; Ks[o + 4u] = k2.x; Ks[o + 5u] = k2.y; Ks[o + 6u] = k3.x; Ks[o + 7u] = k3.y;
  let v0 = bitcast<vec2<f16>>(v.x); let v1 = bitcast<vec2<f16>>(v.y); let v2 = bitcast<vec2<f16>>(v.z); let v3 = bitcast<vec2<f16>>(v.w);
  Vs[o] = v0.x; Vs[o + 1u] = v0.y; Vs[o + 2u] = v1.x; Vs[o + 3u] = v1.y; Vs[o + 4u] = v2.x; Vs[o + 5u] = v2.y; Vs[o + 6u] = v3.x; Vs[o + 7u] = v3.y;
}

@compute @workgroup_size(128)
fn main(
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let h = wg.y;
  let g = h / (P.nh / P.nkv);
  let q0 = wg.x * 64u;
  if (li == 0u) { span = vec2<u32>(keys_of(q0).x, keys_of(min(q0 + 64u, P.t) - 1u).y); }
  let sp = workgroupUniformLoad(&span);
  let r = lane / 2u;
  let hf = lane % 2u;
  let row = q0 + sg * 16u + r;
  let kr = keys_of(min(row, P.t - 1u));
  let sb = sg * SW;
  let pb = sg * 16u * BKEY;
  let qo = (h * P.tp + q0 + sg * 16u) * HDP;
  let kvo = g * P.lp * (HDP / 8u); // in 8-half chunks
  var qf0: L; { qf0 = subgroupMatrixLoad<L>(&QH, qo + 0u, false, HDP); }
  var qf1: L; if (ND > 1u) { qf1 = subgroupMatrixLoad<L>(&QH, qo + 16u, false, HDP); }
  var qf2: L; if (ND > 2u) { qf2 = subgroupMatrixLoad<L>(&QH, qo + 32u, false, HDP); }
  var qf3: L; if (ND > 3u) { qf3 = subgroupMatrixLoad<L>(&QH, qo + 48u, false, HDP); }
  var qf4: L; if (ND > 4u) { qf4 = subgroupMatrixLoad<L>(&QH, qo + 64u, false, HDP); }
  var acc: array<vec4<f32>, HH / 4u>;
  for (var c = 0u; c < HH / 4u; c++) { acc[c] = vec4<f32>(0.0); }
  var m = -1e30;
  var l = 0.0;
  var sc: array<f32, KPL>;
  var rk: array<vec4<u32>, CH>;
  var rv: array<vec4<u32>, CH>;
  for (var k0 = sp.x; k0 < sp.y; k0 += BKEY) {
    // This block's K and V rows: chunk c is key c / (HDP / 8), halves (c % (HDP / 8)) · 8 .. + 8.
    for (var i = 0u; i < CH; i++) {
      let c = li + i * 128u;
      let e = kvo + k0 * (HDP / 8u) + min(c, NCH - 1u);
      rk[i] = KH[e];
      rv[i] = VH[e];
    }
    workgroupBarrier();
    for (var i = 0u; i < CH; i++) {
      let c = li + i * 128u;
      if (c < NCH) { put((c / (HDP / 8u)) * SK + (c % (HDP / 8u)) * 8u, rk[i], rv[i]); }
    }
    workgroupBarrier();
    {
      let ko = 0u * SK;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&Ks, ko, true, SK));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&Ks, ko + 16u, true, SK), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&Ks, ko + 32u, true, SK), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&Ks, ko + 48u, true, SK), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&Ks, ko + 64u, true, SK), s); }
      subgroupMatrixStore(&Ss, sb + 0u, s, false, BKEY);
    }
    if (NJ > 1u) {
      let ko = 16u * SK;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&Ks, ko, true, SK));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&Ks, ko + 16u, true, SK), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&Ks, ko + 32u, true, SK), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&Ks, ko + 48u, true, SK), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&Ks, ko + 64u, true, SK), s); }
      subgroupMatrixStore(&Ss, sb + 16u, s, false, BKEY);
    }
    if (NJ > 2u) {
      let ko = 32u * SK;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&Ks, ko, true, SK));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&Ks, ko + 16u, true, SK), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&Ks, ko + 32u, true, SK), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&Ks, ko + 48u, true, SK), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&Ks, ko + 64u, true, SK), s); }
      subgroupMatrixStore(&Ss, sb + 32u, s, false, BKEY);
    }
    if (NJ > 3u) {
      let ko = 48u * SK;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&Ks, ko, true, SK));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&Ks, ko + 16u, true, SK), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&Ks, ko + 32u, true, SK), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&Ks, ko + 48u, true, SK), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&Ks, ko + 64u, true, SK), s); }
      subgroupMatrixStore(&Ss, sb + 48u, s, false, BKEY);
    }
    workgroupBarrier();
    var mb = -1e30;
    for (var c = 0u; c < KPL; c++) {
      let key = k0 + hf * KPL + c;
      let v = Ss[sb + r * BKEY + hf * KPL + c];
      let ok = key >= kr.x && key < kr.y;
      sc[c] = v;
      if (ok) { mb = max(mb, v); }
    }
    mb = max(mb, subgroupShuffleXor(mb, 1u));
    let mn = max(m, mb);
    let alpha = exp2(m - mn);
    var ls = 0.0;
    for (var c = 0u; c < KPL; c++) {
      let key = k0 + hf * KPL + c;
      let p = select(0.0, exp2(sc[c] - mn), key >= kr.x && key < kr.y);
      ls += p;
      Ps[pb + r * BKEY + hf * KPL + c] = f16(p);
    }
    ls += subgroupShuffleXor(ls, 1u);
    l = l * alpha + ls;
    m = mn;
    workgroupBarrier();
    var p0: L; { p0 = subgroupMatrixLoad<L>(&Ps, pb + 0u, false, BKEY); }
    var p1: L; if (NJ > 1u) { p1 = subgroupMatrixLoad<L>(&Ps, pb + 16u, false, BKEY); }
    var p2: L; if (NJ > 2u) { p2 = subgroupMatrixLoad<L>(&Ps, pb + 32u, false, BKEY); }
    var p3: L; if (NJ > 3u) { p3 = subgroupMatrixLoad<L>(&Ps, pb + 48u, false, BKEY); }
    {
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&Vs, 0u, false, SK));
      if (NJ > 1u) { o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&Vs, 16u * SK + 0u, false, SK), o); }
      if (NJ > 2u) { o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&Vs, 32u * SK + 0u, false, SK), o); }
      if (NJ > 3u) { o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&Vs, 48u * SK + 0u, false, SK), o); }
      subgroupMatrixStore(&Ss, sb + 0u, o, false, HDP);
    }
    if (ND > 1u) {
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&Vs, 16u, false, SK));
      if (NJ > 1u) { o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&Vs, 16u * SK + 16u, false, SK), o); }
      if (NJ > 2u) { o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&Vs, 32u * SK + 16u, false, SK), o); }
      if (NJ > 3u) { o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&Vs, 48u * SK + 16u, false, SK), o); }
      subgroupMatrixStore(&Ss, sb + 16u, o, false, HDP);
    }
    if (ND > 2u) {
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&Vs, 32u, false, SK));
      if (NJ > 1u) { o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&Vs, 16u * SK + 32u, false, SK), o); }
      if (NJ > 2u) { o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&Vs, 32u * SK + 32u, false, SK), o); }
      if (NJ > 3u) { o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&Vs, 48u * SK + 32u, false, SK), o); }
      subgroupMatrixStore(&Ss, sb + 32u, o, false, HDP);
    }
    if (ND > 3u) {
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&Vs, 48u, false, SK));
      if (NJ > 1u) { o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&Vs, 16u * SK + 48u, false, SK), o); }
      if (NJ > 2u) { o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&Vs, 32u * SK + 48u, false, SK), o); }
      if (NJ > 3u) { o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&Vs, 48u * SK + 48u, false, SK), o); }
      subgroupMatrixStore(&Ss, sb + 48u, o, false, HDP);
    }
    if (ND > 4u) {
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&Vs, 64u, false, SK));
      if (NJ > 1u) { o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&Vs, 16u * SK + 64u, false, SK), o); }
      if (NJ > 2u) { o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&Vs, 32u * SK + 64u, false, SK), o); }
      if (NJ > 3u) { o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&Vs, 48u * SK + 64u, false, SK), o); }
      subgroupMatrixStore(&Ss, sb + 64u, o, false, HDP);
    }
    workgroupBarrier();
    let ob = sb + r * HDP + hf * HH;
    for (var c = 0u; c < HH / 4u; c++) {
      let e = ob + 4u * c;
      acc[c] = acc[c] * alpha + vec4<f32>(Ss[e], Ss[e + 1u], Ss[e + 2u], Ss[e + 3u]);
    }
  }
  if (row < P.t) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let oo = row * P.qw + h * P.hd;
    for (var c = 0u; c < HH / 4u; c++) {
      let d = hf * HH + 4u * c;
      if (d < P.hd) {
        let v = acc[c] * inv;
        O[oo + d] = v.x; O[oo + d + 1u] = v.y; O[oo + d + 2u] = v.z; O[oo + d + 3u] = v.w;
      }
    }
  }
}

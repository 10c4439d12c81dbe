// Attention for many query rows on f16 tensor cores (precision 'fast'): flash attention with S = Q·Kᵀ and O += P·V
// as subgroup-matrix products (f16 operands, f32 accumulation), online softmax in f32. Operands come from
// attn_cvt.wgsl: QH [nh][tp][HDP] (already times scale·log2 e, so scores are in the exp2 domain), KH and VH
// [nkv][lp][HDP], zero-padded. A workgroup is 4 subgroups of 16 query rows; per block of 64 keys each subgroup
// stages its 16×64 scores in workgroup memory, two lanes a row apply the masks (causal, segments, kvLen) and the
// softmax and write P as f16; P·V lands in the same staging area and each lane folds its half row into its output
// registers with the running rescale. Blocks no row of the workgroup can see are skipped. GQA: query head h reads
// kv head h / (nh / nkv). Consts: HDP (head dim padded to 16, ≤ 128). Needs subgroups of 32 lanes.
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, subgroup_uniformity);
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nseg: u32, tp: u32, lp: u32, qw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> QH: array<f16>;
@group(0) @binding(2) var<storage, read> KH: array<f16>;
@group(0) @binding(3) var<storage, read> VH: array<f16>;
@group(0) @binding(4) var<storage, read> SEG: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;

alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias C = subgroup_matrix_result<f32, 16, 16>;
const ND = HDP / 16u;
const HH = HDP / 2u; // output columns a lane owns
const SW = 16u * max(64u, HDP); // staging floats per subgroup: 16×64 scores, then 16×HDP of P·V
var<workgroup> Ss: array<f32, 4u * SW>;
var<workgroup> Ps: array<f16, 4096u>;
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
  // Rows only widen their key range downwards, so the first and last rows bound the workgroup's keys.
  if (li == 0u) { span = vec2<u32>(keys_of(q0).x, keys_of(min(q0 + 64u, P.t) - 1u).y); }
  let sp = workgroupUniformLoad(&span);
  let r = lane / 2u; // this lane's row in the subgroup's 16, and which half of the columns
  let hf = lane % 2u;
  let row = q0 + sg * 16u + r;
  let kr = keys_of(min(row, P.t - 1u));
  let sb = sg * SW;
  let pb = sg * 1024u;
  let qo = (h * P.tp + q0 + sg * 16u) * HDP;
  let kvo = g * P.lp * HDP;
  var qf0: L; { qf0 = subgroupMatrixLoad<L>(&QH, qo + 0u, false, HDP); }
  var qf1: L; if (ND > 1u) { qf1 = subgroupMatrixLoad<L>(&QH, qo + 16u, false, HDP); }
  var qf2: L; if (ND > 2u) { qf2 = subgroupMatrixLoad<L>(&QH, qo + 32u, false, HDP); }
  var qf3: L; if (ND > 3u) { qf3 = subgroupMatrixLoad<L>(&QH, qo + 48u, false, HDP); }
  var qf4: L; if (ND > 4u) { qf4 = subgroupMatrixLoad<L>(&QH, qo + 64u, false, HDP); }
  var qf5: L; if (ND > 5u) { qf5 = subgroupMatrixLoad<L>(&QH, qo + 80u, false, HDP); }
  var qf6: L; if (ND > 6u) { qf6 = subgroupMatrixLoad<L>(&QH, qo + 96u, false, HDP); }
  var qf7: L; if (ND > 7u) { qf7 = subgroupMatrixLoad<L>(&QH, qo + 112u, false, HDP); }
  var acc: array<vec4<f32>, HH / 4u>;
  for (var c = 0u; c < HH / 4u; c++) { acc[c] = vec4<f32>(0.0); }
  var m = -1e30;
  var l = 0.0;
  var sc: array<f32, 32>;
  for (var k0 = sp.x; k0 < sp.y; k0 += 64u) {
    workgroupBarrier();
    // S = Q·Kᵀ for keys k0 .. k0 + 63: K rows read as column-major right matrices.
    {
      let ko = kvo + (k0 + 0u) * HDP;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&KH, ko, true, HDP));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&KH, ko + 16u, true, HDP), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&KH, ko + 32u, true, HDP), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&KH, ko + 48u, true, HDP), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&KH, ko + 64u, true, HDP), s); }
      if (ND > 5u) { s = subgroupMatrixMultiplyAccumulate(qf5, subgroupMatrixLoad<R>(&KH, ko + 80u, true, HDP), s); }
      if (ND > 6u) { s = subgroupMatrixMultiplyAccumulate(qf6, subgroupMatrixLoad<R>(&KH, ko + 96u, true, HDP), s); }
      if (ND > 7u) { s = subgroupMatrixMultiplyAccumulate(qf7, subgroupMatrixLoad<R>(&KH, ko + 112u, true, HDP), s); }
      subgroupMatrixStore(&Ss, sb + 0u, s, false, 64u);
    }
    {
      let ko = kvo + (k0 + 16u) * HDP;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&KH, ko, true, HDP));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&KH, ko + 16u, true, HDP), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&KH, ko + 32u, true, HDP), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&KH, ko + 48u, true, HDP), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&KH, ko + 64u, true, HDP), s); }
      if (ND > 5u) { s = subgroupMatrixMultiplyAccumulate(qf5, subgroupMatrixLoad<R>(&KH, ko + 80u, true, HDP), s); }
      if (ND > 6u) { s = subgroupMatrixMultiplyAccumulate(qf6, subgroupMatrixLoad<R>(&KH, ko + 96u, true, HDP), s); }
      if (ND > 7u) { s = subgroupMatrixMultiplyAccumulate(qf7, subgroupMatrixLoad<R>(&KH, ko + 112u, true, HDP), s); }
      subgroupMatrixStore(&Ss, sb + 16u, s, false, 64u);
    }
    {
      let ko = kvo + (k0 + 32u) * HDP;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&KH, ko, true, HDP));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&KH, ko + 16u, true, HDP), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&KH, ko + 32u, true, HDP), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&KH, ko + 48u, true, HDP), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&KH, ko + 64u, true, HDP), s); }
      if (ND > 5u) { s = subgroupMatrixMultiplyAccumulate(qf5, subgroupMatrixLoad<R>(&KH, ko + 80u, true, HDP), s); }
      if (ND > 6u) { s = subgroupMatrixMultiplyAccumulate(qf6, subgroupMatrixLoad<R>(&KH, ko + 96u, true, HDP), s); }
      if (ND > 7u) { s = subgroupMatrixMultiplyAccumulate(qf7, subgroupMatrixLoad<R>(&KH, ko + 112u, true, HDP), s); }
      subgroupMatrixStore(&Ss, sb + 32u, s, false, 64u);
    }
    {
      let ko = kvo + (k0 + 48u) * HDP;
      var s = subgroupMatrixMultiply<f32>(qf0, subgroupMatrixLoad<R>(&KH, ko, true, HDP));
      if (ND > 1u) { s = subgroupMatrixMultiplyAccumulate(qf1, subgroupMatrixLoad<R>(&KH, ko + 16u, true, HDP), s); }
      if (ND > 2u) { s = subgroupMatrixMultiplyAccumulate(qf2, subgroupMatrixLoad<R>(&KH, ko + 32u, true, HDP), s); }
      if (ND > 3u) { s = subgroupMatrixMultiplyAccumulate(qf3, subgroupMatrixLoad<R>(&KH, ko + 48u, true, HDP), s); }
      if (ND > 4u) { s = subgroupMatrixMultiplyAccumulate(qf4, subgroupMatrixLoad<R>(&KH, ko + 64u, true, HDP), s); }
      if (ND > 5u) { s = subgroupMatrixMultiplyAccumulate(qf5, subgroupMatrixLoad<R>(&KH, ko + 80u, true, HDP), s); }
      if (ND > 6u) { s = subgroupMatrixMultiplyAccumulate(qf6, subgroupMatrixLoad<R>(&KH, ko + 96u, true, HDP), s); }
      if (ND > 7u) { s = subgroupMatrixMultiplyAccumulate(qf7, subgroupMatrixLoad<R>(&KH, ko + 112u, true, HDP), s); }
      subgroupMatrixStore(&Ss, sb + 48u, s, false, 64u);
    }
    workgroupBarrier();
    // Online softmax: two lanes a row, 32 keys each.
    var mb = -1e30;
    for (var c = 0u; c < 32u; c++) {
      let key = k0 + hf * 32u + c;
      let v = Ss[sb + r * 64u + hf * 32u + c];
      let ok = key >= kr.x && key < kr.y;
      sc[c] = select(-1e30, v, ok);
      if (ok) { mb = max(mb, v); }
    }
    mb = max(mb, subgroupShuffleXor(mb, 1u));
    let mn = max(m, mb);
    let alpha = exp2(m - mn);
    var ls = 0.0;
    for (var c = 0u; c < 32u; c++) {
      let key = k0 + hf * 32u + c;
      let p = select(0.0, exp2(sc[c] - mn), key >= kr.x && key < kr.y);
      ls += p;
      Ps[pb + r * 64u + hf * 32u + c] = f16(p);
    }
    ls += subgroupShuffleXor(ls, 1u);
    l = l * alpha + ls;
    m = mn;
    workgroupBarrier();
    // O_block = P·V: V rows (keys) read as row-major right matrices; staged over the scores.
    let p0 = subgroupMatrixLoad<L>(&Ps, pb + 0u, false, 64u);
    let p1 = subgroupMatrixLoad<L>(&Ps, pb + 16u, false, 64u);
    let p2 = subgroupMatrixLoad<L>(&Ps, pb + 32u, false, 64u);
    let p3 = subgroupMatrixLoad<L>(&Ps, pb + 48u, false, 64u);
    {
      let vo = kvo + k0 * HDP + 0u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 0u, o, false, HDP);
    }
    if (ND > 1u) {
      let vo = kvo + k0 * HDP + 16u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 16u, o, false, HDP);
    }
    if (ND > 2u) {
      let vo = kvo + k0 * HDP + 32u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 32u, o, false, HDP);
    }
    if (ND > 3u) {
      let vo = kvo + k0 * HDP + 48u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 48u, o, false, HDP);
    }
    if (ND > 4u) {
      let vo = kvo + k0 * HDP + 64u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 64u, o, false, HDP);
    }
    if (ND > 5u) {
      let vo = kvo + k0 * HDP + 80u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 80u, o, false, HDP);
    }
    if (ND > 6u) {
      let vo = kvo + k0 * HDP + 96u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 96u, o, false, HDP);
    }
    if (ND > 7u) {
      let vo = kvo + k0 * HDP + 112u;
      var o = subgroupMatrixMultiply<f32>(p0, subgroupMatrixLoad<R>(&VH, vo, false, HDP));
      o = subgroupMatrixMultiplyAccumulate(p1, subgroupMatrixLoad<R>(&VH, vo + 16u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p2, subgroupMatrixLoad<R>(&VH, vo + 32u * HDP, false, HDP), o);
      o = subgroupMatrixMultiplyAccumulate(p3, subgroupMatrixLoad<R>(&VH, vo + 48u * HDP, false, HDP), o);
      subgroupMatrixStore(&Ss, sb + 112u, o, false, HDP);
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

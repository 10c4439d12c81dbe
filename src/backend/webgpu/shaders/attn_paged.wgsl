// Paged attention over a KV pool of f32, f16 or q8_0 slots (KVF 0/1/2; kv_write.wgsl's layouts, read as words so
// f16 needs no shader-f16 feature): workgroup (head h, query row r) walks the row's visible keys in tiles of CH
// (one key per thread for the scores, slots looked up in the block table), keeping an online softmax; P·V with CH/32
// key groups × 32 lanes of vec4 columns. A row's arithmetic depends only on its own sequence, never on the batch.
// META holds, per row, the number of visible keys and where its sequence's block table starts in TBL.
// hd % 4 == 0, hd <= 128. Consts: CH (= WG, a multiple of 32), KVF.
struct Params { n: u32, nh: u32, nkv: u32, hd: u32, bs: u32, qw: u32, kw: u32, scale: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> K: array<u32>;
@group(0) @binding(3) var<storage, read> V: array<u32>;
@group(0) @binding(4) var<storage, read> META: array<u32>;
@group(0) @binding(5) var<storage, read> TBL: array<u32>;
@group(0) @binding(6) var<storage, read_write> O: array<vec4<f32>>;

const WG = CH;
const KG = WG / 32u;
var<workgroup> qs: array<vec4<f32>, 32>;
var<workgroup> sc: array<f32, CH>;
var<workgroup> slots: array<u32, CH>;
var<workgroup> red: array<f32, WG>;
var<workgroup> part: array<vec4<f32>, WG>;
var<workgroup> whi: u32;

fn word(isK: bool, i: u32) -> u32 {
  if (isK) { return K[i]; }
  return V[i];
}

/** f16 bits → f32, exactly: subnormals kept (q8_0 scales of small values are subnormal), infinities as infinities. */
fn halfToF32(h: u32) -> f32 {
  let e = (h >> 10u) & 31u;
  let m = h & 1023u;
  if (e == 0u) {
    let v = f32(m) * 5.9604645e-8;
    return select(v, -v, (h & 0x8000u) != 0u);
  }
  return bitcast<f32>(((h & 0x8000u) << 16u) | (select(e + 112u, 255u, e == 31u) << 23u) | (m << 13u));
}

/** Values [c, c + 4) of a slot's row (c % 4 == 0) from the key (isK) or value pool. */
fn kv4(isK: bool, slot: u32, c: u32) -> vec4<f32> {
  if (KVF == 0u) {
    let i = slot * P.kw + c;
    return bitcast<vec4<f32>>(vec4<u32>(word(isK, i), word(isK, i + 1u), word(isK, i + 2u), word(isK, i + 3u)));
  }
  if (KVF == 1u) {
    let i = (slot * P.kw + c) / 2u;
    return vec4<f32>(unpack2x16float(word(isK, i)), unpack2x16float(word(isK, i + 1u)));
  }
  // q8_0: 34-byte blocks (f16 scale, 32 int8) at even byte offsets; four quants span at most two words.
  let o = (slot * (P.kw / 32u) + c / 32u) * 34u;
  let sw = word(isK, o / 4u);
  let s = halfToF32(select(sw & 0xffffu, sw >> 16u, (o & 2u) != 0u));
  let qb = o + 2u + c % 32u;
  var w = word(isK, qb / 4u);
  if ((qb & 2u) != 0u) { w = (w >> 16u) | (word(isK, qb / 4u + 1u) << 16u); }
  return vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u), bitcast<i32>(w << 16u), bitcast<i32>(w << 8u), bitcast<i32>(w)) >> vec4<u32>(24u)) * s;
}

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
  let h = wg.x;
  let r = wg.y;
  let g = h / (P.nh / P.nkv);
  let h4 = P.hd / 4u;
  if (li == 0u) { whi = META[2u * r]; }
  let hi = workgroupUniformLoad(&whi);
  let tp = META[2u * r + 1u];
  if (li < h4) { qs[li] = Q[(r * P.qw + h * P.hd) / 4u + li] * P.scale; }
  workgroupBarrier();
  let lane = li % 32u;
  let kg = li / 32u;
  var m = -1e30;
  var l = 0.0;
  var o = vec4<f32>(0.0);
  for (var a = 0u; a < hi; a += CH) {
    let j = a + li;
    var s = -1e30;
    if (j < hi) {
      let slot = TBL[tp + j / P.bs] * P.bs + j % P.bs;
      slots[li] = slot;
      s = 0.0;
      for (var d = 0u; d < h4; d++) { s += dot(qs[d], kv4(true, slot, g * P.hd + 4u * d)); }
    }
    let mNew = max(m, reduce(s, li, true));
    let alpha = exp(m - mNew);
    var p = 0.0;
    if (j < hi) { p = exp(s - mNew); }
    sc[li] = p;
    l = l * alpha + reduce(p, li, false);
    o = o * alpha;
    let b = min(hi, a + CH);
    if (lane < h4) {
      for (var jj = kg; a + jj < b; jj += KG) { o += sc[jj] * kv4(false, slots[jj], g * P.hd + 4u * lane); }
    }
    m = mNew;
    workgroupBarrier();
  }
  part[li] = o;
  workgroupBarrier();
  if (li < h4) {
    var sum = part[li];
    for (var q = 1u; q < KG; q++) { sum += part[li + 32u * q]; }
    O[(r * P.qw + h * P.hd) / 4u + li] = sum / l;
  }
}

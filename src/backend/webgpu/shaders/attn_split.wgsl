// Decode attention, split-K pass: workgroup (split s, head h, query row i) takes CH keys: one key per thread for the
// scores, then P·V with CH/32 key groups × 32 lanes of vec4 columns, so no thread walks more than 32 keys (latency,
// not bandwidth, bounds this kernel). It writes its partial output with the local max and sum; attn_combine.wgsl
// merges the splits. With one split (DIRECT) it writes the final output into OP (laid out like q).
// hd % 4 == 0, hd <= 128. Consts: CH (= WG, a multiple of 32, at least 32), DIRECT.
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nsplit: u32, scale: f32, qw: u32, kw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> OP: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> ML: array<f32>;

const WG = CH;
const KG = WG / 32u;
var<workgroup> qs: array<vec4<f32>, 32>;
var<workgroup> sc: array<f32, CH>;
var<workgroup> red: array<f32, WG>;
var<workgroup> part: array<vec4<f32>, WG>; // [key group][lane]

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
  let h4 = P.hd / 4u;
  var hi = P.kvlen;
  if (P.causal != 0u) { hi = min(hi, P.qstart + i + 1u); }
  let a = s * CH;
  let b = min(hi, a + CH);
  if (li < h4) { qs[li] = Q[(i * P.qw + h * P.hd) / 4u + li] * P.scale; }
  workgroupBarrier();
  var acc = -1e30;
  let j = a + li;
  if (j < b) {
    acc = 0.0;
    let base = (j * P.kw + g * P.hd) / 4u;
    for (var d = 0u; d < h4; d++) { acc += dot(qs[d], K[base + d]); }
  }
  let M = reduce(acc, li, true);
  var p = 0.0;
  if (j < b) { p = exp(acc - M); }
  sc[li] = p;
  let L = reduce(p, li, false);
  // P·V: lane = vec4 column, kg = key group.
  let lane = li % 32u;
  let kg = li / 32u;
  var o = vec4<f32>(0.0);
  if (lane < h4) {
    for (var jj = kg; a + jj < b; jj += KG) { o += sc[jj] * V[((a + jj) * P.kw + g * P.hd) / 4u + lane]; }
  }
  part[li] = o;
  workgroupBarrier();
  if (li < h4) {
    var sum = part[li];
    for (var q = 1u; q < KG; q++) { sum += part[li + 32u * q]; }
    if (DIRECT) {
      OP[(i * P.qw + h * P.hd) / 4u + li] = sum / L;
    } else {
      OP[((i * P.nh + h) * P.nsplit + s) * h4 + li] = sum;
    }
  }
  if (li == 0u && !DIRECT) {
    let pi = (i * P.nh + h) * P.nsplit + s;
    ML[2u * pi] = M;
    ML[2u * pi + 1u] = L;
  }
}

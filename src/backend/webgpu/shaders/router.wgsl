// MoE router per row of logits [T, E]: p = exp(l − max), top-k of p (ties: lower id first), weights p / Σ_topk p.
// k rounds of a parallel (value, index) argmax over the row held in workgroup memory. E <= EMAX.
struct Params { rows: u32, e: u32, k: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> WTS: array<f32>;

const WG = 128u;
var<workgroup> p: array<f32, EMAX>;
var<workgroup> bv: array<f32, WG>;
var<workgroup> bi: array<u32, WG>;
var<workgroup> picked: array<f32, 64>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let row = wg.x + wg.y * nw.x;
  if (row >= P.rows) { return; }
  var mx = -3.4e38;
  for (var c = li; c < P.e; c += WG) { mx = max(mx, X[row * P.e + c]); }
  bv[li] = mx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { bv[li] = max(bv[li], bv[li + s]); }
    workgroupBarrier();
  }
  let m = bv[0];
  workgroupBarrier();
  for (var c = li; c < P.e; c += WG) { p[c] = exp(X[row * P.e + c] - m); }
  workgroupBarrier();
  for (var j = 0u; j < P.k; j++) {
    var v = -1.0;
    var k = 0xffffffffu;
    for (var c = li; c < P.e; c += WG) {
      if (p[c] > v) { v = p[c]; k = c; }
    }
    bv[li] = v;
    bi[li] = k;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (li < s) {
        let ov = bv[li + s];
        let oi = bi[li + s];
        if (ov > bv[li] || (ov == bv[li] && oi < bi[li])) {
          bv[li] = ov;
          bi[li] = oi;
        }
      }
      workgroupBarrier();
    }
    if (li == 0u) {
      IDS[row * P.k + j] = i32(bi[0]);
      picked[j] = bv[0];
      p[bi[0]] = -1.0;
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    var sum = 0.0;
    for (var j = 0u; j < P.k; j++) { sum += picked[j]; }
    for (var j = 0u; j < P.k; j++) { WTS[row * P.k + j] = picked[j] / sum; }
  }
}

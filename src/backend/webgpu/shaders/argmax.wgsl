// Index of the largest value of each row (first on ties), one workgroup per row.
struct Params { rows: u32, n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<i32>;

const WG = 256u;
var<workgroup> bv: array<f32, WG>;
var<workgroup> bi: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let row = wg.x + wg.y * nw.x;
  if (row >= P.rows) { return; }
  var v = -3.4e38;
  var k = 0xffffffffu;
  for (var c = li; c < P.n; c += WG) {
    let x = X[row * P.n + c];
    if (k == 0xffffffffu || x > v) { v = x; k = c; }
  }
  bv[li] = v;
  bi[li] = k;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let ov = bv[li + s];
      let oi = bi[li + s];
      if (oi != 0xffffffffu && (bi[li] == 0xffffffffu || ov > bv[li] || (ov == bv[li] && oi < bi[li]))) {
        bv[li] = ov;
        bi[li] = oi;
      }
    }
    workgroupBarrier();
  }
  if (li == 0u) { Y[row] = i32(bi[0]); }
}

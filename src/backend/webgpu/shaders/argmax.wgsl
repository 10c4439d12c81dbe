// Index of the largest value of each row (first on ties). One workgroup per (chunk of P.chunk columns, row).
// Long rows (the vocabulary) take two launches: PART writes each chunk's best value (V) and column (Y); the second
// launch, MAP, reduces those per-chunk bests (X = V, n = chunks) and maps the winner back through I (the columns).
struct Params { rows: u32, n: u32, chunk: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> I: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<i32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;

const WG = 256u;
const NONE = 0xffffffffu;
var<workgroup> bv: array<f32, WG>;
var<workgroup> bi: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let row = wg.y;
  if (row >= P.rows) { return; }
  let c0 = wg.x * P.chunk;
  let c1 = min(P.n, c0 + P.chunk);
  var v = -3.4e38;
  var k = NONE;
  for (var c = c0 + li; c < c1; c += WG) {
    let x = X[row * P.n + c];
    if (k == NONE || x > v) { v = x; k = c; }
  }
  bv[li] = v;
  bi[li] = k;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let ov = bv[li + s];
      let oi = bi[li + s];
      if (oi != NONE && (bi[li] == NONE || ov > bv[li] || (ov == bv[li] && oi < bi[li]))) {
        bv[li] = ov;
        bi[li] = oi;
      }
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let best = bi[0];
    if (PART) {
      Y[row * P.chunks + wg.x] = i32(best);
      V[row * P.chunks + wg.x] = bv[0];
    } else if (MAP) {
      Y[row] = I[row * P.n + best];
    } else {
      Y[row] = i32(best);
    }
  }
}

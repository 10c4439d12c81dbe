// Decode attention, merge pass: out = Σ_s e^{m_s − M} o_s / Σ_s e^{m_s − M} l_s over the splits of one (row, head).
struct Params { t: u32, nh: u32, nkv: u32, hd: u32, kvlen: u32, causal: u32, qstart: u32, nsplit: u32, scale: f32, qw: u32, kw: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> OP: array<f32>;
@group(0) @binding(2) var<storage, read> ML: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(128)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let h = wg.x;
  let i = wg.y;
  let base = (i * P.nh + h) * P.nsplit;
  var M = -1e30;
  for (var s = 0u; s < P.nsplit; s++) { M = max(M, ML[2u * (base + s)]); }
  var L = 0.0;
  for (var s = 0u; s < P.nsplit; s++) { L += exp(ML[2u * (base + s)] - M) * ML[2u * (base + s) + 1u]; }
  for (var d = li; d < P.hd; d += 128u) {
    var acc = 0.0;
    for (var s = 0u; s < P.nsplit; s++) { acc += exp(ML[2u * (base + s)] - M) * OP[(base + s) * P.hd + d]; }
    O[i * P.qw + h * P.hd + d] = acc / L;
  }
}

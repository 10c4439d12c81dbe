// Uniform random fill on the GPU (benchmarks with random weights of real shapes, no host copy): word i of y gets
// one f32 (BF16 false) or two bf16 values in [offset − scale, offset + scale), from a hash of (seed, index).
struct Params { n: u32, seed: u32, scale: f32, offset: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> Y: array<u32>;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn uni(i: u32) -> f32 {
  let u = pcg(i ^ pcg(P.seed));
  return P.offset + P.scale * (f32(u >> 8u) * (2.0 / 16777216.0) - 1.0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P.n) { return; }
  if (BF16) {
    Y[i] = (bitcast<u32>(uni(2u * i)) >> 16u) | (bitcast<u32>(uni(2u * i + 1u)) & 0xffff0000u);
  } else {
    Y[i] = bitcast<u32>(uni(i));
  }
}

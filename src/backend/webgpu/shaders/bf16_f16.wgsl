// bf16 → f16 in place (precision 'fast' keeps weights as f16 so the tensor cores read them directly): two values a
// word. bf16 values are exact in f16 between 2^-14 and 65504; larger ones are clamped to ±65504, smaller ones become
// f16 subnormals (and zero below 2^-24).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> Y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P.n) { return; }
  let v = Y[i];
  let f = vec2<f32>(bitcast<f32>(v << 16u), bitcast<f32>(v & 0xffff0000u));
  Y[i] = pack2x16float(clamp(f, vec2<f32>(-65504.0), vec2<f32>(65504.0)));
}

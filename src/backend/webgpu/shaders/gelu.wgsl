// GELU: tanh approximation (TANH) or exact erf. tanh and erf are written out: WGSL has no erf, and some
// platforms' tanh returns NaN for large arguments.
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

fn tanh_(x: f32) -> f32 {
  let a = abs(x);
  // small |x|: odd series keeps relative accuracy where 1 − 2/(e^{2x}+1) cancels
  if (a < 0.0625) { let x2 = x * x; return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 - x2 * 17.0 / 315.0))); }
  let t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
  return select(t, -t, x < 0.0);
}

// erf with |error| < 1.2e-7: Numerical Recipes' erfc Chebyshev fit.
fn erf_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return select(1.0 - r, r - 1.0, x < 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P.n) { return; }
  let z = X[i];
  if (TANH) {
    Y[i] = 0.5 * z * (1.0 + tanh_(0.7978845608028654 * (z + 0.044715 * z * z * z)));
  } else {
    Y[i] = 0.5 * z * (1.0 + erf_(z * 0.7071067811865476));
  }
}

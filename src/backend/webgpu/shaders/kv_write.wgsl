// kvWrite into an f16 or q8_0 KV pool: pool[S[i]] = X[i], rounded bit-exactly as ref (tensor/dtype.ts f32ToF16,
// tensor/quant.ts q8_0) by integer arithmetic, so it needs no shader-f16 feature and no implementation-defined
// conversion. f16 (Q8 false): one thread per u32 (two values; rows have an even width). q8_0 (Q8 true): one thread
// per 32-value block, stored as the cpu backend stores it (34 bytes: f16 scale, then 32 int8; rows of w/32 blocks, so
// blocks and rows need not start on a word). A word shared by two blocks (or two slots) has two writers, each
// clearing and setting only its own bytes with atomics. Consts: Q8.
struct Params { n: u32, w: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read> S: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<atomic<u32>>;

/** f32 bits → f16 bits, round to nearest even (f32ToF16 of tensor/dtype.ts). */
fn f16bits(u: u32) -> u32 {
  let sign = (u >> 16u) & 0x8000u;
  let ex = (u >> 23u) & 0xffu;
  var mant = u & 0x7fffffu;
  if (ex == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u, mant != 0u); }
  let e = i32(ex) - 112;
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    mant |= 0x800000u;
    let shift = u32(14 - e);
    let half = 1u << (shift - 1u);
    let rest = mant & ((1u << shift) - 1u);
    var h = mant >> shift;
    if (rest > half || (rest == half && (h & 1u) == 1u)) { h++; }
    return sign | h;
  }
  let rest = mant & 0x1fffu;
  var h = (u32(e) << 10u) | (mant >> 13u);
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) { h++; }
  return sign | select(h, 0x7c00u, (h >> 10u) >= 31u);
}

/** A finite non-negative float's bits as mantissa · 2^(e − 150). */
fn mant(b: u32) -> u32 { return select((b & 0x7fffffu) | 0x800000u, b, (b >> 23u) == 0u); }
fn expo(b: u32) -> u32 { return max(b >> 23u, 1u); }

/** Sign of 254·x − m·a for x ≤ a (bits of non-negative floats) and odd m ≤ 255: |x|·127/a against m/2, exactly. */
fn cmpHalf(xb: u32, m: u32, ab: u32) -> i32 {
  let l = 254u * mant(xb);
  let r = m * mant(ab);
  let s = expo(ab) - expo(xb);
  var lh = 0u;
  var rem = l != 0u;
  if (s < 32u) {
    lh = l >> s;
    rem = (l & ((1u << s) - 1u)) != 0u;
  }
  if (lh != r) { return select(-1, 1, lh > r); }
  return select(0, 1, rem);
}

/** f16 bits of the scale amax/127, rounded to f32 first (as quant.ts does through its Float32Array). */
fn q8scale(ab: u32) -> u32 {
  if ((ab >> 23u) == 0u) { return 0u; } // a subnormal amax: the scale is 0 in f16
  let ma = mant(ab);
  var sh = 7u;
  var q = (ma << 7u) / 127u;
  if (q >= 0x1000000u) {
    sh = 6u;
    q = (ma << 6u) / 127u;
  }
  let r = (ma << sh) - 127u * q;
  if (2u * r > 127u) { q++; } // 127 is odd: no ties
  // q ≤ 2^24 is exact in f32, and so is the power of two unless the scale is far below f16's range.
  return f16bits(bitcast<u32>(ldexp(f32(q), i32(ab >> 23u) - 150 - i32(sh))));
}

/** round(x·127/amax) as quant.ts (Math.round: halves toward +∞), for x's bits against amax's. */
fn q8(xb: u32, ab: u32, r: f32) -> u32 {
  let a = xb & 0x7fffffffu;
  let neg = (xb >> 31u) == 1u;
  var k = u32(min(floor(bitcast<f32>(a) * r + 0.5), 127.0));
  // The f32 guess is within one of the exact result: settle the boundaries k ± 1/2 exactly.
  if (k < 127u && cmpHalf(a, 2u * k + 1u, ab) >= select(0, 1, neg)) { k++; }
  else if (k > 0u && cmpHalf(a, 2u * k - 1u, ab) < select(0, 1, neg)) { k--; }
  return select(k, (256u - k) & 0xffu, neg);
}

/** Set the bytes of word `i` under `mask` to `bits`; other writers of the word own the other bytes. */
fn put(i: u32, bits: u32, mask: u32) {
  if (mask == 0xffffffffu) {
    atomicStore(&Y[i], bits);
  } else {
    atomicAnd(&Y[i], ~mask);
    atomicOr(&Y[i], bits & mask);
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let t = gid.x + gid.y * nw.x * 256u;
  if (!Q8) {
    let per = P.w / 2u;
    if (t >= P.n * per) { return; }
    let i = t / per;
    let c = 2u * (t % per);
    let x = i * P.w + c;
    atomicStore(&Y[(S[i] * P.w + c) / 2u], f16bits(X[x]) | (f16bits(X[x + 1u]) << 16u));
    return;
  }
  let nb = P.w / 32u;
  if (t >= P.n * nb) { return; }
  let i = t / nb;
  let b = t % nb;
  let x0 = i * P.w + b * 32u;
  var ab = 0u;
  for (var j = 0u; j < 32u; j++) { ab = max(ab, X[x0 + j] & 0x7fffffffu); }
  // The block's 34 bytes, little-endian from byte 0 (the last two bytes of word 8 unused).
  var blk: array<u32, 9>;
  blk[0] = q8scale(ab);
  let r = select(0.0, 127.0 / bitcast<f32>(ab), ab != 0u);
  for (var j = 0u; j < 32u; j++) {
    let q = select(0u, q8(X[x0 + j], ab, r), ab != 0u);
    let k = j + 2u;
    blk[k / 4u] |= q << (8u * (k % 4u));
  }
  let o = (S[i] * nb + b) * 34u; // byte offset of the block: even
  let w0 = o / 4u;
  if (o % 4u == 0u) {
    for (var k = 0u; k < 8u; k++) { put(w0 + k, blk[k], 0xffffffffu); }
    put(w0 + 8u, blk[8], 0xffffu);
  } else {
    put(w0, blk[0] << 16u, 0xffff0000u);
    for (var k = 1u; k < 9u; k++) { put(w0 + k, (blk[k - 1u] >> 16u) | (blk[k] << 16u), 0xffffffffu); }
  }
}

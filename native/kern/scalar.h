// Scalar helpers shared by every ISA build (static, so each build keeps its own copy): 16-bit float conversions
// bit-identical to src/tensor/dtype.ts, small integer helpers, and the pool's parallel-for adaptor.

static inline float bitsToF32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t f32ToBits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float bf16ToF32(uint16_t h) { return bitsToF32((uint32_t)h << 16); }

/** Round to nearest even; NaN stays NaN (as dtype.ts f32ToBf16). */
static inline uint16_t f32ToBf16(float x) {
  uint32_t u = f32ToBits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) | 0x40) & 0xffff);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline float f16ToF32(uint16_t h) {
  uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) {
    float v = (float)m * (1.0f / 16777216.0f);  // subnormal: m · 2^-24
    return s ? -v : v;
  }
  if (e == 31) return bitsToF32(s | 0x7f800000u | (m << 13));
  return bitsToF32(s | ((e + 112) << 23) | (m << 13));
}

/** f32 -> f16 bits, round to nearest even, overflow to infinity (as dtype.ts f32ToF16). */
static inline uint16_t f32ToF16(float x) {
  uint32_t u = f32ToBits(x);
  uint32_t sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xff, mant = u & 0x7fffff;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
  int e = (int)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    mant |= 0x800000;
    int shift = 14 - e;
    uint32_t half = 1u << (shift - 1), rest = mant & ((1u << shift) - 1), h = mant >> shift;
    if (rest > half || (rest == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t rest = mant & 0x1fff, h = ((uint32_t)e << 10) | (mant >> 13);
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return (uint16_t)(sign | ((h >> 10) >= 31 ? 0x7c00 : h));
}

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static inline float fmaxf_(float a, float b) { return a > b ? a : b; }

/** Aligned scratch memory (released with sfree). */
static inline float* salloc(size_t floats) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, floats * sizeof(float) + 64)) return nullptr;
  return (float*)p;
}
static inline void sfree(void* p) { free(p); }

/** Run f(begin, end) over [0, n) on the pool, `grain` items at a time. */
template <class F>
static inline void pfor(Exec* ex, int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (ex->threads <= 1 || n <= grain) {
    f((int64_t)0, n);
    return;
  }
  ex->run(ex, n, grain, [](void* c, int64_t b, int64_t e) { (*(F*)c)(b, e); }, (void*)&f);
}

/** A grain that gives each thread about `per` chunks of at least `min` items. */
static inline int64_t grainFor(Exec* ex, int64_t n, int64_t min, int64_t per = 4) {
  int64_t g = n / (ex->threads * per);
  return g < min ? min : g;
}

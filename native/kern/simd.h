// A thin float-vector layer so one kernel source builds for AVX-512 (16 lanes), AVX2+FMA (8) and portable C++ (4).
// Included inside each ISA namespace; every helper is static so no ISA's code can leak into another build.
// exp/tanh/erf are vectorised approximations accurate to a few float ulps (enough for 1e-6 relative op tolerances).

#if defined(__AVX512F__)
#define QV_W 16
typedef __m512 vf;
static inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
static inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vzero() { return _mm512_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vabs(vf a) { return _mm512_abs_ps(a); }
static inline float hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline float hmax(vf v) { return _mm512_reduce_max_ps(v); }
static inline vf vload_bf16(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}
static inline vf vload_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
// 2·QV_W bf16 as two vectors, *e = p[0], p[2], … and *o = p[1], p[3], …: one load, a shift and a mask (no widening).
static inline void vload_bf16_split(const uint16_t* p, vf* e, vf* o) {
  const __m512i v = _mm512_loadu_si512((const void*)p);
  *e = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  *o = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
}
static inline vf vround(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vf vpow2i(vf n) {  // 2^n for integral n in [-126, 127]
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
}
static inline vf vsel_neg(vf x, vf a, vf b) {  // x < 0 ? a : b
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), b, a);
}
#elif defined(__AVX2__)
#define QV_W 8
typedef __m256 vf;
static inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vset1(float x) { return _mm256_set1_ps(x); }
static inline vf vzero() { return _mm256_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vabs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline float hsum(vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float hmax(vf v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline vf vload_bf16(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}
static inline vf vload_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
// 2·QV_W bf16 as two vectors, *e = p[0], p[2], … and *o = p[1], p[3], …: one load, a shift and a mask (no widening).
static inline void vload_bf16_split(const uint16_t* p, vf* e, vf* o) {
  const __m256i v = _mm256_loadu_si256((const __m256i*)p);
  *e = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  *o = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
}
static inline vf vround(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vf vpow2i(vf n) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}
static inline vf vsel_neg(vf x, vf a, vf b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ)); }
#else
#define QV_W 4
struct vf {
  float v[4];
};
#define QV_MAP(expr)                         \
  vf r;                                      \
  for (int i = 0; i < 4; i++) r.v[i] = expr; \
  return r
static inline vf vload(const float* p) { QV_MAP(p[i]); }
static inline void vstore(float* p, vf a) {
  for (int i = 0; i < 4; i++) p[i] = a.v[i];
}
static inline vf vset1(float x) { QV_MAP(x); }
static inline vf vzero() { QV_MAP(0.0f); }
static inline vf vadd(vf a, vf b) { QV_MAP(a.v[i] + b.v[i]); }
static inline vf vsub(vf a, vf b) { QV_MAP(a.v[i] - b.v[i]); }
static inline vf vmul(vf a, vf b) { QV_MAP(a.v[i] * b.v[i]); }
static inline vf vdiv(vf a, vf b) { QV_MAP(a.v[i] / b.v[i]); }
static inline vf vfma(vf a, vf b, vf c) { QV_MAP(a.v[i] * b.v[i] + c.v[i]); }
static inline vf vmax(vf a, vf b) { QV_MAP(a.v[i] > b.v[i] ? a.v[i] : b.v[i]); }
static inline vf vmin(vf a, vf b) { QV_MAP(a.v[i] < b.v[i] ? a.v[i] : b.v[i]); }
static inline vf vabs(vf a) { QV_MAP(a.v[i] < 0 ? -a.v[i] : a.v[i]); }
static inline float hsum(vf a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
static inline float hmax(vf a) {
  float m = a.v[0];
  for (int i = 1; i < 4; i++) m = a.v[i] > m ? a.v[i] : m;
  return m;
}
static inline vf vload_bf16(const uint16_t* p) { QV_MAP(bf16ToF32(p[i])); }
static inline vf vload_f16(const uint16_t* p) { QV_MAP(f16ToF32(p[i])); }
// 2·QV_W bf16 as two vectors, *e = p[0], p[2], … and *o = p[1], p[3], …: one load, a shift and a mask (no widening).
static inline void vload_bf16_split(const uint16_t* p, vf* e, vf* o) {
  for (int i = 0; i < QV_W; i++) e->v[i] = bf16ToF32(p[2 * i]), o->v[i] = bf16ToF32(p[2 * i + 1]);
}
static inline vf vround(vf x) { QV_MAP(nearbyintf(x.v[i])); }
static inline vf vpow2i(vf n) { QV_MAP(ldexpf(1.0f, (int)n.v[i])); }
static inline vf vsel_neg(vf x, vf a, vf b) { QV_MAP(x.v[i] < 0 ? a.v[i] : b.v[i]); }
#undef QV_MAP
#endif

/** x = n·ln2 + r (|r| ≤ ln2/2, ln2 split in two for an exact product): returns n (a float integer), r in *r. */
static inline vf vexpReduce(vf x, vf* r) {
  const vf n = vround(vmul(x, vset1(1.44269504088896341f)));
  *r = vfma(n, vset1(2.12194440e-4f), vfma(n, vset1(-0.693359375f), x));
  return n;
}

/** e^r on the reduced range: Cephes' degree-6 polynomial. */
static inline vf vexpPoly(vf r) {
  vf p = vset1(1.9875691500E-4f);
  p = vfma(p, r, vset1(1.3981999507E-3f));
  p = vfma(p, r, vset1(8.3334519073E-3f));
  p = vfma(p, r, vset1(4.1665795894E-2f));
  p = vfma(p, r, vset1(1.6666665459E-1f));
  p = vfma(p, r, vset1(5.0000001201E-1f));
  return vfma(vmul(p, r), r, vadd(r, vset1(1.0f)));
}

/** e^x: Cephes-style range reduction and a degree-6 polynomial; ~2 ulp, 0 below -87.3, saturates above 88.7. */
static inline vf vexp(vf x) {
  const vf hi = vset1(88.3762626647949f), lo = vset1(-87.3365447504f);
  vf under = vsub(x, lo);  // negative where the result underflows
  x = vmin(vmax(x, lo), hi);
  vf r;
  const vf n = vexpReduce(x, &r);
  return vsel_neg(under, vzero(), vmul(vexpPoly(r), vpow2i(n)));
}

/** tanh via exp of a non-positive argument (no overflow): sign(x)·(1 − e^{−2|x|})/(1 + e^{−2|x|}). */
static inline vf vtanh(vf x) {
  vf e = vexp(vmul(vabs(x), vset1(-2.0f)));
  vf t = vdiv(vsub(vset1(1.0f), e), vadd(vset1(1.0f), e));
  return vsel_neg(x, vsub(vzero(), t), t);
}

/** erf: erfc(|x|) = t·exp(−x² + P(t)), t = 1/(1 + |x|/2) (Numerical Recipes erfcc, relative error < 1.2e-7). */
static inline vf verf(vf x) {
  vf z = vabs(x);
  vf t = vdiv(vset1(1.0f), vfma(z, vset1(0.5f), vset1(1.0f)));
  vf p = vset1(0.17087277f);
  p = vfma(p, t, vset1(-0.82215223f));
  p = vfma(p, t, vset1(1.48851587f));
  p = vfma(p, t, vset1(-1.13520398f));
  p = vfma(p, t, vset1(0.27886807f));
  p = vfma(p, t, vset1(-0.18628806f));
  p = vfma(p, t, vset1(0.09678418f));
  p = vfma(p, t, vset1(0.37409196f));
  p = vfma(p, t, vset1(1.00002368f));
  p = vfma(p, t, vset1(-1.26551223f));
  vf erfc = vmul(t, vexp(vsub(p, vmul(z, z))));
  vf r = vsub(vset1(1.0f), erfc);
  return vsel_neg(x, vsub(vzero(), r), r);
}

/** GELU, tanh approximation or exact (erf): the one definition opGelu and the GEMM's fused write-back share. */
static inline vf vgelu(vf z, bool tanhApprox) {
  const vf half = vset1(0.5f), one = vset1(1.0f);
  if (tanhApprox) {
    const vf inner = vmul(vset1(0.7978845608028654f), vfma(vmul(vset1(0.044715f), z), vmul(z, z), z));
    return vmul(vmul(half, z), vadd(one, vtanh(inner)));
  }
  return vmul(vmul(half, z), vadd(one, verf(vmul(z, vset1(0.70710678118654752f)))));
}
static inline float sgelu(float x, bool tanhApprox) {
  return tanhApprox ? 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))) : 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

// Double vectors (LayerNorm's statistics): a float vector widens into two halves (lo, hi); the portable build has none.
#if QV_W == 16
typedef __m512d vd;
static inline vd vdzero() { return _mm512_setzero_pd(); }
static inline vd vdset1(double x) { return _mm512_set1_pd(x); }
static inline vd vdadd(vd a, vd b) { return _mm512_add_pd(a, b); }
static inline vd vdsub(vd a, vd b) { return _mm512_sub_pd(a, b); }
static inline vd vdfma(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
static inline double vdsum(vd a) { return _mm512_reduce_add_pd(a); }
static inline void vwiden(const float* p, vd* lo, vd* hi) {
  const __m512 v = _mm512_loadu_ps(p);
  *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  *hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
#elif QV_W == 8
typedef __m256d vd;
static inline vd vdzero() { return _mm256_setzero_pd(); }
static inline vd vdset1(double x) { return _mm256_set1_pd(x); }
static inline vd vdadd(vd a, vd b) { return _mm256_add_pd(a, b); }
static inline vd vdsub(vd a, vd b) { return _mm256_sub_pd(a, b); }
static inline vd vdfma(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
static inline double vdsum(vd s) {
  const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
static inline void vwiden(const float* p, vd* lo, vd* hi) {
  const __m256 v = _mm256_loadu_ps(p);
  *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}
#endif

/** Software prefetch into L1 (a no-op in the portable build). */
static inline void prefetchL1(const void* p) {
#if defined(__AVX2__)
  _mm_prefetch((const char*)p, _MM_HINT_T0);
#else
  (void)p;
#endif
}

// The AVX2 micro-kernels of the int8 GEMM (gemmq.h): a 4-row × 16-column tile, products by `vpmaddubsw` and widening
// by `vpmaddwd`, each block's exact i32 sums scaled by d_w·d_x into the f32 tile (in L1) in the same order as the
// VNNI kernel, so both give the same floats.

/** Add the block's sums s (exact Σ q_x·q_w) × d_w·d_x to the f32 tile: the VNNI kernel's fma, operand for operand. */
static inline void qScaleInto(const __m256i (&s)[QG_MR][2], const float* dw, const float* dx, float* C, bool acc) {
  const __m256 d0 = _mm256_loadu_ps(dw), d1 = _mm256_loadu_ps(dw + 8);
#pragma GCC unroll 8
  for (int i = 0; i < QG_MR; i++) {
    const __m256 x = _mm256_set1_ps(dx[i]);
    float* c = C + i * GEMM_NR;
    const __m256 f0 = acc ? _mm256_loadu_ps(c) : _mm256_setzero_ps(), f1 = acc ? _mm256_loadu_ps(c + 8) : _mm256_setzero_ps();
    _mm256_storeu_ps(c, _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i][0]), _mm256_mul_ps(d0, x), f0));
    _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i][1]), _mm256_mul_ps(d1, x), f1));
  }
}

/**
 * q8_0: per k-quad, |w| (u8) for the 16 columns once, then per row x·sign(w) (s8; x is never −128, so negating it
 * cannot wrap) and one maddubs + madd into i32: 4 instructions per 32 products.
 */
static inline void qMicroQ8(QPanelA A, QPanel B, int nbk, float* C, bool acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int b = 0; b < nbk; b++) {
    __m256i s[QG_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < QG_MR; i++) s[i][0] = s[i][1] = _mm256_setzero_si256();
    const int8_t* Bb = B.q + b * QG_BQ;
    const uint8_t* Ab = A.a + b * 8 * QG_MR * 4;
#pragma GCC unroll 8
    for (int k4 = 0; k4 < 8; k4++) {
      const __m256i w0 = _mm256_loadu_si256((const __m256i*)(Bb + k4 * 64)), w1 = _mm256_loadu_si256((const __m256i*)(Bb + k4 * 64 + 32));
      const __m256i u0 = _mm256_abs_epi8(w0), u1 = _mm256_abs_epi8(w1);  // −128 → 128 as u8
#pragma GCC unroll 8
      for (int i = 0; i < QG_MR; i++) {
        int32_t av;
        memcpy(&av, Ab + (k4 * QG_MR + i) * 4, 4);
        const __m256i a = _mm256_set1_epi32(av);
        s[i][0] = _mm256_add_epi32(s[i][0], _mm256_madd_epi16(_mm256_maddubs_epi16(u0, _mm256_sign_epi8(a, w0)), ones));
        s[i][1] = _mm256_add_epi32(s[i][1], _mm256_madd_epi16(_mm256_maddubs_epi16(u1, _mm256_sign_epi8(a, w1)), ones));
      }
    }
    qScaleInto(s, B.d + b * GEMM_NR, A.d + b * QG_MR, C, acc || b > 0);
  }
}

/**
 * q4_0: unsigned nibbles n (0..15) times x (s8) need no sign step, and a block's eight k-quads add up in i16
 * (each lane ≤ 8 · 2 · 15 · 127 = 30480) before one widening; Σ (n − 8)·x = Σ n·x − 8·Σ x exactly.
 */
static inline void qMicroQ4(QPanelA A, QPanel B, int nbk, float* C, bool acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int b = 0; b < nbk; b++) {
    __m256i h[QG_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < QG_MR; i++) h[i][0] = h[i][1] = _mm256_setzero_si256();
    const int8_t* Bb = B.q + b * QG_BQ;
    const uint8_t* Ab = A.a + b * 8 * QG_MR * 4;
#pragma GCC unroll 8
    for (int k4 = 0; k4 < 8; k4++) {
      const __m256i n0 = _mm256_loadu_si256((const __m256i*)(Bb + k4 * 64)), n1 = _mm256_loadu_si256((const __m256i*)(Bb + k4 * 64 + 32));
#pragma GCC unroll 8
      for (int i = 0; i < QG_MR; i++) {
        int32_t av;
        memcpy(&av, Ab + (k4 * QG_MR + i) * 4, 4);
        const __m256i a = _mm256_set1_epi32(av);
        h[i][0] = _mm256_add_epi16(h[i][0], _mm256_maddubs_epi16(n0, a));
        h[i][1] = _mm256_add_epi16(h[i][1], _mm256_maddubs_epi16(n1, a));
      }
    }
    __m256i s[QG_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < QG_MR; i++) {
      const __m256i bias = _mm256_set1_epi32(A.s[b * QG_MR + i]);  // 8·Σ x
      s[i][0] = _mm256_sub_epi32(_mm256_madd_epi16(h[i][0], ones), bias);
      s[i][1] = _mm256_sub_epi32(_mm256_madd_epi16(h[i][1], ones), bias);
    }
    qScaleInto(s, B.d + b * GEMM_NR, A.d + b * QG_MR, C, acc || b > 0);
  }
}

/** C[MR][NR] (+)= the nbk blocks of one A micro-panel against one B panel chunk. */
static inline void qMicroKernel(QPanelA A, QPanel B, int nbk, float* C, bool acc, bool q4) {
  if (q4) qMicroQ4(A, B, nbk, C, acc);
  else qMicroQ8(A, B, nbk, C, acc);
}

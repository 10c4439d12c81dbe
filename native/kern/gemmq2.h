// The AVX2 micro-kernels of the int8 GEMM (gemmq.h): a 4-row × 16-column tile, q8_0 products by `vpmaddwd` on i16
// k-pairs, q4_0's by `vpmaddubsw` widened by `vpmaddwd`, each block's exact i32 sums scaled by d_w·d_x into the f32
// tile (in L1) in the same order as the VNNI kernel, so both give the same floats.

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

// The steps of the 4 × 16 tile in inline asm: written with intrinsics, GCC hoisted the four rows' broadcasts ahead
// of their products and spilled half the sums to the stack every step (16 ymm registers). AT&T order: sources, then
// destination. q8_0 takes a whole block (16 k-pairs) per asm statement, every operand at a fixed displacement from
// the block's two pointers: with one statement per k-pair GCC put two `lea` between the steps, on the ALU ports the
// products use; and the first k-pair's products are written to the sums instead of added to zeros.
static_assert(QG_MR == 4, "the asm steps below are written for 4 rows");
#define QG_STR2(x) #x
#define QG_STR(x) QG_STR2(x)
#define QG_Q8LOAD(k2)                                 \
  "vmovdqu " QG_STR(k2) "*64(%[bp]), %[w0]\n\t"    \
  "vmovdqu " QG_STR(k2) "*64+32(%[bp]), %[w1]\n\t"
#define QG_Q8ROW0(r, s0, s1)                          \
  "vpbroadcastd " #r "*4(%[ap]), %[a]\n\t"          \
  "vpmaddwd %[w0], %[a], %[" #s0 "]\n\t"            \
  "vpmaddwd %[w1], %[a], %[" #s1 "]\n\t"
#define QG_Q8ROW(k2, r, s0, s1)                                                          \
  "vpbroadcastd " QG_STR(k2) "*16+" #r "*4(%[ap]), %[a]\n\t" /* the row's k-pair, i16 */ \
  "vpmaddwd %[w0], %[a], %[t]\n\t"                                                     \
  "vpaddd %[t], %[" #s0 "], %[" #s0 "]\n\t"                                            \
  "vpmaddwd %[w1], %[a], %[t]\n\t"                                                     \
  "vpaddd %[t], %[" #s1 "], %[" #s1 "]\n\t"
#define QG_Q8STEP(k2) QG_Q8LOAD(k2) QG_Q8ROW(k2, 0, s00, s01) QG_Q8ROW(k2, 1, s10, s11) QG_Q8ROW(k2, 2, s20, s21) QG_Q8ROW(k2, 3, s30, s31)

/** s = one block's exact i32 sums: its 16 k-pairs of the 4 activation rows (Ab) against the 16 weight rows (Bb). */
__attribute__((always_inline)) static inline void q8Block(const int8_t* Bb, const uint8_t* Ab, __m256i (&s)[QG_MR][2]) {
  __m256i w0, w1, a, t;
  __asm__(QG_Q8LOAD(0) QG_Q8ROW0(0, s00, s01) QG_Q8ROW0(1, s10, s11) QG_Q8ROW0(2, s20, s21) QG_Q8ROW0(3, s30, s31)
          QG_Q8STEP(1) QG_Q8STEP(2) QG_Q8STEP(3) QG_Q8STEP(4) QG_Q8STEP(5) QG_Q8STEP(6) QG_Q8STEP(7) QG_Q8STEP(8)
          QG_Q8STEP(9) QG_Q8STEP(10) QG_Q8STEP(11) QG_Q8STEP(12) QG_Q8STEP(13) QG_Q8STEP(14) QG_Q8STEP(15)
          : [w0] "=&x"(w0), [w1] "=&x"(w1), [a] "=&x"(a), [t] "=&x"(t), [s00] "=&x"(s[0][0]), [s01] "=&x"(s[0][1]),
            [s10] "=&x"(s[1][0]), [s11] "=&x"(s[1][1]), [s20] "=&x"(s[2][0]), [s21] "=&x"(s[2][1]), [s30] "=&x"(s[3][0]), [s31] "=&x"(s[3][1])
          : [bp] "r"(Bb), [ap] "r"(Ab)
          : "memory");
}

#define QG_Q4ROW(off, h0, h1)                                  \
  "vpbroadcastd " #off "(%[ap]), %[a]\n\t"                 \
  "vpmaddubsw %[a], %[n0], %[t]\n\t" /* nibbles · x */       \
  "vpaddw %[t], %[" #h0 "], %[" #h0 "]\n\t"                  \
  "vpmaddubsw %[a], %[n1], %[t]\n\t"                         \
  "vpaddw %[t], %[" #h1 "], %[" #h1 "]\n\t"

static inline void q4Step(const int8_t* Bk, const uint8_t* Ak, __m256i (&h)[QG_MR][2]) {
  __m256i n0, n1, a, t;
  __asm__("vmovdqu (%[bp]), %[n0]\n\t"
          "vmovdqu 32(%[bp]), %[n1]\n\t"
          QG_Q4ROW(0, h00, h01) QG_Q4ROW(4, h10, h11) QG_Q4ROW(8, h20, h21) QG_Q4ROW(12, h30, h31)
          : [n0] "=&x"(n0), [n1] "=&x"(n1), [a] "=&x"(a), [t] "=&x"(t), [h00] "+x"(h[0][0]), [h01] "+x"(h[0][1]),
            [h10] "+x"(h[1][0]), [h11] "+x"(h[1][1]), [h20] "+x"(h[2][0]), [h21] "+x"(h[2][1]), [h30] "+x"(h[3][0]), [h31] "+x"(h[3][1])
          : [bp] "r"(Bk), [ap] "r"(Ak)
          : "memory");
}

/**
 * q8_0: i16 k-pairs of weights and activations (widened at packing), one vpmaddwd + vpaddd per 16 products into i32:
 * 4 instructions per 32 products as the sign trick (vpsignb, vpmaddubsw, vpmaddwd, vpaddd) has, but only two of them
 * multiplies (the ports that multiply are two of the three vector ALU ports), so the step is bound by all three ports,
 * not by two. Exact: |w·x| ≤ 128·127, a pair ≤ 32512 in its i32 lane.
 */
static inline void qMicroQ8(QPanelA A, QPanel B, int nbk, float* C, bool acc) {
  for (int b = 0; b < nbk; b++) {
    __m256i s[QG_MR][2];
    q8Block(B.q + b * QG_BQ16, A.a + b * 16 * QG_MR * 4, s);
    qScaleInto(s, B.d + b * GEMM_NR, A.d + b * QG_MR, C, acc || b > 0);
  }
}

/**
 * q4_0: unsigned nibbles n (0..15) times x (s8) need no sign step. A block's eight k-quads add up in i16 lanes that
 * start at −8·Σx of their own 16 products (packed by qPackA), so each lane ends at Σ (n − 8)·x, |·| ≤ 16·8·127 =
 * 16256, and so does every partial sum on the way (it is that bound's sum over the products added so far plus −8·x
 * for the rest); one widening per block gives Σ (n − 8)·x exactly.
 */
static inline void qMicroQ4(QPanelA A, QPanel B, int nbk, float* C, bool acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int b = 0; b < nbk; b++) {
    __m256i h[QG_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < QG_MR; i++) h[i][0] = h[i][1] = _mm256_set1_epi32(A.s[b * QG_MR + i]);
    const int8_t* Bb = B.q + b * QG_BQ;
    const uint8_t* Ab = A.a + b * 8 * QG_MR * 4;
#pragma GCC unroll 8
    for (int k4 = 0; k4 < 8; k4++) q4Step(Bb + k4 * 64, Ab + k4 * QG_MR * 4, h);
    __m256i s[QG_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < QG_MR; i++) s[i][0] = _mm256_madd_epi16(h[i][0], ones), s[i][1] = _mm256_madd_epi16(h[i][1], ones);
    qScaleInto(s, B.d + b * GEMM_NR, A.d + b * QG_MR, C, acc || b > 0);
  }
}

/** C[MR][NR] (+)= the nbk blocks of one A micro-panel against one B panel chunk. */
static inline void qMicroKernel(QPanelA A, QPanel B, int nbk, float* C, bool acc, bool q4) {
  if (q4) qMicroQ4(A, B, nbk, C, acc);
  else qMicroQ8(A, B, nbk, C, acc);
}

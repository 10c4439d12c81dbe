// The int8 GEMM for q8_0/q4_0 weights (prefill, the vision tower at q8_0): activations quantized per 32-value block
// to 8 bits (the matrix-vector path's format), each block's exact integer sums Σ q_x·q_w scaled by d_w·d_x into f32
// accumulators, block after block (the same float operations in the same order on every ISA, so the AVX-512 and
// AVX2 builds give bit-identical outputs). Used only when activation quantization is on; scalar builds return false
// and the f32 GEMM (decoded panels) runs. The packing and tiling here are shared; the micro-kernels differ:
//
// - AVX-512 VNNI `vpdpbusd` (64 u8·s8 products per instruction) multiplies unsigned by signed bytes: activations
//   enter as q + 128 (u8) and the weight panel carries −128·Σ_k w per block and row as the i32 start value.
// - AVX2 (gemmq2.h): q8_0 by `vpmaddwd` on weights and activations widened to i16 k-pairs at packing (exact: a
//   pair is at most 2·128·127 = 32512 in an i32 lane): 4 instructions per 32 products, two of them multiplies.
//   llama.cpp's sign trick, `vpmaddubsw(|w|, x·sign(w))` then `vpmaddwd` by ones, issues 4.25 with three multiplies,
//   and only two of the three vector ALU ports multiply: its instruction roof is 1.17× lower and the vision GEMMs
//   ran 3–6% slower with it (BENCHMARKS.md). No exact AVX2 scheme found costs fewer than 4 (two q4_0-like nibble
//   planes: 2 maddubs + 2 i16 adds, and a combine per block). q4_0 by `vpmaddubsw` on unsigned nibbles n times x
//   (no sign step), a block's eight k-quads summed in i16 lanes that start at −8·Σx of their own products, so each
//   ends at Σ (n − 8)·x over 16 products (|·| ≤ 16·8·127 = 16256).
//
// Weight panels are packed per call from the row-major blocks that the matrix-vector (decode) kernels read, once per
// 1024-row M tile, not repacked at load: packing both layouts would double the resident weights, and the unpacked
// panel format is 2.2× q4_0's bytes. What packing still costs (bench/micro.ts 2B layer, 1 thread, CPU time, packing
// done twice vs once): AVX2 ≈ 2.5 ms of 21 (q4_0) at 32 rows, of 68 at 128; VNNI ≈ 3.5 ms of 14 at 32 rows, of 36 at
// 128, ~2.5% at 512. A load-time layout pays for small batches only with a decode path that reads it at the bus.

#if defined(__AVX2__)
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define QG_VNNI 1
#define QG_MR 6    // activation rows per micro-tile: 6 × 2 vectors of i32 sums + 6 × 2 of f32 sums = 24 registers
#else
#define QG_VNNI 0
#define QG_MR 4    // 4 × 2 i32 (or i16) sums + the weight vectors in 16 ymm registers; f32 sums stay in the L1 tile
#endif
// Rows of A per sweep over a K chunk's panels: the sweep's A (192 rows × 512 k, 192 KiB as AVX2's i16) and f32 sums
// (192 × 256 columns) stay in L2 while each panel chunk meets them; whole 784-row tiles (800 KiB of each) did not
// (AVX2 q8_0 784-row vision GEMMs 1–4% slower, one thread).
#ifndef QG_MS
#define QG_MS 192
#endif
#define QG_KB 16                  // blocks per K chunk: a packed panel chunk stays in L1 across the M tile
#define QG_BQ (8 * GEMM_NR * 4)  // bytes of one packed block of a panel: [8 k-quads][NR rows][4]
#define QG_BQ16 (16 * GEMM_NR * 4)  // AVX2 q8_0: [16 k-pairs][NR rows][2 i16]

/**
 * A weight panel chunk: q[b][k4][NR][4] (s8, or q4_0's unsigned nibbles on AVX2; AVX2 q8_0: q[b][k2][NR][2] as i16),
 * d[b][NR] (f32 scales), c[b][NR].
 */
struct QPanel {
  int8_t* q;
  float* d;
  int32_t* c;  // VNNI: −128·Σ q over the block (AVX2: unused)
};

/**
 * An activation micro-panel: a[b][k4][MR][4] (VNNI: q + 128 as u8; AVX2: q; AVX2 q8_0: a[b][k2][MR][2] as i16), d[b][MR], and for AVX2's q4_0 kernel
 * s[b][MR] = two i16, −8·Σ_k4 (q0 + q1) and −8·Σ_k4 (q2 + q3) of the block (the start values of its i16 lanes).
 */
struct QPanelA {
  const uint8_t* a;
  const float* d;
  const int32_t* s;
};

/** One weight block (32 values of a q8_0/q4_0 row) as 32 bytes: s8, or q4_0's nibbles (unsigned on AVX2, q − 8 on VNNI). */
static inline __m256i qLoadBlock(const uint8_t* blk, bool q4) {
  if (!q4) return _mm256_loadu_si256((const __m256i*)(blk + 2));
  const __m128i q = _mm_loadu_si128((const __m128i*)(blk + 2)), m = _mm_set1_epi8(0x0f);
  const __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
  return QG_VNNI ? _mm256_sub_epi8(v, _mm256_set1_epi8(8)) : v;
}

/** 8 × 8 transposition of 32-bit units: o[k] = unit k of the eight rows v[0..7] (one 32-byte store per k). */
static inline void qTranspose8(const __m256i (&v)[8], __m256i (&o)[8]) {
  __m256 r[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_castsi256_ps(v[i]);
  transpose8(r);
  for (int i = 0; i < 8; i++) o[i] = _mm256_castps_si256(r[i]);
}

/**
 * Pack weight rows [n0, n0 + nr) × blocks [b0, b0 + nbk) into P (missing rows zero). q4_0 nibbles become q − 8 for
 * VNNI and stay unsigned nibbles for AVX2's vpmaddubsw (whose unsigned operand they are); AVX2's q8_0 quants are
 * widened to i16 k-pairs (vpmaddwd's operands: QG_BQ16 bytes a block). Eight rows at a time: their blocks are eight
 * vectors of eight k-quads (or twice eight k-pairs), an 8 × 8 transposition of 32-bit units makes each k-quad (k-pair)
 * of the eight rows one 32-byte store (it was a 4-byte store per row and k-quad: at 32 rows of activations the
 * packing took a quarter of the q4_0 GEMM's time).
 */
static void qPackB(const WMat* w, int64_t n0, int nr, int64_t b0, int nbk, QPanel P) {
  const bool q4 = w->dt == DT_Q4_0, w16 = !QG_VNNI && !q4;
  const size_t bb = q4 ? 18 : 34, rb = rowBytes(w->dt, w->cols), bq = w16 ? QG_BQ16 : QG_BQ;
  for (int j0 = 0; j0 < GEMM_NR; j0 += 8) {
    const uint8_t* row[8];
    // The rows' bytes are in L2 by now (gemmQ8 fetches each next chunk during the sweep before: QNextChunk).
    for (int r = 0; r < 8; r++) row[r] = j0 + r < nr ? w->p + (size_t)(n0 + j0 + r) * rb + (size_t)b0 * bb : nullptr;
    for (int b = 0; b < nbk; b++) {
      __m256i v[8], o[8];
      for (int r = 0; r < 8; r++) {
        v[r] = row[r] ? qLoadBlock(row[r] + b * bb, q4) : _mm256_setzero_si256();
        P.d[b * GEMM_NR + j0 + r] = row[r] ? loadScale(row[r] + b * bb) : 0.0f;
      }
      int8_t* qb = P.q + b * bq + j0 * 4;
      if (w16) {
        // k 0..15 then 16..31 as i16, eight k-pairs each.
        __m256i h[8];
        for (int r = 0; r < 8; r++) h[r] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v[r], 1)), v[r] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v[r]));
        qTranspose8(v, o);
        for (int k2 = 0; k2 < 8; k2++) _mm256_storeu_si256((__m256i*)(qb + k2 * GEMM_NR * 4), o[k2]);
        qTranspose8(h, o);
        for (int k2 = 0; k2 < 8; k2++) _mm256_storeu_si256((__m256i*)(qb + (k2 + 8) * GEMM_NR * 4), o[k2]);
        continue;
      }
      qTranspose8(v, o);
      for (int k4 = 0; k4 < 8; k4++) _mm256_storeu_si256((__m256i*)(qb + k4 * GEMM_NR * 4), o[k4]);
#if QG_VNNI
      // −128·Σ q per row: each k-quad's four bytes widened and added (|q| ≤ 128: nothing saturates).
      __m256i sum = _mm256_setzero_si256();
      for (int k4 = 0; k4 < 8; k4++) sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), o[k4]), _mm256_set1_epi16(1)));
      _mm256_storeu_si256((__m256i*)(P.c + b * GEMM_NR + j0), _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, 7)));
#endif
    }
  }
}

/**
 * Quantize activation rows [m0, m0 + mr) into one micro-panel (missing rows: q = 0, d = 0). The quantization is
 * quantizeAct's, so the GEMM and the matrix-vector path see the same quants. s (AVX2 q4_0's i16 start values, see
 * QPanelA) is null where the kernel has no use for it (VNNI, q8_0). tq holds one row of K quants.
 */
static void qPackA(const float* x, int64_t K, int64_t m0, int mr, uint8_t* a, float* d, int32_t* s, int8_t* tq, float* td, int32_t* ts) {
  const int64_t nb = K / 32;
  const uint32_t flip = QG_VNNI ? 0x80808080u : 0;  // VNNI: q + 128 as u8
  for (int i = 0; i < QG_MR; i++) {
    if (i < mr) {
      quantizeAct(x + (m0 + i) * K, K, tq, td, ts);
    } else {
      memset(tq, 0, (size_t)K);
      for (int64_t b = 0; b < nb; b++) td[b] = 0;
    }
    for (int64_t b = 0; b < nb; b++) {
      d[b * QG_MR + i] = td[b];
      for (int k4 = 0; k4 < 8; k4++) {
        uint32_t v;
        memcpy(&v, tq + b * 32 + k4 * 4, 4);
        v ^= flip;
        memcpy(a + ((b * 8 + k4) * QG_MR + i) * 4, &v, 4);
      }
      if (!s) continue;
      int32_t lo = 0, hi = 0;
      for (int k4 = 0; k4 < 8; k4++) {
        const int8_t* q = tq + b * 32 + k4 * 4;
        lo += q[0] + q[1];
        hi += q[2] + q[3];
      }
      s[b * QG_MR + i] = (int32_t)((uint32_t)(uint16_t)(int16_t)(-8 * lo) | (uint32_t)(uint16_t)(int16_t)(-8 * hi) << 16);
    }
  }
}

#if !QG_VNNI
/**
 * AVX2 q8_0's micro-panel: the rows quantized as quantizeAct does (its scale and quants, each quant the low byte of
 * its i32, sign-extended) straight to i16, laid out as a[b][k2][MR][2] (the kernel broadcasts one row's k-pair): a
 * 4 × 8 transposition of 32-bit k-pairs per half block, four 32-byte stores (4-byte stores per row and k-pair cost
 * about 3% of fc2's GEMM at 784 rows; quantizing rows to int8 first and widening them after, ~1%).
 */
static void qPackA16(const float* x, int64_t K, int64_t m0, int mr, uint8_t* a, float* d) {
  static_assert(QG_MR == 4, "four rows per 4 × 8 transposition");
  const int64_t nb = K / 32;
  for (int64_t b = 0; b < nb; b++) {
    __m256i r[2][4];  // [half block][row]: k 0..15 and 16..31 as i16
    for (int i = 0; i < 4; i++) {
      if (i >= mr) {
        r[0][i] = r[1][i] = _mm256_setzero_si256();
        d[b * QG_MR + i] = 0;
        continue;
      }
      const float* xb = x + (m0 + i) * K + b * 32;
      float id;
      d[b * QG_MR + i] = actBlockScale(xb, &id);
      __m256i v[4];
      actBlockQuants(xb, id, v);
      for (int j = 0; j < 4; j++) v[j] = _mm256_srai_epi32(_mm256_slli_epi32(v[j], 24), 24);  // the int8 quant
      // packs interleaves 128-bit lanes (k 0..3, 8..11, 4..7, 12..15): 64-bit units 0 2 1 3 restore k order.
      r[0][i] = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[0], v[1]), 0xd8);
      r[1][i] = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[2], v[3]), 0xd8);
    }
    for (int h = 0; h < 2; h++) {  // k 0..15, then 16..31
      // Lanes hold k-pairs 0..3 | 4..7: t pairs rows, u gathers the four rows of one k-pair per 128-bit lane.
      const __m256i t0 = _mm256_unpacklo_epi32(r[h][0], r[h][1]), t1 = _mm256_unpackhi_epi32(r[h][0], r[h][1]);
      const __m256i t2 = _mm256_unpacklo_epi32(r[h][2], r[h][3]), t3 = _mm256_unpackhi_epi32(r[h][2], r[h][3]);
      const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);  // k-pairs 0, 1 | 4, 5
      const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);  // 2, 3 | 6, 7
      uint8_t* o = a + (b * 16 + h * 8) * QG_MR * 4;
      _mm256_storeu_si256((__m256i*)o, _mm256_permute2x128_si256(u0, u1, 0x20));
      _mm256_storeu_si256((__m256i*)(o + 32), _mm256_permute2x128_si256(u2, u3, 0x20));
      _mm256_storeu_si256((__m256i*)(o + 64), _mm256_permute2x128_si256(u0, u1, 0x31));
      _mm256_storeu_si256((__m256i*)(o + 96), _mm256_permute2x128_si256(u2, u3, 0x31));
    }
  }
}
#endif

#if QG_VNNI
/** C[MR][NR] (+)= the nbk blocks of one A micro-panel against one B panel chunk (q8_0 and q4_0 alike). */
static inline void qMicroKernel(QPanelA A, QPanel B, int nbk, float* C, bool acc, bool) {
  __m512 f[QG_MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < QG_MR; i++) {
    f[i][0] = acc ? _mm512_loadu_ps(C + i * GEMM_NR) : _mm512_setzero_ps();
    f[i][1] = acc ? _mm512_loadu_ps(C + i * GEMM_NR + 16) : _mm512_setzero_ps();
  }
  for (int b = 0; b < nbk; b++) {
    const __m512i c0 = _mm512_loadu_si512(B.c + b * GEMM_NR), c1 = _mm512_loadu_si512(B.c + b * GEMM_NR + 16);
    __m512i s[QG_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < QG_MR; i++) s[i][0] = c0, s[i][1] = c1;
    const int8_t* Bb = B.q + b * QG_BQ;
    const uint8_t* Ab = A.a + b * 8 * QG_MR * 4;
#pragma GCC unroll 8
    for (int k4 = 0; k4 < 8; k4++) {
      const __m512i b0 = _mm512_loadu_si512(Bb + k4 * 128), b1 = _mm512_loadu_si512(Bb + k4 * 128 + 64);
#pragma GCC unroll 8
      for (int i = 0; i < QG_MR; i++) {
        int32_t av;
        memcpy(&av, Ab + (k4 * QG_MR + i) * 4, 4);
        const __m512i a = _mm512_set1_epi32(av);
        s[i][0] = _mm512_dpbusd_epi32(s[i][0], a, b0);
        s[i][1] = _mm512_dpbusd_epi32(s[i][1], a, b1);
      }
    }
    const __m512 d0 = _mm512_loadu_ps(B.d + b * GEMM_NR), d1 = _mm512_loadu_ps(B.d + b * GEMM_NR + 16);
#pragma GCC unroll 8
    for (int i = 0; i < QG_MR; i++) {
      const __m512 dx = _mm512_set1_ps(A.d[b * QG_MR + i]);
      f[i][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i][0]), _mm512_mul_ps(d0, dx), f[i][0]);
      f[i][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i][1]), _mm512_mul_ps(d1, dx), f[i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < QG_MR; i++) {
    _mm512_storeu_ps(C + i * GEMM_NR, f[i][0]);
    _mm512_storeu_ps(C + i * GEMM_NR + 16, f[i][1]);
  }
}
#else
#include "gemmq2.h"
#endif

/**
 * The weight bytes a task reads next (its next K chunk, or the next task's first), fetched into L2 a few lines per
 * micro-kernel call: packing a chunk from DRAM stalled on its loads and on prefetches that filled every L1 miss
 * buffer at once (AVX2 448² q8_0 tower: ~2% of its time in qPackB, most of it waiting).
 */
struct QNextChunk {
  const uint8_t* row = nullptr;  // the row being fetched, from the chunk's first byte
  size_t rb = 0;                 // bytes from row to row
  int64_t rows = 0, lines = 0, line = 0, per = 0;
  void start(const WMat* w, int64_t n0, int64_t n1, int64_t b0, int nbk, int64_t calls) {
    const size_t bb = rowBytes(w->dt, 32);  // one block
    rb = rowBytes(w->dt, w->cols);
    row = w->p + (size_t)n0 * rb + (size_t)b0 * bb;
    rows = imax(0, n1 - n0);
    lines = (int64_t)(((size_t)nbk * bb + 63) / 64 + 1);
    line = 0;
    per = calls > 0 ? (rows * lines + calls - 1) / calls : rows * lines;
  }
  void step() {
    for (int64_t k = 0; k < per && rows > 0; k++) {
      _mm_prefetch((const char*)(row + (size_t)line * 64), _MM_HINT_T1);
      if (++line == lines) line = 0, row += rb, rows--;
    }
  }
};

/**
 * y = [residual +] act(x·wᵀ [+ bias]) for q8_0/q4_0 w through 8-bit products, the epilogue applied in the write-back
 * as the f32 and bf16 GEMMs do (the vision MLP's fc1 output, 12.8 MB at 784 patches, is written once, not re-read
 * by a GELU pass and an add pass).
 */
static bool gemmQ8(Exec* ex, const float* x, int64_t M, const WMat* w, const Epilogue* epi, float* y) {
  static_assert(QG_BQ == 8 * GEMM_NR * 4 && GEMM_NR % 8 == 0, "panel rows in whole 8-lane i32 vectors");
  const bool q4 = w->dt == DT_Q4_0, w16 = !QG_VNNI && !q4;  // w16: AVX2 q8_0, i16 operands
  const int64_t N = w->rows, K = w->cols, nb = K / 32;
  const int64_t nPM = (M + QG_MR - 1) / QG_MR;
  const size_t aBlock = (size_t)32 * QG_MR * (w16 ? 2 : 1), bBlock = w16 ? QG_BQ16 : QG_BQ;  // bytes a block
  const size_t aPanel = (size_t)nb * aBlock;  // bytes of one quantized micro-panel
  uint8_t* Ap = (uint8_t*)salloc(((size_t)nPM * aPanel + 3) / 4);
  float* Dp = salloc((size_t)nPM * nb * QG_MR);
  // The i16 start values only AVX2's q4_0 kernel reads.
  int32_t* Sp = !QG_VNNI && q4 ? (int32_t*)salloc((size_t)nPM * nb * QG_MR) : nullptr;
  pfor(ex, nPM, grainFor(ex, nPM, 2), [&](int64_t p0, int64_t p1) {
#if !QG_VNNI
    if (w16) {
      for (int64_t p = p0; p < p1; p++) qPackA16(x, K, p * QG_MR, (int)imin(QG_MR, M - p * QG_MR), Ap + p * aPanel, Dp + p * nb * QG_MR);
      return;
    }
#endif
    int8_t* tq = (int8_t*)salloc((size_t)(K + 3) / 4);
    float* td = salloc((size_t)nb);
    int32_t* ts = (int32_t*)salloc((size_t)nb);
    for (int64_t p = p0; p < p1; p++)
      qPackA(x, K, p * QG_MR, (int)imin(QG_MR, M - p * QG_MR), Ap + p * aPanel, Dp + p * nb * QG_MR, Sp ? Sp + p * nb * QG_MR : nullptr, tq, td, ts);
    sfree(tq);
    sfree(td);
    sfree(ts);
  });
  const GemmPlan plan = gemmPlan(ex, M, N, QG_MR);
  const int64_t nTasks = plan.nTilesN * plan.nTilesM;
  pfor(ex, nTasks, 1, [&](int64_t t0, int64_t t1) {
    QNextChunk next;
    const int maxPanels = (int)(plan.nb / GEMM_NR);
    int8_t* bq = (int8_t*)salloc((size_t)maxPanels * QG_KB * bBlock / 4);
    float* bd = salloc((size_t)maxPanels * QG_KB * GEMM_NR);
    int32_t* bc = (int32_t*)salloc((size_t)maxPanels * QG_KB * GEMM_NR);
    float* C = salloc((size_t)plan.mcRows * plan.nb);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t mi = t / plan.nTilesN, ni = t % plan.nTilesN;
      const int64_t mc0 = mi * plan.mcRows, mc1 = imin(M, mc0 + plan.mcRows), nb0 = ni * plan.nb, nb1 = imin(N, nb0 + plan.nb);
      const int64_t rows = mc1 - mc0;
      const int nPanels = (int)((nb1 - nb0 + GEMM_NR - 1) / GEMM_NR);
      for (int64_t b0 = 0; b0 < nb; b0 += QG_KB) {
        const int nbk = (int)imin(QG_KB, nb - b0);
        for (int p = 0; p < nPanels; p++) {
          const int64_t n0 = nb0 + p * GEMM_NR;
          const QPanel P{bq + (size_t)p * QG_KB * bBlock, bd + (size_t)p * QG_KB * GEMM_NR, bc + (size_t)p * QG_KB * GEMM_NR};
          qPackB(w, n0, (int)imin(GEMM_NR, nb1 - n0), b0, nbk, P);
        }
        const int64_t calls = nPanels * ((rows + QG_MR - 1) / QG_MR);
        if (b0 + QG_KB < nb) {
          next.start(w, nb0, nb1, b0 + QG_KB, (int)imin(QG_KB, nb - b0 - QG_KB), calls);
        } else if (t + 1 < nTasks) {
          const int64_t nn0 = (t + 1) % plan.nTilesN * plan.nb;
          next.start(w, nn0, imin(N, nn0 + plan.nb), 0, (int)imin(QG_KB, nb), calls);
        } else {
          next.rows = 0;
        }
        // One panel chunk (≤ 20 KiB) stays in L1 while a sweep's A micro-panels stream past it from L2.
        for (int64_t ms0 = mc0; ms0 < mc1; ms0 += QG_MS) {
          const int64_t ms1 = imin(mc1, ms0 + QG_MS);
          for (int p = 0; p < nPanels; p++) {
            const QPanel P{bq + (size_t)p * QG_KB * bBlock, bd + (size_t)p * QG_KB * GEMM_NR, bc + (size_t)p * QG_KB * GEMM_NR};
            float* Cp = C + (size_t)p * rows * GEMM_NR;
            for (int64_t m0 = ms0; m0 < ms1; m0 += QG_MR) {
              const int64_t pm = m0 / QG_MR;
              const QPanelA A{Ap + pm * aPanel + (size_t)b0 * aBlock, Dp + (pm * nb + b0) * QG_MR, Sp ? Sp + (pm * nb + b0) * QG_MR : nullptr};
              float* Ct = Cp + (m0 - mc0) * GEMM_NR;
              next.step();
              if (m0 + QG_MR <= mc1) {
                qMicroKernel(A, P, nbk, Ct, b0 > 0, q4);
              } else {
                // A partial micro-panel at the end of M: sums go through a full-height scratch tile.
                float tmp[QG_MR * GEMM_NR];
                const int mr = (int)(mc1 - m0);
                if (b0 > 0) memcpy(tmp, Ct, (size_t)mr * GEMM_NR * 4);
                qMicroKernel(A, P, nbk, tmp, b0 > 0, q4);
                memcpy(Ct, tmp, (size_t)mr * GEMM_NR * 4);
              }
            }
          }
        }
      }
      storeTilesEpi(C, rows, rows, nb0, nb1, mc0, epi, y, N);
    }
    sfree(bq);
    sfree(bd);
    sfree(bc);
    sfree(C);
  });
  sfree(Ap);
  sfree(Dp);
  if (Sp) sfree(Sp);
  return true;
}
#else
static bool gemmQ8(Exec*, const float*, int64_t, const WMat*, const Epilogue*, float*) { return false; }
#endif

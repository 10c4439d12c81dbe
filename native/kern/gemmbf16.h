// The bf16 GEMM for bf16 weights, precision 'fast' only: activations rounded to bf16 (nearest even, as dtype.ts
// f32ToBf16), products of bf16 pairs into f32 sums; the exact mode and other CPUs keep the f32 GEMM. Weights are bf16
// already, so this rounds the activations alone. Two instruction sets:
//
// - AMX-BF16 (Sapphire Rapids on): `tdpbf16ps` (16×16×32 per instruction). Tile use: C 2×2 tiles (32 rows × 32
//   columns, tmm0-3), A 2 tiles (tmm4-5, 16 rows × 32 k each, straight from the row-major bf16 activations), B 2 tiles
//   (tmm6-7, 16 k-pairs × 16 columns). The B layout AMX wants, [k/2][n][2], is the f32 packB's panel of the weights
//   read as 32-bit words (one word = one k-pair), so packing is shared.
// - AVX512-BF16 without AMX (Zen 4 and later, Cooper Lake): `vdpbf16ps` (16 lanes × 2 products, f32 sums) in the f32
//   GEMM's 6 × 64 micro-tile and task grid; the same k-pair word panels, activations broadcast a k-pair word at a
//   time straight from the row-major bf16 rows. Twice the products per instruction of the f32 FMA.
//
// Both flush denormal products and sums to zero (the instructions' rule) and add the k products in another order
// than the f32 GEMM: 'fast' is measured against 'exact' with tolerances (test/backend), not bit for bit.

#if QV_W == 16 && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)  // GCC target pragmas
#include <sys/syscall.h>
#include <unistd.h>

/** bf16 bits of 16 floats in the low halves of 32-bit lanes: nearest even, NaN kept quiet (f32ToBf16's rule). */
static inline __m512i bf16Bits(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i v = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_mov_epi32(v, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
}

/** o[0, n) = bf16(s[0, n) · scale). */
static inline void roundBf16(const float* s, int64_t n, float scale, uint16_t* o) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) _mm256_storeu_si256((__m256i*)(o + k), _mm512_cvtepi32_epi16(bf16Bits(_mm512_mul_ps(_mm512_loadu_ps(s + k), _mm512_set1_ps(scale)))));
  for (; k < n; k++) o[k] = f32ToBf16(s[k] * scale);
}

/** xb[m][k] = bf16(x[m][k]) for rows [m0, m1) (rows ≥ M are zero). */
static void roundRowsBf16(const float* x, int64_t M, int64_t K, int64_t m0, int64_t m1, uint16_t* xb) {
  for (int64_t m = m0; m < m1; m++) {
    if (m < M) roundBf16(x + m * K, K, 1.0f, xb + m * K);
    else memset(xb + m * K, 0, (size_t)K * 2);
  }
}

#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16")

#define AB_KC 512  // k per block: A strip (32 rows) 32 KiB, B panel 32 KiB, C reloaded once per block

/** Whether AMX-BF16 is usable: CPUID, the OS's XCR0 tile state, and the kernel's per-process permission (asked once). */
static bool amxBf16Ready() {
  static const bool ok = [] {
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((d >> 22) & 1) || !((d >> 24) & 1)) return false;  // AMX-BF16, AMX-TILE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3) != 3) return false;  // XTILECFG, XTILEDATA enabled by the OS
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
  }();
  return ok;
}

struct AmxTileCfg {
  uint8_t palette, startRow, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(AmxTileCfg) == 64, "ldtilecfg reads 64 bytes");

// GCC 12's <amxtileintrin.h> tells the compiler that ldtilecfg reads 8 bytes of the configuration and tileloadd no
// memory at all, so it dropped the stores of the tile shapes (rows, colsb) as dead: ldtilecfg then faulted on the
// invalid configuration (SIGSEGV on Sapphire Rapids), and a tile load could be scheduled before the stores of what
// it loads. These wrappers name the 64 bytes ldtilecfg reads and give tileloadd a memory clobber.
#define AMX_LOADD(t, base, stride) \
  __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"((const void*)(base)), "r"((long)(stride)) : "memory")

/** Every tile 16 rows × 64 bytes (per thread: tile state is thread-local). */
static inline void amxConfigure() {
  AmxTileCfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

// The 2×2 block of 16×16 f32 sums in tmm0-3 (rows 0-15 / 16-31 × columns 0-15 / 16-31), kept in memory as 32
// rows of ld bytes; A tiles (tmm4-5) are 16 rows × 32 bf16, B tiles (tmm6-7) 16 k-pairs × 16 columns.
static inline void amxZero2x2() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}
static inline void amxLoad2x2(const float* c, int64_t ld) {
  AMX_LOADD(0, c, ld);
  AMX_LOADD(1, c + 16, ld);
  AMX_LOADD(2, (const char*)c + 16 * ld, ld);
  AMX_LOADD(3, (const char*)(c + 16) + 16 * ld, ld);
}
static inline void amxStore2x2(float* c, int64_t ld) {
  _tile_stored(0, c, ld);
  _tile_stored(1, c + 16, ld);
  _tile_stored(2, (char*)c + 16 * ld, ld);
  _tile_stored(3, (char*)(c + 16) + 16 * ld, ld);
}
/** One 32-deep step: C += [a0; a1] · [b0 b1] (A rows lda bytes apart, B rows ldb bytes apart). */
static inline void amxStep2x2(const void* a0, const void* a1, int64_t lda, const void* b0, const void* b1, int64_t ldb) {
  AMX_LOADD(4, a0, lda);
  AMX_LOADD(5, a1, lda);
  AMX_LOADD(6, b0, ldb);
  AMX_LOADD(7, b1, ldb);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

/** y = epilogue(x·wᵀ) for bf16 w through AMX with bf16-rounded x (K a multiple of 32). */
static void gemmAmxBf16(Exec* ex, const float* x, int64_t M, const WMat* w, const Epilogue* epi, float* y) {
  static_assert(GEMM_NR == 32 && PANEL_ROWS == 32, "two 16-column B tiles per packed panel");
  const int64_t N = w->rows, K = w->cols;
  const int64_t Mp = (M + 31) / 32 * 32;
  uint16_t* xb = (uint16_t*)salloc((size_t)(Mp * K + 1) / 2);
  const int64_t nRowGroups = Mp / 32;
  pfor(ex, nRowGroups, grainFor(ex, nRowGroups, 1), [&](int64_t g0, int64_t g1) { roundRowsBf16(x, M, K, g0 * 32, g1 * 32, xb); });
  const WMat words{DT_F32, w->p, N, K / 2};  // the weights as k-pairs: packB's f32 panel is AMX's B layout
  const GemmPlan plan = gemmPlan(ex, M, N, 32);
  pfor(ex, plan.nTilesN * plan.nTilesM, 1, [&](int64_t t0, int64_t t1) {
    amxConfigure();
    float* B = salloc((size_t)(AB_KC / 2) * plan.nb);
    float* C = salloc((size_t)plan.mcRows * plan.nb);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t mi = t / plan.nTilesN, ni = t % plan.nTilesN;
      const int64_t mc0 = mi * plan.mcRows, mc1 = imin(M, mc0 + plan.mcRows), nb0 = ni * plan.nb, nb1 = imin(N, nb0 + plan.nb);
      const int64_t rowsPad = (mc1 - mc0 + 31) / 32 * 32;
      const int nPanels = (int)((nb1 - nb0 + GEMM_NR - 1) / GEMM_NR);
      for (int64_t k0 = 0; k0 < K; k0 += AB_KC) {
        const int64_t kc = imin(AB_KC, K - k0);
        const float* Bp[GEMM_NB / GEMM_NR];
        for (int p = 0; p < nPanels; p++) {
          const int64_t n0 = nb0 + p * GEMM_NR;
          if (w->packed) {  // bf16 panels packed at load are AMX's B layout already
            Bp[p] = (const float*)w->p + ((n0 / PANEL_ROWS) * (K / 2) + k0 / 2) * PANEL_ROWS;
          } else {
            Bp[p] = B + (size_t)p * (AB_KC / 2) * GEMM_NR;
            packB(&words, n0, (int)imin(GEMM_NR, nb1 - n0), k0 / 2, kc / 2, (float*)Bp[p], nullptr);
          }
        }
        for (int64_t m = 0; m < rowsPad; m += 32) {
          const uint16_t* a = xb + (mc0 + m) * K + k0;
          for (int p = 0; p < nPanels; p++) {
            float* c = C + ((size_t)p * rowsPad + m) * GEMM_NR;
            if (k0 == 0) amxZero2x2();
            else amxLoad2x2(c, GEMM_NR * 4);
            const float* b = Bp[p];
            for (int64_t ks = 0; ks < kc; ks += 32)
              amxStep2x2(a + ks, a + 16 * K + ks, K * 2, b + (ks / 2) * GEMM_NR, b + (ks / 2) * GEMM_NR + 16, GEMM_NR * 4);
            amxStore2x2(c, GEMM_NR * 4);
          }
        }
      }
      storeTilesEpi(C, rowsPad, mc1 - mc0, nb0, nb1, mc0, epi, y, N);
    }
    _tile_release();
    sfree(B);
    sfree(C);
  });
  sfree(xb);
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512bf16")
#ifndef DB_KC
#define DB_KC 1024  // k per block: a whole 1024-wide K in one pass (no tile-buffer round trip); two panels' 512 k-pair rows are 128 KiB in L2
#endif

static bool dpBf16Ready() {
  static const bool ok = __builtin_cpu_supports("avx512bf16");
  return ok;
}

/**
 * NP (1 or 2) panels of 32 columns: c[6][2·NP] = Σ over np k-pairs of 6 activation rows (bf16, row-major, lda
 * elements apart from a; rows past M are zero) times the panels' k-pair words (rows ldb words apart), a k-pair word
 * of each row broadcast. Also the fast attention's S = q·Kᵀ and P·V (attnbf16.h).
 */
template <int NP>
__attribute__((always_inline)) static inline void dpProducts(const uint16_t* a, int64_t lda, const uint32_t* B0, const uint32_t* B1, int64_t ldb, int64_t np, __m512 (&c)[GEMM_MR][4]) {
  const uint32_t* r[GEMM_MR];
#pragma GCC unroll 8
  for (int i = 0; i < GEMM_MR; i++) r[i] = (const uint32_t*)(a + i * lda), c[i][0] = c[i][1] = c[i][2] = c[i][3] = _mm512_setzero_ps();
  for (int64_t p = 0; p < np; p++) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(B0 + p * ldb), b1 = (__m512bh)_mm512_loadu_si512(B0 + p * ldb + 16);
    const __m512bh b2 = NP == 2 ? (__m512bh)_mm512_loadu_si512(B1 + p * ldb) : b0, b3 = NP == 2 ? (__m512bh)_mm512_loadu_si512(B1 + p * ldb + 16) : b1;
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
      const __m512bh t = (__m512bh)_mm512_set1_epi32((int)r[i][p]);
      c[i][0] = _mm512_dpbf16_ps(c[i][0], t, b0);
      c[i][1] = _mm512_dpbf16_ps(c[i][1], t, b1);
      if (NP == 2) {
        c[i][2] = _mm512_dpbf16_ps(c[i][2], t, b2);
        c[i][3] = _mm512_dpbf16_ps(c[i][3], t, b3);
      }
    }
  }
}

/**
 * One task of the AVX512-BF16 GEMM: rows [mc0, mc1) of the bf16 activations xb against weight rows [nb0, nb1), over
 * all of K, as the f32 GEMM's gemmTask: whole panel pairs through the 6 × 64 tile (the last K block through the
 * epilogue to y), a last odd or partial panel into the tile buffer and storeTilesEpi.
 */
static void dpTask(const uint16_t* xb, const WMat* w, const WMat* words, int64_t mc0, int64_t mc1, int64_t nb0, int64_t nb1, uint32_t* Bbuf, float* Cbuf, const Epilogue* epi, float* y) {
  const int64_t K = w->cols, N = w->rows, rows = mc1 - mc0, Kp2 = packedK(DT_BF16, K) / 2;
  const int nPanels = (int)((nb1 - nb0 + GEMM_NR - 1) / GEMM_NR);
  const int pairs = (int)((nb1 - nb0) / (2 * GEMM_NR)) * 2;
  for (int64_t k0 = 0; k0 < K; k0 += DB_KC) {
    const int64_t np = imin(DB_KC, K - k0) / 2;
    const bool last = k0 + DB_KC >= K, acc = k0 > 0;
    const uint32_t* Bp[GEMM_NB / GEMM_NR];
    for (int p = 0; p < nPanels; p++) {
      const int64_t n0 = nb0 + p * GEMM_NR;
      if (w->packed) {  // panels packed at load: [K/2][32] k-pair words already
        Bp[p] = (const uint32_t*)w->p + ((n0 / PANEL_ROWS) * Kp2 + k0 / 2) * PANEL_ROWS;
      } else {
        Bp[p] = Bbuf + (size_t)p * (DB_KC / 2) * GEMM_NR;
        packB(words, n0, (int)imin(GEMM_NR, nb1 - n0), k0 / 2, np, (float*)Bp[p], nullptr);
      }
    }
    int p = 0;
    for (; p < pairs; p += 2) {
      float* C = Cbuf + (size_t)p * rows * GEMM_NR;
      for (int64_t m0 = mc0; m0 < mc1; m0 += GEMM_MR) {
        const int mr = (int)imin(GEMM_MR, mc1 - m0);
        float* c0 = C + (m0 - mc0) * GEMM_NR;
        __m512 c[GEMM_MR][4];
        if (last) {
          const EpiOut eo{epi, y, N, m0, nb0 + p * GEMM_NR};
          kernelPrefetchResidual<true>(mr, &eo);
          dpProducts<2>(xb + m0 * K + k0, K, Bp[p], Bp[p + 1], GEMM_NR, np, c);
          kernelStore2<true>(c, mr, c0, c0 + rows * GEMM_NR, acc, &eo);
        } else {
          dpProducts<2>(xb + m0 * K + k0, K, Bp[p], Bp[p + 1], GEMM_NR, np, c);
          kernelStore2<false>(c, mr, c0, c0 + rows * GEMM_NR, acc, nullptr);
        }
      }
    }
    for (; p < nPanels; p++) {
      float* C = Cbuf + (size_t)p * rows * GEMM_NR;
      for (int64_t m0 = mc0; m0 < mc1; m0 += GEMM_MR) {
        const int mr = (int)imin(GEMM_MR, mc1 - m0);
        __m512 c[GEMM_MR][4];
        dpProducts<1>(xb + m0 * K + k0, K, Bp[p], nullptr, GEMM_NR, np, c);
        for (int i = 0; i < mr; i++) {
          float* ci = C + (m0 - mc0 + i) * GEMM_NR;
          _mm512_storeu_ps(ci, acc ? _mm512_add_ps(_mm512_loadu_ps(ci), c[i][0]) : c[i][0]);
          _mm512_storeu_ps(ci + 16, acc ? _mm512_add_ps(_mm512_loadu_ps(ci + 16), c[i][1]) : c[i][1]);
        }
      }
    }
  }
  if (pairs < nPanels) storeTilesEpi(Cbuf + (size_t)pairs * rows * GEMM_NR, rows, rows, nb0 + pairs * GEMM_NR, nb1, mc0, epi, y, N);
}

/**
 * y[m, r] for r in [r0, r1): bf16 weight rows against bf16-rounded activations xb [M, K] (K even), `vdpbf16ps` on
 * 32 weights a time with f32 sums: the matrix-vector product of precision 'fast' (decode). One instruction per 64
 * weight bytes where the exact kernel needs five (load, even/odd split, two FMAs), so more of each row is in flight
 * (Zen 4, 2B bf16 decode, `bench/decodeProf.ts --precision both`: median 84.2 → 73.7 ms a token).
 */
static void gemvDpBf16(const WMat* w, const uint16_t* xb, int64_t M, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t K = w->cols, kv = K / 64 * 64;
  const __mmask32 t0 = (__mmask32)((K - kv) >= 32 ? ~0u : (1u << (K - kv)) - 1), t1 = (__mmask32)((K - kv) > 32 ? (1u << (K - kv - 32)) - 1 : 0);
  const bool pf = gemvBf16Prefetch();
  for (int64_t r = r0; r < r1; r++) {
    const uint16_t* wr = (const uint16_t*)w->p + r * K;
    for (int64_t m = 0; m < M; m++) {
      const uint16_t* xm = xb + m * K;
      __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
      for (int64_t k = 0; k < kv; k += 64) {
        if (pf && m == 0) prefetchL1((const char*)(wr + k) + GEMV_PF), prefetchL1((const char*)(wr + k) + GEMV_PF + 64);
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(wr + k), (__m512bh)_mm512_loadu_si512(xm + k));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(wr + k + 32), (__m512bh)_mm512_loadu_si512(xm + k + 32));
      }
      if (kv < K) {  // the last < 64 weights: masked loads read zeros past K
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_maskz_loadu_epi16(t0, wr + kv), (__m512bh)_mm512_maskz_loadu_epi16(t0, xm + kv));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_maskz_loadu_epi16(t1, wr + kv + 32), (__m512bh)_mm512_maskz_loadu_epi16(t1, xm + kv + 32));
      }
      y[m * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
  }
}

/** y = epilogue(x·wᵀ) for bf16 w through AVX512-BF16 with bf16-rounded x (K even). */
static void gemmDpBf16(Exec* ex, const float* x, int64_t M, const WMat* w, const Epilogue* epi, float* y) {
  static_assert(GEMM_NR == 32 && PANEL_ROWS == 32, "a packed panel is one 32-column panel");
  const int64_t N = w->rows, K = w->cols;
  const int64_t Mp = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;  // the last micro-tile's rows past M read zeros
  uint16_t* xb = (uint16_t*)salloc((size_t)(Mp * K + 1) / 2);
  const int64_t nGroups = Mp / GEMM_MR;
  pfor(ex, nGroups, grainFor(ex, nGroups, 1), [&](int64_t g0, int64_t g1) { roundRowsBf16(x, M, K, g0 * GEMM_MR, g1 * GEMM_MR, xb); });
  const WMat words{DT_F32, w->p, N, K / 2};  // unpacked weights as k-pair words: packB's panel is the kernel's layout
  const GemmPlan plan = gemmPlan(ex, M, N, GEMM_MR);
  int64_t* task = (int64_t*)malloc(sizeof(int64_t) * 3 * (size_t)(plan.nTilesM * ((N + GEMM_NR - 1) / GEMM_NR)));
  const int64_t nTasks = gemmGuidedTasks(ex->threads, plan.nTilesM, N, plan.nb, task);
  pfor(ex, nTasks, 1, [&](int64_t t0, int64_t t1) {
    uint32_t* B = (uint32_t*)salloc((size_t)(DB_KC / 2) * plan.nb);
    float* C = salloc((size_t)plan.mcRows * plan.nb);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t mi = task[3 * t];
      dpTask(xb, w, &words, mi * plan.mcRows, imin(M, (mi + 1) * plan.mcRows), task[3 * t + 1], task[3 * t + 2], B, C, epi, y);
    }
    sfree(B);
    sfree(C);
  });
  free(task);
  sfree(xb);
}
#pragma GCC pop_options

/** y = epilogue(x·wᵀ) for bf16 w on bf16-rounded x (precision 'fast'); false when not applicable (the f32 GEMM runs). */
static bool gemmBf16(Exec* ex, const float* x, int64_t M, const WMat* w, const Epilogue* epi, float* y) {
  if (!ex->bf16Act || w->dt != DT_BF16) return false;
  if (w->cols % 32 == 0 && amxBf16Ready()) {
    gemmAmxBf16(ex, x, M, w, epi, y);
    return true;
  }
  if (w->cols % 2 != 0 || !dpBf16Ready()) return false;
  gemmDpBf16(ex, x, M, w, epi, y);
  return true;
}
/**
 * y = x·wᵀ for few rows of x against row-major bf16 w on bf16-rounded x (precision 'fast', AVX512-BF16, K even): the
 * same products as the 'fast' GEMMs; false when not applicable (the exact matrix-vector kernel runs).
 */
static bool gemvBf16(Exec* ex, const float* x, int64_t M, const WMat* w, float* y) {
  if (!ex->bf16Act || w->dt != DT_BF16 || w->packed || w->cols % 2 != 0 || !dpBf16Ready()) return false;
  const int64_t N = w->rows, K = w->cols;
  uint16_t* xb = (uint16_t*)salloc((size_t)(M * K + 1) / 2);
  roundRowsBf16(x, M, K, 0, M, xb);
  pfor(ex, N, gemvGrain(ex, N), [&](int64_t r0, int64_t r1) { gemvDpBf16(w, xb, M, r0, r1, y, N); });
  sfree(xb);
  return true;
}
/** Whether precision 'fast' has bf16 products here: AMX-BF16 (OS-enabled) or AVX512-BF16. */
static bool opBf16Products() { return amxBf16Ready() || dpBf16Ready(); }
#else
static bool gemmBf16(Exec*, const float*, int64_t, const WMat*, const Epilogue*, float*) { return false; }
static bool gemvBf16(Exec*, const float*, int64_t, const WMat*, float*) { return false; }
static bool opBf16Products() { return false; }
#endif

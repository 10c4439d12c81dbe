// The bf16 GEMM for bf16 weights on AMX-BF16 CPUs (precision 'fast' only): activations rounded to bf16 (nearest
// even, as dtype.ts f32ToBf16), products by `tdpbf16ps` (16×16×32 per instruction) into f32 tile sums. Weights are
// bf16 already, so this rounds the activations alone; the exact mode and other CPUs keep the f32 GEMM.
//
// Tile use: C 2×2 tiles (32 rows × 32 columns, tmm0-3), A 2 tiles (tmm4-5, 16 rows × 32 k each, straight from the
// row-major bf16 activations), B 2 tiles (tmm6-7, 16 k-pairs × 16 columns). The B layout AMX wants, [k/2][n][2],
// is the f32 packB's panel of the weights read as 32-bit words (one word = one k-pair), so packing is shared.

#if QV_W == 16 && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)  // GCC target pragmas
#include <sys/syscall.h>
#include <unistd.h>

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

/** Every tile 16 rows × 64 bytes (per thread: tile state is thread-local). */
static inline void amxConfigure() {
  AmxTileCfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _tile_loadconfig(&cfg);
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
  _tile_loadd(0, c, ld);
  _tile_loadd(1, c + 16, ld);
  _tile_loadd(2, (const char*)c + 16 * ld, ld);
  _tile_loadd(3, (const char*)(c + 16) + 16 * ld, ld);
}
static inline void amxStore2x2(float* c, int64_t ld) {
  _tile_stored(0, c, ld);
  _tile_stored(1, c + 16, ld);
  _tile_stored(2, (char*)c + 16 * ld, ld);
  _tile_stored(3, (char*)(c + 16) + 16 * ld, ld);
}
/** One 32-deep step: C += [a0; a1] · [b0 b1] (A rows lda bytes apart, B rows ldb bytes apart). */
static inline void amxStep2x2(const void* a0, const void* a1, int64_t lda, const void* b0, const void* b1, int64_t ldb) {
  _tile_loadd(4, a0, lda);
  _tile_loadd(5, a1, lda);
  _tile_loadd(6, b0, ldb);
  _tile_loadd(7, b1, ldb);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

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

/** y = epilogue(x·wᵀ) for bf16 w through AMX with bf16-rounded x; false when not applicable (the f32 GEMM runs). */
static bool gemmBf16(Exec* ex, const float* x, int64_t M, const WMat* w, const Epilogue* epi, float* y) {
  static_assert(GEMM_NR == 32 && PANEL_ROWS == 32, "two 16-column B tiles per packed panel");
  const int64_t N = w->rows, K = w->cols;
  if (!ex->bf16Act || w->dt != DT_BF16 || K % 32 != 0 || !amxBf16Ready()) return false;
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
  return true;
}
#pragma GCC pop_options
static bool opBf16Products() { return amxBf16Ready(); }
#else
static bool gemmBf16(Exec*, const float*, int64_t, const WMat*, const Epilogue*, float*) { return false; }
static bool opBf16Products() { return false; }
#endif

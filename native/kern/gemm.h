// Matrix-matrix product y[M,N] = x[M,K]·w[N,K]ᵀ for prefill and the vision tower: packed f32 panels and a 6×(2·W)
// FMA micro-kernel (AVX-512: 6×(4·W), two panels at once): the exact path. Weight panels are decoded while packing,
// once per MC rows of activations; gemmq.h's 8-bit products and gemmbf16.h's AMX take their cases first (linear.h).

// AVX-512 has 32 vector registers: 6 rows × 4 vectors (two 32-column panels at once, microKernel2) = 24
// accumulators, so each k step issues 24 FMAs for 10 loads (4 B vectors + 6 broadcasts). The loads are what holds
// the loop below the FMA roof on this core: in isolation (A streaming from L2, B in L1) 12 rows × 2 vectors (14
// loads) ran at 86% of the roof, 6 × 4 at 91% with KC 128 (the two panels' 32 KiB stay in L1; at KC 256, 64 KiB, it
// fell to 85%). AVX2's 16 registers fit 6 rows × 2 vectors = 12 accumulators, one panel at a time.
#define GEMM_MR 6
#define GEMM_NR (2 * QV_W)
#ifndef GEMM_KC
#if QV_W == 16
#define GEMM_KC 128
#else
#define GEMM_KC 256
#endif
#endif
// Rows per task: one packed (decoded) weight panel serves MC rows, so packing costs 1/MC of the FMAs per weight.
#ifndef GEMM_MC
#define GEMM_MC 1024
#endif
// Columns per task (at most): each A block (MC × KC, in L2) serves NB/NR weight panels before the next is loaded,
// so A is read from L3 N/NB times in all; fewer columns when that would leave threads without a task.
#ifndef GEMM_NB
#define GEMM_NB 256
#endif

/** The micro-kernel: C[mr, nr] (+)= A[KC][MR] · B[KC][NR]; mr ≤ MR, nr ≤ NR handled through a temp tile. */
static inline void microKernel(const float* A, const float* B, int64_t kc, float* C, int64_t ldc, int mr, int nr, bool acc) {
  vf c[GEMM_MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < GEMM_MR; i++) c[i][0] = c[i][1] = vzero();
#if QV_W == 8
#pragma GCC unroll 8  // AVX2: the loop's own add/cmp/branch cost ~1% (784×1024×4096 bf16: 64.8 → 63.8 ms, one thread)
#endif
  for (int64_t k = 0; k < kc; k++) {
    const vf b0 = vload(B + k * GEMM_NR), b1 = vload(B + k * GEMM_NR + QV_W);
    const float* a = A + k * GEMM_MR;
    prefetchL1(a + 64 * GEMM_MR);  // 3 KiB ahead: the L1 prefetchers alone left fc2 (K = 4096) at 64% of the roof, now 74%
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++) {
      const vf t = vset1(a[i]);
      c[i][0] = vfma(t, b0, c[i][0]);
      c[i][1] = vfma(t, b1, c[i][1]);
    }
  }
  if (nr == GEMM_NR) {
    for (int i = 0; i < mr; i++) {
      float* ci = C + i * ldc;
      if (acc) {
        vstore(ci, vadd(vload(ci), c[i][0]));
        vstore(ci + QV_W, vadd(vload(ci + QV_W), c[i][1]));
      } else {
        vstore(ci, c[i][0]);
        vstore(ci + QV_W, c[i][1]);
      }
    }
  } else {
    float tmp[GEMM_NR];
    for (int i = 0; i < mr; i++) {
      vstore(tmp, c[i][0]);
      vstore(tmp + QV_W, c[i][1]);
      float* ci = C + i * ldc;
      for (int j = 0; j < nr; j++) ci[j] = acc ? ci[j] + tmp[j] : tmp[j];
    }
  }
}

#if QV_W == 16
/** Where a GEMM's last K block writes: y [·, N] through the epilogue, from row m0 and column n0. */
struct EpiOut {
  const Epilogue* e;
  float* y;
  int64_t N, m0, n0;
};

/** With EPI: fetch the residual rows of the micro-tile (they come from L3) while the products run. */
template <bool EPI>
static inline void kernelPrefetchResidual(int mr, const EpiOut* eo) {
  if (EPI && eo->e->residual)
    for (int i = 0; i < mr; i++)
      for (int u = 0; u < 4; u++) prefetchL1(eo->e->residual + (eo->m0 + i) * eo->N + eo->n0 + 16 * u);
}

/**
 * The write-back of a 6 × 64 micro-tile's sums c (two 32-column panels): added to the tile buffer's C0/C1 when acc,
 * then stored there, or (EPI, the last K block) through the epilogue straight to y. Shared by the f32 kernel below and
 * the AVX512-BF16 one (gemmbf16.h), so both finish their sums with the same operations.
 */
template <bool EPI>
static inline void kernelStore2(__m512 (&c)[GEMM_MR][4], int mr, float* C0, float* C1, bool acc, const EpiOut* eo) {
  for (int i = 0; i < mr; i++) {
    float *c0 = C0 + i * 32, *c1 = C1 + i * 32;
    if (acc) {
      c[i][0] = _mm512_add_ps(_mm512_loadu_ps(c0), c[i][0]);
      c[i][1] = _mm512_add_ps(_mm512_loadu_ps(c0 + 16), c[i][1]);
      c[i][2] = _mm512_add_ps(_mm512_loadu_ps(c1), c[i][2]);
      c[i][3] = _mm512_add_ps(_mm512_loadu_ps(c1 + 16), c[i][3]);
    }
    if (EPI) {
      const Epilogue* e = eo->e;
      const bool act = e->act != ACT_NONE, th = e->act == ACT_GELU_TANH;
      const int64_t o = (eo->m0 + i) * eo->N + eo->n0;
      for (int u = 0; u < 4; u++) {
        __m512 v = c[i][u];
        if (e->bias) v = _mm512_add_ps(v, _mm512_loadu_ps(e->bias + eo->n0 + 16 * u));
        if (act) v = vgelu(v, th);
        if (e->residual) v = _mm512_add_ps(_mm512_loadu_ps(e->residual + o + 16 * u), v);
        _mm512_storeu_ps(eo->y + o + 16 * u, v);
      }
      continue;
    }
    _mm512_storeu_ps(c0, c[i][0]);
    _mm512_storeu_ps(c0 + 16, c[i][1]);
    _mm512_storeu_ps(c1, c[i][2]);
    _mm512_storeu_ps(c1 + 16, c[i][3]);
  }
}

/**
 * Two panels at once: C0/C1[mr, 32] (+)= A[KC][6] · B0/B1[KC][32] (two whole 32-column weight panels; each C tile has
 * rows 32 floats apart, as the task's tile buffer holds them). Each sum adds its k products in order from zero and is
 * then added to C, as microKernel does. With EPI (the last K block) the finished sums go through storeTilesEpi's
 * epilogue, the same operations in the same order, straight to y's 64 columns: no tile store and reload, no pass of
 * its own (the write-back pass was 3.5% of the 448² tower, mostly waiting on memory).
 */
template <bool EPI>
static inline void microKernel2(const float* A, const float* B0, const float* B1, int64_t kc, float* C0, float* C1, int mr, bool acc, const EpiOut* eo = nullptr) {
  kernelPrefetchResidual<EPI>(mr, eo);
  __m512 c[GEMM_MR][4];
#pragma GCC unroll 8
  for (int i = 0; i < GEMM_MR; i++) c[i][0] = c[i][1] = c[i][2] = c[i][3] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(B0 + k * 32), b1 = _mm512_loadu_ps(B0 + k * 32 + 16);
    const __m512 b2 = _mm512_loadu_ps(B1 + k * 32), b3 = _mm512_loadu_ps(B1 + k * 32 + 16);
    const float* a = A + k * GEMM_MR;
    prefetchL1(a + GEMM_KC * GEMM_MR);  // the next micro-panel's same k (3 KiB ahead)
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
      const __m512 t = _mm512_set1_ps(a[i]);
      c[i][0] = _mm512_fmadd_ps(t, b0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(t, b1, c[i][1]);
      c[i][2] = _mm512_fmadd_ps(t, b2, c[i][2]);
      c[i][3] = _mm512_fmadd_ps(t, b3, c[i][3]);
    }
  }
  kernelStore2<EPI>(c, mr, C0, C1, acc, eo);
}
#endif

#if QV_W == 16
/**
 * out[j·ld + i] = rows[i][k + j] for n ≤ 16 rows × 16 k (lanes i ≥ n stored only where `keep` says): a 16×16
 * in-register transpose (unpack, shuffle, two lane swaps).
 */
static inline void transpose16(const float* const* rows, int n, int64_t k, float* out, int64_t ld, __mmask16 keep) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = i < n ? _mm512_loadu_ps(rows[i] + k) : _mm512_setzero_ps();
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; i++) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
  for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(out + i * ld, keep, r[i]);
}
#endif
#if defined(__AVX2__)
/** r[i] = column i of the 8×8 block whose row j is r[j] on entry (unpack, shuffle, 128-bit lane swap); pure data
 * movement, so it also transposes 32-bit integer units (gemmq.h's packing, through casts). */
static inline void transpose8(__m256* r) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}
#endif

/** Pack rows [m0, m0+mr) × cols [k0, k0+kc) of x into A[kc][MR] (missing rows zero). */
static void packA(const float* x, int64_t K, int64_t m0, int mr, int64_t k0, int64_t kc, float* A) {
  const float* rows[GEMM_MR];
  for (int i = 0; i < mr; i++) rows[i] = x + (m0 + i) * K + k0;
  int64_t k = 0;
#if defined(__AVX2__)
  // 6 rows × 8 k by an 8×8 register transpose (the scalar copy was ~2.5% of the AVX2 vision tower, and 6–8% of a
  // K = 4096 GEMM on AVX-512): each k's 8-lane
  // store runs 2 floats into the next k's slot, which the next store overwrites; the block's last store is masked
  // (the next micro-panel may be another thread's).
  if (mr == GEMM_MR) {
    const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    for (; k + 8 <= kc; k += 8) {
      __m256 r[8];
      for (int i = 0; i < GEMM_MR; i++) r[i] = _mm256_loadu_ps(rows[i] + k);
      r[6] = r[7] = _mm256_setzero_ps();
      transpose8(r);
      float* a = A + k * GEMM_MR;
      for (int j = 0; j < 7; j++) _mm256_storeu_ps(a + j * GEMM_MR, r[j]);
      _mm256_maskstore_ps(a + 7 * GEMM_MR, six, r[7]);
    }
  }
#endif
  for (; k < kc; k++)
    for (int i = 0; i < GEMM_MR; i++) A[k * GEMM_MR + i] = i < mr ? rows[i][k] : 0.0f;
}

/** Pack weight rows [n0, n0+nr) × cols [k0, k0+kc) into B[kc][NR] (decoded to f32; missing rows zero). */
static void packB(const WMat* w, int64_t n0, int nr, int64_t k0, int64_t kc, float* B, float* rowTmp) {
  // Each weight row contributes only KC values (≤ 1 KiB) per K block: too short a stream for the hardware
  // prefetchers, so the loads missed all the way to memory (72% of packing time). Fetch the next block's piece of
  // every row while this one is packed.
  const size_t rb = rowBytes(w->dt, w->cols), off = rowBytes(w->dt, k0 + kc), len = rowBytes(w->dt, imin(kc, w->cols - k0 - kc));
  const float* src[GEMM_NR];
  for (int j = 0; j < GEMM_NR; j++) {
    if (j < nr && off < rb) {
      const char* nx = (const char*)w->p + (size_t)(n0 + j) * rb + off;
      for (size_t b = 0; b < len; b += 64) prefetchL1(nx + b);
    }
    if (j < nr) {
      if (w->dt == DT_F32) {
        src[j] = (const float*)w->p + (n0 + j) * w->cols + k0;
      } else {
        decodeRow(w, n0 + j, k0, kc, rowTmp + (size_t)j * GEMM_KC);
        src[j] = rowTmp + (size_t)j * GEMM_KC;
      }
    } else {
      for (int64_t k = 0; k < kc; k++) B[k * GEMM_NR + j] = 0;
    }
  }
  int j0 = 0;
#if QV_W == 16
  // Whole groups of 16 rows: 16×16 register transposes (the scalar copy was one store per weight, ~20% of a GEMM).
  for (; j0 + 16 <= nr; j0 += 16) {
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) transpose16(src + j0, 16, k, B + k * GEMM_NR + j0, GEMM_NR, 0xffff);
    for (; k < kc; k++)
      for (int j = j0; j < j0 + 16; j++) B[k * GEMM_NR + j] = src[j][k];
  }
#endif
  for (int j = j0; j < nr; j++)
    for (int64_t k = 0; k < kc; k++) B[k * GEMM_NR + j] = src[j][k];
}

/**
 * The B panel of weight rows [n0, n0+nr) × k [k0, k0+kc) as [kc][NR] f32. Row-major weights are gathered, decoded
 * and transposed into B (packB); weights packed at load (common.h) are one contiguous run: f32 panels are read in
 * place, bf16 k-pair rows widen into two k rows each (a shift and a mask per vector).
 */
static const float* panelB(const WMat* w, int64_t n0, int nr, int64_t k0, int64_t kc, float* B, float* rowTmp) {
  if (!w->packed) {
    packB(w, n0, nr, k0, kc, B, rowTmp);
    return B;
  }
  const int64_t Kp = packedK(w->dt, w->cols), pan = n0 / PANEL_ROWS, j0 = n0 % PANEL_ROWS;  // NR divides PANEL_ROWS
  if (w->dt == DT_F32) {
    const float* src = (const float*)w->p + (pan * Kp + k0) * PANEL_ROWS + j0;
    if (GEMM_NR == PANEL_ROWS) return src;
    for (int64_t k = 0; k < kc; k++)
      for (int j = 0; j < GEMM_NR; j++) B[k * GEMM_NR + j] = src[k * PANEL_ROWS + j];
    return B;
  }
  // bf16: k0 is even (a multiple of KC), so the block starts on a pair row.
  const uint32_t* src = (const uint32_t*)w->p + (pan * (Kp / 2) + k0 / 2) * PANEL_ROWS + j0;
  for (int64_t k = 0; k < kc; k += 2) {
    const uint32_t* s = src + (k / 2) * PANEL_ROWS;
    float *even = B + k * GEMM_NR, *odd = even + GEMM_NR;
    const bool both = k + 1 < kc;
#if QV_W == 16
    for (int j = 0; j < GEMM_NR; j += 16) {
      const __m512i v = _mm512_loadu_si512((const void*)(s + j));
      _mm512_storeu_ps(even + j, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
      if (both) _mm512_storeu_ps(odd + j, _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u))));
    }
#elif QV_W == 8
    for (int j = 0; j < GEMM_NR; j += 8) {
      const __m256i v = _mm256_loadu_si256((const __m256i*)(s + j));
      _mm256_storeu_ps(even + j, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
      if (both) _mm256_storeu_ps(odd + j, _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u))));
    }
#else
    for (int j = 0; j < GEMM_NR; j++) {
      even[j] = bitsToF32(s[j] << 16);
      if (both) odd[j] = bitsToF32(s[j] & 0xffff0000u);
    }
#endif
  }
  (void)nr;
  return B;
}

/**
 * Write the tile buffer C[panel][ldp rows][NR] of rows [mc0, mc0 + rows) × columns [nb0, nb1) to y [·, N] through
 * the epilogue: + bias, GELU, + residual, in the order of their composition (linear, gelu, add), so the values are
 * those of the separate ops while y is written once and never re-read (the vision MLP's fc1 output is 12.8 MB at
 * 784 patches). Shared by the f32, int8 and bf16 GEMMs, whose tiles have the same layout. Row by row: each y row
 * gets its nb columns in one run (panel by panel, each 128-byte store went to another row N floats away).
 */
static void storeTilesEpi(const float* Cbuf, int64_t ldp, int64_t rows, int64_t nb0, int64_t nb1, int64_t mc0, const Epilogue* e, float* y, int64_t N) {
  const int nPanels = (int)((nb1 - nb0 + GEMM_NR - 1) / GEMM_NR);
  const float *bias = e->bias, *res = e->residual;
  const bool act = e->act != ACT_NONE, th = e->act == ACT_GELU_TANH;
  for (int64_t m = 0; m < rows; m++)
    for (int p = 0; p < nPanels; p++) {
      const int64_t n0 = nb0 + p * GEMM_NR, o = (mc0 + m) * N + n0;
      const int nr = (int)imin(GEMM_NR, nb1 - n0);
      const float* c = Cbuf + ((size_t)p * ldp + m) * GEMM_NR;
      if (nr == GEMM_NR) {
        vf c0 = vload(c), c1 = vload(c + QV_W);
        if (bias) {
          c0 = vadd(c0, vload(bias + n0));
          c1 = vadd(c1, vload(bias + n0 + QV_W));
        }
        if (act) {
          c0 = vgelu(c0, th);
          c1 = vgelu(c1, th);
        }
        if (res) {
          c0 = vadd(vload(res + o), c0);
          c1 = vadd(vload(res + o + QV_W), c1);
        }
        vstore(y + o, c0);
        vstore(y + o + QV_W, c1);
      } else {
        for (int j = 0; j < nr; j++) {
          float v = bias ? c[j] + bias[n0 + j] : c[j];
          if (act) v = sgelu(v, th);
          y[o + j] = res ? res[o + j] + v : v;
        }
      }
    }
}

/**
 * The task grid of a GEMM: M tiles of mcRows (equal, a multiple of mr: a short last tile would pack every weight
 * panel again for a few rows) × N tiles of nb columns (≤ GEMM_NB; fewer when that would leave threads idle).
 */
struct GemmPlan {
  int64_t mcRows, nTilesM, nb, nTilesN;
};
static inline GemmPlan gemmPlan(Exec* ex, int64_t M, int64_t N, int64_t mr) {
  GemmPlan p;
  p.nTilesM = (M + GEMM_MC - 1) / GEMM_MC;
  // Tasks wanted: 4 per thread, so a thread slowed for a while (GC, another process) leaves the others at most a
  // quarter of its share to wait for; 1024 columns are 8 tasks of 128 (2 of 256 per thread before), which cost
  // nothing measurable on one thread (784 rows, bf16: 10.8 ms either way).
  const int64_t want = 4 * ex->threads;
  const int64_t perTile = (want + p.nTilesM - 1) / p.nTilesM;
  p.nb = imin(GEMM_NB, imax(GEMM_NR, ((N + perTile - 1) / perTile + GEMM_NR - 1) / GEMM_NR * GEMM_NR));
  p.nTilesN = (N + p.nb - 1) / p.nb;
  p.mcRows = ((M + p.nTilesM - 1) / p.nTilesM + mr - 1) / mr * mr;
  p.nTilesM = (M + p.mcRows - 1) / p.mcRows;
  return p;
}

/**
 * The tasks of a GEMM as (M tile, first column, end column), M-major, guided: each task takes a share of the columns
 * still unclaimed (1/(2·threads) of them, at most nb, at least two micro-panels), so the tasks shrink toward the
 * end and the threads finish within a small task of each other (equal tasks of nb columns left one thread waiting
 * up to a whole task at the end of every GEMM, 3.4% of the AVX2 vision tower's time). AVX-512 keeps equal tasks of
 * nb columns: its tasks take half as long, and the guided split measured ~1% slower there (784-row bf16 fc1/fc2, two
 * threads, CPU time). Returns the count.
 */
static int64_t gemmGuidedTasks(int threads, int64_t nTilesM, int64_t N, int64_t nb, int64_t* task) {
  const int64_t panels = (N + GEMM_NR - 1) / GEMM_NR, maxP = imax(1, nb / GEMM_NR);
  int64_t n = 0;
  for (int64_t mi = 0; mi < nTilesM; mi++)
    for (int64_t p0 = 0; p0 < panels;) {
      const int64_t left = (nTilesM - 1 - mi) * panels + panels - p0;
      const int64_t guided = imin(maxP, imax(2, (left + 2 * threads - 1) / (2 * threads)));
      const int64_t w = imin(panels - p0, QV_W == 16 ? maxP : guided);
      task[3 * n] = mi, task[3 * n + 1] = p0 * GEMM_NR, task[3 * n + 2] = imin(N, (p0 + w) * GEMM_NR);
      n++;
      p0 += w;
    }
  return n;
}

struct GemmCtx {
  const float* x;
  const WMat* w;
  float* y;
  int64_t M, N, K, nTilesN, nTilesM, nKB, nb, nPM;
  const Epilogue* epi;
  float* Ap;  // packed activations: [K block][M panel][KC][MR]
};

static inline const float* panelA(const GemmCtx* g, int64_t m0, int64_t kb) {
  return g->Ap + (kb * g->nPM + m0 / GEMM_MR) * (GEMM_KC * GEMM_MR);
}

/**
 * One task: rows [mc0, mc1) of x against weight rows [nb0, nb1) (≤ GEMM_NB), over all of K. The sums build up in a
 * contiguous tile buffer C[panel][row][NR], not in y: y's rows are N floats apart, so a micro-tile's 12 rows would
 * fall into the same few L1 sets and evict each other at every K block (it halved the GEMM's speed for N = 4096).
 */
static void gemmTask(const GemmCtx* g, int64_t mc0, int64_t mc1, int64_t nb0, int64_t nb1, float* Bbuf, float* rowTmp, float* Cbuf) {
  const int64_t K = g->K, N = g->N, rows = mc1 - mc0;
  const int nPanels = (int)((nb1 - nb0 + GEMM_NR - 1) / GEMM_NR);
  // Panels [0, pairs) run two at a time and write y themselves (AVX-512): whole 32-column ones only.
  const int pairs = QV_W == 16 ? (int)((nb1 - nb0) / (2 * GEMM_NR)) * 2 : 0;
  for (int64_t k0 = 0, kb = 0; k0 < K; k0 += GEMM_KC, kb++) {
    const int64_t kc = imin(GEMM_KC, K - k0);
    const float* Bp[GEMM_NB / GEMM_NR];
    for (int p = 0; p < nPanels; p++) {
      const int64_t n0 = nb0 + p * GEMM_NR;
      Bp[p] = panelB(g->w, n0, (int)imin(GEMM_NR, nb1 - n0), k0, kc, Bbuf + (size_t)p * GEMM_KC * GEMM_NR, rowTmp);
    }
    // One B panel (KC × NR) stays in L1 while the A micro-panels stream past it from L2.
    int p = 0;
#if QV_W == 16
    // Whole panels two at a time (the 6×64 kernel), the last K block straight to y; an odd last one below, on its own.
    const bool last = k0 + kc >= K;
    for (; p < pairs; p += 2) {
      float* C = Cbuf + (size_t)p * rows * GEMM_NR;
      for (int64_t m0 = mc0; m0 < mc1; m0 += GEMM_MR) {
        const int mr = (int)imin(GEMM_MR, mc1 - m0);
        float* c = C + (m0 - mc0) * GEMM_NR;
        if (last) {
          const EpiOut eo{g->epi, g->y, N, m0, nb0 + p * GEMM_NR};
          microKernel2<true>(panelA(g, m0, kb), Bp[p], Bp[p + 1], kc, c, c + rows * GEMM_NR, mr, k0 > 0, &eo);
        } else {
          microKernel2<false>(panelA(g, m0, kb), Bp[p], Bp[p + 1], kc, c, c + rows * GEMM_NR, mr, k0 > 0);
        }
      }
    }
#endif
    for (; p < nPanels; p++) {
      float* C = Cbuf + (size_t)p * rows * GEMM_NR;
      for (int64_t m0 = mc0; m0 < mc1; m0 += GEMM_MR) {
        const int mr = (int)imin(GEMM_MR, mc1 - m0);
        microKernel(panelA(g, m0, kb), Bp[p], kc, C + (m0 - mc0) * GEMM_NR, GEMM_NR, mr, GEMM_NR, k0 > 0);
      }
    }
  }
  if (pairs < nPanels) storeTilesEpi(Cbuf + (size_t)pairs * rows * GEMM_NR, rows, rows, nb0 + pairs * GEMM_NR, nb1, mc0, g->epi, g->y, N);
}

static void gemmEpi(Exec* ex, const float* x, int64_t M, const WMat* w, const Epilogue* epi, float* y) {
  GemmCtx g{x, w, y, M, w->rows, w->cols, 0, 0, 0, 0, 0, epi, nullptr};
  const GemmPlan plan = gemmPlan(ex, M, g.N, GEMM_MR);
  const int64_t mcRows = plan.mcRows;
  g.nTilesM = plan.nTilesM, g.nb = plan.nb, g.nTilesN = plan.nTilesN;
  g.nKB = (g.K + GEMM_KC - 1) / GEMM_KC;
  const int64_t nPM = g.nPM = (M + GEMM_MR - 1) / GEMM_MR;
  void* apTok;
  g.Ap = (float*)ex->scratch((size_t)nPM * g.nKB * GEMM_KC * GEMM_MR * 4, &apTok);
  pfor(ex, nPM, grainFor(ex, nPM, 2, 8), [&](int64_t p0, int64_t p1) {  // small chunks: the GEMM waits for the last
    for (int64_t p = p0; p < p1; p++)
      for (int64_t kb = 0; kb < g.nKB; kb++) {
        const int64_t k0 = kb * GEMM_KC;
        packA(x, g.K, p * GEMM_MR, (int)imin(GEMM_MR, M - p * GEMM_MR), k0, imin(GEMM_KC, g.K - k0), (float*)panelA(&g, p * GEMM_MR, kb));
      }
  });
  // Tasks are (M block, N block) pairs, N-major inside an M block so the M block's panels stay in cache.
  int64_t* task = (int64_t*)malloc(sizeof(int64_t) * 3 * (size_t)(g.nTilesM * ((g.N + GEMM_NR - 1) / GEMM_NR)));
  const int64_t nTasks = gemmGuidedTasks(ex->threads, g.nTilesM, g.N, g.nb, task);
  pfor(ex, nTasks, 1, [&](int64_t t0, int64_t t1) {
    float* B = salloc((size_t)GEMM_KC * g.nb);
    float* rowTmp = salloc((size_t)GEMM_KC * GEMM_NR);  // decoded rows of one panel
    float* C = salloc((size_t)mcRows * g.nb);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t mi = task[3 * t];
      gemmTask(&g, mi * mcRows, imin(M, (mi + 1) * mcRows), task[3 * t + 1], task[3 * t + 2], B, rowTmp, C);
    }
    sfree(B);
    sfree(rowTmp);
    sfree(C);
  });
  free(task);
  ex->scratchFree(apTok);
}
/** The plain product y = x·wᵀ (+ bias), for callers without an epilogue. */
[[maybe_unused]] static void gemm(Exec* ex, const float* x, int64_t M, const WMat* w, const float* bias, float* y) {
  const Epilogue e{bias, nullptr, ACT_NONE};
  gemmEpi(ex, x, M, w, &e, y);
}

// Matrix-matrix product y[M,N] = x[M,K]·w[N,K]ᵀ for prefill and the vision tower: packed f32 panels and a 6×(2·W)
// FMA micro-kernel. Weight panels are decoded from any format while packing, so bf16/q8_0/q4_0 cost one decode per
// weight per MC rows of activations (on AVX2 an 8-bit GEMM is no faster than FMA, and f32 keeps prefill exact).

#define GEMM_MR 6
#define GEMM_NR (2 * QV_W)
#define GEMM_KC 256
#define GEMM_MC 192
#define GEMM_NB 64

/** The micro-kernel: C[mr, nr] (+)= A[KC][MR] · B[KC][NR]; mr ≤ 6, nr ≤ NR handled through a temp tile. */
static inline void microKernel(const float* A, const float* B, int64_t kc, float* C, int64_t ldc, int mr, int nr, bool acc) {
  vf c00 = vzero(), c01 = vzero(), c10 = vzero(), c11 = vzero(), c20 = vzero(), c21 = vzero();
  vf c30 = vzero(), c31 = vzero(), c40 = vzero(), c41 = vzero(), c50 = vzero(), c51 = vzero();
  for (int64_t k = 0; k < kc; k++) {
    const vf b0 = vload(B + k * GEMM_NR), b1 = vload(B + k * GEMM_NR + QV_W);
    const float* a = A + k * GEMM_MR;
    vf t = vset1(a[0]);
    c00 = vfma(t, b0, c00);
    c01 = vfma(t, b1, c01);
    t = vset1(a[1]);
    c10 = vfma(t, b0, c10);
    c11 = vfma(t, b1, c11);
    t = vset1(a[2]);
    c20 = vfma(t, b0, c20);
    c21 = vfma(t, b1, c21);
    t = vset1(a[3]);
    c30 = vfma(t, b0, c30);
    c31 = vfma(t, b1, c31);
    t = vset1(a[4]);
    c40 = vfma(t, b0, c40);
    c41 = vfma(t, b1, c41);
    t = vset1(a[5]);
    c50 = vfma(t, b0, c50);
    c51 = vfma(t, b1, c51);
  }
  vf rows[GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (nr == GEMM_NR) {
    for (int i = 0; i < mr; i++) {
      float* ci = C + i * ldc;
      if (acc) {
        vstore(ci, vadd(vload(ci), rows[i][0]));
        vstore(ci + QV_W, vadd(vload(ci + QV_W), rows[i][1]));
      } else {
        vstore(ci, rows[i][0]);
        vstore(ci + QV_W, rows[i][1]);
      }
    }
  } else {
    float tmp[GEMM_NR];
    for (int i = 0; i < mr; i++) {
      vstore(tmp, rows[i][0]);
      vstore(tmp + QV_W, rows[i][1]);
      float* ci = C + i * ldc;
      for (int j = 0; j < nr; j++) ci[j] = acc ? ci[j] + tmp[j] : tmp[j];
    }
  }
}

/** Pack rows [m0, m0+mr) × cols [k0, k0+kc) of x into A[kc][MR] (missing rows zero). */
static void packA(const float* x, int64_t K, int64_t m0, int mr, int64_t k0, int64_t kc, float* A) {
  for (int i = 0; i < GEMM_MR; i++) {
    if (i < mr) {
      const float* xr = x + (m0 + i) * K + k0;
      for (int64_t k = 0; k < kc; k++) A[k * GEMM_MR + i] = xr[k];
    } else {
      for (int64_t k = 0; k < kc; k++) A[k * GEMM_MR + i] = 0;
    }
  }
}

/** Pack weight rows [n0, n0+nr) × cols [k0, k0+kc) into B[kc][NR] (decoded to f32; missing rows zero). */
static void packB(const WMat* w, int64_t n0, int nr, int64_t k0, int64_t kc, float* B, float* rowTmp) {
  for (int j = 0; j < GEMM_NR; j++) {
    if (j < nr) {
      const float* src;
      if (w->dt == DT_F32) {
        src = (const float*)w->p + (n0 + j) * w->cols + k0;
      } else {
        decodeRow(w, n0 + j, k0, kc, rowTmp);
        src = rowTmp;
      }
      for (int64_t k = 0; k < kc; k++) B[k * GEMM_NR + j] = src[k];
    } else {
      for (int64_t k = 0; k < kc; k++) B[k * GEMM_NR + j] = 0;
    }
  }
}

struct GemmCtx {
  const float* x;
  const WMat* w;
  float* y;
  int64_t M, N, K, nTilesN, nTilesM, nKB;
  const float* bias;
  float* Ap;  // packed activations: [M panel][K block][KC][MR]
};

static inline const float* panelA(const GemmCtx* g, int64_t m0, int64_t kb) {
  return g->Ap + ((m0 / GEMM_MR) * g->nKB + kb) * (GEMM_KC * GEMM_MR);
}

/** One task: rows [mc0, mc1) of x against weight rows [nb0, nb1) (≤ GEMM_NB), over all of K. */
static void gemmTask(const GemmCtx* g, int64_t mc0, int64_t mc1, int64_t nb0, int64_t nb1, float* Bbuf, float* rowTmp) {
  const int64_t K = g->K, N = g->N;
  for (int64_t k0 = 0, kb = 0; k0 < K; k0 += GEMM_KC, kb++) {
    const int64_t kc = imin(GEMM_KC, K - k0);
    const int nPanels = (int)((nb1 - nb0 + GEMM_NR - 1) / GEMM_NR);
    for (int p = 0; p < nPanels; p++) {
      const int64_t n0 = nb0 + p * GEMM_NR;
      packB(g->w, n0, (int)imin(GEMM_NR, nb1 - n0), k0, kc, Bbuf + (size_t)p * GEMM_KC * GEMM_NR, rowTmp);
    }
    for (int64_t m0 = mc0; m0 < mc1; m0 += GEMM_MR) {
      const int mr = (int)imin(GEMM_MR, mc1 - m0);
      const float* A = panelA(g, m0, kb);
      for (int p = 0; p < nPanels; p++) {
        const int64_t n0 = nb0 + p * GEMM_NR;
        microKernel(A, Bbuf + (size_t)p * GEMM_KC * GEMM_NR, kc, g->y + m0 * N + n0, N, mr, (int)imin(GEMM_NR, nb1 - n0), k0 > 0);
      }
    }
  }
  if (g->bias) {
    for (int64_t m = mc0; m < mc1; m++) {
      float* ym = g->y + m * N;
      for (int64_t n = nb0; n < nb1; n++) ym[n] += g->bias[n];
    }
  }
}

static void gemm(Exec* ex, const float* x, int64_t M, const WMat* w, const float* bias, float* y) {
  GemmCtx g{x, w, y, M, w->rows, w->cols, 0, 0, 0, bias, nullptr};
  g.nTilesN = (g.N + GEMM_NB - 1) / GEMM_NB;
  g.nTilesM = (M + GEMM_MC - 1) / GEMM_MC;
  g.nKB = (g.K + GEMM_KC - 1) / GEMM_KC;
  const int64_t nPM = (M + GEMM_MR - 1) / GEMM_MR;
  g.Ap = salloc((size_t)nPM * g.nKB * GEMM_KC * GEMM_MR);
  pfor(ex, nPM, grainFor(ex, nPM, 4), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++)
      for (int64_t kb = 0; kb < g.nKB; kb++) {
        const int64_t k0 = kb * GEMM_KC;
        packA(x, g.K, p * GEMM_MR, (int)imin(GEMM_MR, M - p * GEMM_MR), k0, imin(GEMM_KC, g.K - k0), (float*)panelA(&g, p * GEMM_MR, kb));
      }
  });
  // Tasks are (M block, N block) pairs, N-major inside an M block so the M block's panels stay in cache.
  pfor(ex, g.nTilesN * g.nTilesM, 1, [&](int64_t t0, int64_t t1) {
    float* B = salloc((size_t)GEMM_KC * GEMM_NB);
    float* rowTmp = salloc(GEMM_KC);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t mi = t / g.nTilesN, ni = t % g.nTilesN;
      gemmTask(&g, mi * GEMM_MC, imin(M, (mi + 1) * GEMM_MC), ni * GEMM_NB, imin(g.N, (ni + 1) * GEMM_NB), B, rowTmp);
    }
    sfree(B);
    sfree(rowTmp);
  });
  sfree(g.Ap);
}

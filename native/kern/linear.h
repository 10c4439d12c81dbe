// linear (y = x·wᵀ + b) dispatch: matrix-vector kernels for few rows, the packed GEMM above that. With activation
// quantization on, q8_0/q4_0 weights meet q8 activations: 8-bit dot products in the matrix-vector kernels, and the
// int8 GEMM (gemmq.h: VNNI or AVX2 micro-kernels; scalar builds take the f32 GEMM on decoded panels).

/**
 * Rows of x up to which the matrix-vector kernels beat packing (weights are read once either way). With q8
 * activations the kernel takes 8 rows per pass over a weight row that stays in L1, so 9–24 decode rows (a busy
 * server's step) stay there too, bit-identical to one row (bench/micro.ts, 2B layer, 2 threads: q4_0 16 rows 6.9 ms
 * against the int8 GEMM's 9.3, 24 rows 7.5 against 8.0; at 32 the GEMM is ahead).
 */
static inline int64_t gemvMaxRows(int dt, bool quant) { return quant ? 24 : dt == DT_Q8_0 || dt == DT_Q4_0 ? 8 : 4; }

static void addBias(Exec* ex, float* y, int64_t M, int64_t N, const float* bias) {
  pfor(ex, M, grainFor(ex, M, 16), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++) {
      float* ym = y + m * N;
      int64_t n = 0;
      for (; n + QV_W <= N; n += QV_W) vstore(ym + n, vadd(vload(ym + n), vload(bias + n)));
      for (; n < N; n++) ym[n] += bias[n];
    }
  });
}

/**
 * y = [residual +] act(x·wᵀ [+ bias]). The GEMMs (f32, bf16, int8) apply it in their write-back; the matrix-vector
 * kernels write y first and the epilogue follows as its own passes (the same values either way).
 */
static void opLinearEpi(Exec* ex, const float* x, int64_t M, const WMat* w, const Epilogue* e, float* y) {
  const int64_t N = w->rows, K = w->cols;
  if (M <= 0 || N <= 0) return;
  const bool quant = (w->dt == DT_Q8_0 || w->dt == DT_Q4_0) && ex->actQuant;
  // Weights packed at load (the vision tower's) have no matrix-vector path: any M runs the GEMM.
  if (M > gemvMaxRows(w->dt, quant) || w->packed) {
    if (!(quant && gemmQ8(ex, x, M, w, e, y)) && !gemmBf16(ex, x, M, w, e, y)) gemmEpi(ex, x, M, w, e, y);
    return;
  }
  if (quant) {
    ActQ a = actQuantize(x, M, K, w->dt == DT_Q4_0);
    pfor(ex, N, gemvGrain(ex, N), [&](int64_t r0, int64_t r1) { gemvQuant(w, &a, M, r0, r1, y, N); });
    actFree(&a);
    if (e->bias) addBias(ex, y, M, N, e->bias);
  } else {
    if (!gemvBf16(ex, x, M, w, y)) {
      float* xs = gemvBf16SplitX(w, x, M);
      pfor(ex, N, gemvGrain(ex, N), [&](int64_t r0, int64_t r1) { gemvFloat(w, x, xs, M, r0, r1, y, N); });
      sfree(xs);
    }
    if (e->bias) addBias(ex, y, M, N, e->bias);
  }
  if (e->act != ACT_NONE) opGelu(ex, y, M * N, e->act == ACT_GELU_TANH, y);
  if (e->residual) opAdd(ex, e->residual, y, y, M * N);
}

static void opLinear(Exec* ex, const float* x, int64_t M, const WMat* w, const float* bias, float* y) {
  const Epilogue e{bias, nullptr, ACT_NONE};
  opLinearEpi(ex, x, M, w, &e, y);
}

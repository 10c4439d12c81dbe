// Row-wise and element-wise ops: add, RMSNorm, LayerNorm, SwiGLU, GELU (tanh and erf), rotate-half RoPE and the
// row gather. Norm statistics accumulate in double (ref does), everything else is f32 SIMD.

static void opAdd(Exec* ex, const float* a, const float* b, float* y, int64_t n) {
  pfor(ex, n, grainFor(ex, n, 1 << 14), [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + QV_W <= i1; i += QV_W) vstore(y + i, vadd(vload(a + i), vload(b + i)));
    for (; i < i1; i++) y[i] = a[i] + b[i];
  });
}

/** Σ x² (and Σ x) of d values in double. */
static inline double sumSq(const float* x, int64_t d) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t c = 0;
  for (; c + 4 <= d; c += 4) {
    s0 += (double)x[c] * x[c];
    s1 += (double)x[c + 1] * x[c + 1];
    s2 += (double)x[c + 2] * x[c + 2];
    s3 += (double)x[c + 3] * x[c + 3];
  }
  for (; c < d; c++) s0 += (double)x[c] * x[c];
  return (s0 + s1) + (s2 + s3);
}

static void opRmsNorm(Exec* ex, const float* x, const float* w, int64_t rows, int64_t d, float eps, float* y) {
  pfor(ex, rows, grainFor(ex, rows, imax(1, 4096 / d)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      const float inv = (float)(1.0 / sqrt(sumSq(xr, d) / (double)d + (double)eps));
      const vf iv = vset1(inv);
      int64_t c = 0;
      for (; c + QV_W <= d; c += QV_W) vstore(yr + c, vmul(vload(w + c), vmul(vload(xr + c), iv)));
      for (; c < d; c++) yr[c] = w[c] * (xr[c] * inv);
    }
  });
}

/**
 * Mean and Σ (x − mean)² of d values in double, on independent vector chains (one scalar double chain per pass
 * was 4 cycles per value: LayerNorm took 2% of the vision tower, more than its rope).
 */
static inline void meanVar(const float* x, int64_t d, double* meanOut, double* varOut) {
  int64_t c = 0;
  double mean = 0, var = 0;
#if QV_W >= 8
  vd s0 = vdzero(), s1 = vdzero();
  for (; c + QV_W <= d; c += QV_W) {
    vd lo, hi;
    vwiden(x + c, &lo, &hi);
    s0 = vdadd(s0, lo);
    s1 = vdadd(s1, hi);
  }
  mean = vdsum(vdadd(s0, s1));
#endif
  for (int64_t i = c; i < d; i++) mean += x[i];
  mean /= (double)d;
  c = 0;
#if QV_W >= 8
  const vd m = vdset1(mean);
  vd q0 = vdzero(), q1 = vdzero();
  for (; c + QV_W <= d; c += QV_W) {
    vd lo, hi;
    vwiden(x + c, &lo, &hi);
    lo = vdsub(lo, m);
    hi = vdsub(hi, m);
    q0 = vdfma(lo, lo, q0);
    q1 = vdfma(hi, hi, q1);
  }
  var = vdsum(vdadd(q0, q1));
#endif
  for (int64_t i = c; i < d; i++) {
    const double t = x[i] - mean;
    var += t * t;
  }
  *meanOut = mean;
  *varOut = var;
}

static void opLayerNorm(Exec* ex, const float* x, const float* w, const float* b, int64_t rows, int64_t d, float eps, float* y) {
  pfor(ex, rows, grainFor(ex, rows, imax(1, 4096 / d)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      double mean, var;
      meanVar(xr, d, &mean, &var);
      const float inv = (float)(1.0 / sqrt(var / (double)d + (double)eps));
      const float mf = (float)mean;
      const vf iv = vset1(inv), mv = vset1(mf);
      int64_t c = 0;
      for (; c + QV_W <= d; c += QV_W) vstore(yr + c, vfma(vmul(vmul(vsub(vload(xr + c), mv), iv), vload(w + c)), vset1(1.0f), vload(b + c)));
      for (; c < d; c++) yr[c] = (xr[c] - mf) * inv * w[c] + b[c];
    }
  });
}

static void opSwiglu(Exec* ex, const float* x, int64_t rows, int64_t inter, float* y) {
  pfor(ex, rows, grainFor(ex, rows, imax(1, 8192 / inter)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* g = x + r * 2 * inter;
      const float* u = g + inter;
      float* yr = y + r * inter;
      int64_t c = 0;
      const vf one = vset1(1.0f);
      for (; c + QV_W <= inter; c += QV_W) {
        const vf gv = vload(g + c);
        const vf s = vdiv(gv, vadd(one, vexp(vsub(vzero(), gv))));
        vstore(yr + c, vmul(s, vload(u + c)));
      }
      for (; c < inter; c++) yr[c] = g[c] / (1.0f + expf(-g[c])) * u[c];
    }
  });
}

static void opGelu(Exec* ex, const float* x, int64_t n, bool tanhApprox, float* y) {
  pfor(ex, n, grainFor(ex, n, 1 << 13), [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + QV_W <= i1; i += QV_W) vstore(y + i, vgelu(vload(x + i), tanhApprox));
    for (; i < i1; i++) y[i] = sgelu(x[i], tanhApprox);
  });
}

static void opRope(Exec* ex, const float* x, const float* cs, const float* sn, int64_t T, int64_t width, int64_t hd, float* y) {
  const int64_t half = hd / 2;
  pfor(ex, T, grainFor(ex, T, 4), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* c = cs + r * hd;
      const float* s = sn + r * hd;
      for (int64_t o = r * width; o < (r + 1) * width; o += hd) {
        int64_t d = 0;
        for (; d + QV_W <= half; d += QV_W) {
          const vf a = vload(x + o + d), b = vload(x + o + d + half);
          vstore(y + o + d, vsub(vmul(a, vload(c + d)), vmul(b, vload(s + d))));
          vstore(y + o + d + half, vfma(b, vload(c + d + half), vmul(a, vload(s + d + half))));
        }
        for (; d < half; d++) {
          const float a = x[o + d], b = x[o + d + half];
          y[o + d] = a * c[d] - b * s[d];
          y[o + d + half] = b * c[d + half] + a * s[d + half];
        }
      }
    }
  });
}

/** out[i] = Σ_j weights[i·k+j] · table[idx[i·k+j]] (indices checked by the caller). */
static void opGatherRows(Exec* ex, const WMat* t, const int32_t* idx, int64_t n, int k, const float* weights, float* out) {
  const int64_t D = t->cols;
  pfor(ex, n, grainFor(ex, n, 1), [&](int64_t i0, int64_t i1) {
    float* tmp = k > 1 || weights ? salloc(D) : nullptr;
    for (int64_t i = i0; i < i1; i++) {
      float* o = out + i * D;
      if (k == 1 && !weights) {
        decodeRow(t, idx[i], 0, D, o);
        continue;
      }
      for (int64_t c = 0; c < D; c++) o[c] = 0;
      for (int j = 0; j < k; j++) {
        decodeRow(t, idx[i * k + j], 0, D, tmp);
        const float wj = weights ? weights[i * k + j] : 1.0f;
        for (int64_t c = 0; c < D; c++) o[c] += wj * tmp[c];
      }
    }
    if (tmp) sfree(tmp);
  });
}

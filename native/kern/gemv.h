// Matrix-vector products for few activation rows (decode, small MoE groups): weights stream from memory once,
// four weight rows at a time against every activation row (their blocks stay in L1 between rows).
// Float formats use f32 FMA; q8_0/q4_0 use q8 activations and 8-bit dot products (maddubs, or VNNI dpbusd).

/** y[m, r] for r in [r0, r1): float weights (f32/bf16) against f32 activations. */
static void gemvFloat(const WMat* w, const float* x, int64_t M, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t K = w->cols;
  const int64_t kv = K / QV_W * QV_W;
  float* tmp = nullptr;  // decoded tail/other-format rows
  for (int64_t r = r0; r < r1; r += 4) {
    const int nr = (int)imin(4, r1 - r);
    if (w->dt == DT_F32 || w->dt == DT_BF16) {
      const bool bf = w->dt == DT_BF16;
      for (int64_t m = 0; m < M; m++) {
        const float* xm = x + m * K;
        vf acc[4] = {vzero(), vzero(), vzero(), vzero()};
        for (int64_t k = 0; k < kv; k += QV_W) {
          const vf xv = vload(xm + k);
          for (int j = 0; j < 4; j++) {
            if (j >= nr) break;
            const vf wv = bf ? vload_bf16((const uint16_t*)w->p + (r + j) * K + k) : vload((const float*)w->p + (r + j) * K + k);
            acc[j] = vfma(wv, xv, acc[j]);
          }
        }
        for (int j = 0; j < nr; j++) {
          float s = hsum(acc[j]);
          for (int64_t k = kv; k < K; k++) {
            const float wk = bf ? bf16ToF32(((const uint16_t*)w->p)[(r + j) * K + k]) : ((const float*)w->p)[(r + j) * K + k];
            s += wk * xm[k];
          }
          y[m * ldy + r + j] = s;
        }
      }
    } else {
      // Exact path for other formats (f16, or quantized weights with activation quantization off): decode rows.
      if (!tmp) tmp = salloc(4 * K);
      for (int j = 0; j < nr; j++) decodeRow(w, r + j, 0, K, tmp + j * K);
      for (int64_t m = 0; m < M; m++) {
        const float* xm = x + m * K;
        for (int j = 0; j < nr; j++) {
          vf acc = vzero();
          const float* wr = tmp + j * K;
          for (int64_t k = 0; k < kv; k += QV_W) acc = vfma(vload(wr + k), vload(xm + k), acc);
          float s = hsum(acc);
          for (int64_t k = kv; k < K; k++) s += wr[k] * xm[k];
          y[m * ldy + r + j] = s;
        }
      }
    }
  }
  if (tmp) sfree(tmp);
}

static inline float loadScale(const uint8_t* blk) {
  uint16_t h;
  memcpy(&h, blk, 2);
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return f16ToF32(h);
#endif
}

#if defined(__AVX2__)
/** Sum of 32 u8·s8 products in 8 i32 lanes. */
static inline __m256i dotU8S8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
#endif

#if defined(__AVX2__)
/** One block of one weight row against the activation block: acc += d_w·d_x·Σ w·x (8 partial lanes). */
template <bool Q4>
static inline __m256 qblock(const uint8_t* blk, __m256i xv, __m256i bias, float dx, __m256 acc) {
  __m256i p;
  if (Q4) {
    const __m128i q = _mm_loadu_si128((const __m128i*)(blk + 2));
    const __m256i wu = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    p = _mm256_sub_epi32(dotU8S8(wu, xv), bias);  // lanes sum to Σ(w−8)x = Σwx − 8Σx
  } else {
    const __m256i wq = _mm256_loadu_si256((const __m256i*)(blk + 2));
    p = dotU8S8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xv, wq));
  }
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(loadScale(blk) * dx), acc);
}

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/** NR (1 or 4) weight rows × one activation row, fully unrolled so the accumulators stay in registers. */
template <bool Q4, int NR>
static inline void qrows(const uint8_t* w0, size_t rb, int64_t nb, const int8_t* xq, const float* xd, const int32_t* xs, float* y) {
  const size_t bb = Q4 ? 18 : 34;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t b = 0; b < nb; b++) {
    const __m256i xv = _mm256_loadu_si256((const __m256i*)(xq + b * 32));
    const __m256i bias = _mm256_set1_epi32(Q4 ? xs[b] : 0);
    const float dx = xd[b];
    const uint8_t* blk = w0 + b * bb;
    a0 = qblock<Q4>(blk, xv, bias, dx, a0);
    if (NR == 4) {
      a1 = qblock<Q4>(blk + rb, xv, bias, dx, a1);
      a2 = qblock<Q4>(blk + 2 * rb, xv, bias, dx, a2);
      a3 = qblock<Q4>(blk + 3 * rb, xv, bias, dx, a3);
    }
  }
  y[0] = hsum8(a0);
  if (NR == 4) {
    y[1] = hsum8(a1);
    y[2] = hsum8(a2);
    y[3] = hsum8(a3);
  }
}
#endif

/** y[m, r] for r in [r0, r1): q8_0/q4_0 weights against q8 activations (M rows of K/32 blocks). */
static void gemvQuant(const WMat* w, const ActQ* a, int64_t M, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t K = w->cols, nb = K / 32;
  const bool q4 = w->dt == DT_Q4_0;
  const size_t bb = q4 ? 18 : 34, rb = (size_t)nb * bb;
#if defined(__AVX2__)
  for (int64_t r = r0; r < r1;) {
    const int nr = r + 4 <= r1 ? 4 : 1;
    const uint8_t* w0 = w->p + (size_t)r * rb;
    for (int64_t m = 0; m < M; m++) {
      const int8_t* xq = a->q + m * K;
      const float* xd = a->d + m * nb;
      const int32_t* xs = a->s + m * nb;
      float* ym = y + m * ldy + r;
      if (q4) nr == 4 ? qrows<true, 4>(w0, rb, nb, xq, xd, xs, ym) : qrows<true, 1>(w0, rb, nb, xq, xd, xs, ym);
      else nr == 4 ? qrows<false, 4>(w0, rb, nb, xq, xd, xs, ym) : qrows<false, 1>(w0, rb, nb, xq, xd, xs, ym);
    }
    r += nr;
  }
#else
  for (int64_t r = r0; r < r1; r++) {
    const uint8_t* wr = w->p + (size_t)r * rb;
    for (int64_t m = 0; m < M; m++) {
      const int8_t* xq = a->q + m * K;
      const float* xd = a->d + m * nb;
      float acc = 0;
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t* blk = wr + b * bb;
        const int8_t* xb = xq + b * 32;
        int32_t s = 0;
        if (q4) {
          for (int i = 0; i < 16; i++) s += ((blk[2 + i] & 15) - 8) * xb[i] + ((blk[2 + i] >> 4) - 8) * xb[i + 16];
        } else {
          const int8_t* q = (const int8_t*)(blk + 2);
          for (int i = 0; i < 32; i++) s += q[i] * xb[i];
        }
        acc += (float)s * (loadScale(blk) * xd[b]);
      }
      y[m * ldy + r] = acc;
    }
  }
#endif
}

// Matrix-vector products for few activation rows (decode, small MoE groups): weights stream from memory once,
// one weight row at a time (one sequential stream per thread) against every activation row (which stay in L1).
// Float formats use f32 FMA; q8_0/q4_0 use q8 activations and 8-bit dot products (maddubs, or VNNI dpbusd).

/** Bytes ahead of the current weight position that the matrix-vector kernels prefetch. */
#define GEMV_PF 2048

/**
 * Whether the bf16 matrix-vector kernel prefetches GEMV_PF ahead. On Intel (Sapphire Rapids-class) it kept more misses
 * in flight than the hardware prefetchers did; on AMD (Zen 4) the same prefetches cost a quarter of bf16 decode (2B,
 * 2 threads: 146–158 → 110–126 ms a token without them, A/B alternated), so there the hardware prefetchers run alone.
 */
static bool gemvBf16Prefetch() {
#if defined(__x86_64__)
  static const bool on = (__builtin_cpu_init(), !__builtin_cpu_is("amd"));
  return on;
#else
  return true;
#endif
}

/**
 * x [M, K] with each 2·QV_W block's even elements first, then its odd ones: what the bf16 matrix-vector kernel
 * multiplies (see gemvFloat), made once per linear; null where that kernel does not run (free with sfree).
 */
static float* gemvBf16SplitX(const WMat* w, const float* x, int64_t M) {
  const int64_t K = w->cols;
  if (w->dt != DT_BF16 || K % (4 * QV_W) != 0) return nullptr;
  float* xs = salloc((size_t)M * K);
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = 0; k < K; k += 2 * QV_W)
      for (int j = 0; j < QV_W; j++) xs[m * K + k + j] = x[m * K + k + 2 * j], xs[m * K + k + QV_W + j] = x[m * K + k + 2 * j + 1];
  return xs;
}

/**
 * Row chunk for the matrix-vector kernels: a multiple of 4, small (≈ 1/32 of the rows per thread) so that a thread
 * descheduled while holding a chunk (shared or oversubscribed machines) delays the op by little.
 */
static inline int64_t gemvGrain(Exec* ex, int64_t N) {
  int64_t g = N / (ex->threads * 32);
  g = g < 16 ? 16 : g;
  return (g + 3) / 4 * 4;
}

/** y[m, r] for r in [r0, r1): float weights (f32/bf16) against f32 activations; xs from gemvBf16SplitX. */
static void gemvFloat(const WMat* w, const float* x, const float* xs, int64_t M, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t K = w->cols;
  const int64_t kv = K / QV_W * QV_W;
  float* tmp = nullptr;  // decoded tail/other-format rows
  if (xs) {
    // One row at a time (a single sequential stream per thread, as in gemvQuant). Each vector of 2·QV_W bf16 weights
    // is one load split into its even and odd elements (vload_bf16_split), against x with its even and odd elements
    // split apart per 2·QV_W block (xs, once per linear): 5 instructions per 2·QV_W weights where widening each half
    // took 10, and the fewer instructions per byte, the more of the row the core has in flight (Zen 4, 2B bf16
    // decode, bench/decodeProf.ts alternated with the old kernel: median 116–124 → 107–110 ms).
    const bool pf = gemvBf16Prefetch();
    for (int64_t r = r0; r < r1; r++) {
      const uint16_t* wr = (const uint16_t*)w->p + r * K;
      for (int64_t m = 0; m < M; m++) {
        const float* xm = xs + m * K;
        vf a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
        for (int64_t k = 0; k < K; k += 4 * QV_W) {
          if (pf && m == 0)  // as in the quantized kernel (GEMV_PF): more misses in flight than the hardware prefetchers keep
            for (int o = 0; o < 4 * QV_W * 2; o += 64) prefetchL1((const char*)(wr + k) + GEMV_PF + o);
          vf e0, o0, e1, o1;
          vload_bf16_split(wr + k, &e0, &o0);
          vload_bf16_split(wr + k + 2 * QV_W, &e1, &o1);
          a0 = vfma(e0, vload(xm + k), a0);
          a1 = vfma(o0, vload(xm + k + QV_W), a1);
          a2 = vfma(e1, vload(xm + k + 2 * QV_W), a2);
          a3 = vfma(o1, vload(xm + k + 3 * QV_W), a3);
        }
        y[m * ldy + r] = hsum(vadd(vadd(a0, a1), vadd(a2, a3)));
      }
    }
    return;
  }
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
/**
 * Integer dot products of one block of one weight row with the activation block xv: 8 i32 lanes that sum to Σ w·x
 * (q4_0: Σ (w+8)·x, the unsigned nibbles; the caller subtracts 8·Σx). Used for q8_0 and for q4_0 tail blocks.
 */
template <bool Q4>
static inline __m256i qdot(const uint8_t* blk, __m256i xv) {
  if (Q4) {
    const __m128i q = _mm_loadu_si128((const __m128i*)(blk + 2));
    const __m256i wu = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    return dotU8S8(wu, xv);
  }
  const __m256i wq = _mm256_loadu_si256((const __m256i*)(blk + 2));
  return dotU8S8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xv, wq));
}

/**
 * Two q4_0 blocks (b, b+1) at once against activations packed by packActQ4: the 128-bit lanes hold the two blocks,
 * low nibbles meet xlo = [x_b[0..16) | x_b+1[0..16)] and high nibbles xhi = [x_b[16..32) | x_b+1[16..32)], so one
 * AND and one shift unpack 32 bytes. Partial sums, lanes 0–7 of the low half block b, of the high half block b+1:
 * with VNNI 4 i32 per block; without, 8 i16 per block (the two products added as i16, |Σ| ≤ 2·2·15·128 = 7680),
 * widened later by q4sum8 after two more i16 additions (4 · 7680 fits in an i16).
 */
static inline __m256i q4pairW(__m256i lo, __m256i hi, __m256i xlo, __m256i xhi) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, xlo), hi, xhi);
#else
  return _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
#endif
}

static inline __m256i q4pair(const uint8_t* blk, __m256i xlo, __m256i xhi) {
  const __m256i q = _mm256_set_m128i(_mm_loadu_si128((const __m128i*)(blk + 20)), _mm_loadu_si128((const __m128i*)(blk + 2)));
  const __m256i m = _mm256_set1_epi8(0x0f);
  return q4pairW(_mm256_and_si256(q, m), _mm256_and_si256(_mm256_srli_epi16(q, 4), m), xlo, xhi);
}

/**
 * The exact i32 sums of 8 q4_0 blocks from q4pair's partial sums of pairs (0,1) (2,3) (4,5) (6,7), in the lane order
 * 0 2 4 6 1 3 5 7 (each horizontal add keeps a 128-bit lane's block in that lane). Without VNNI the reduction stays
 * in i16 until the last step: two vphaddw and one vpmaddwd where widening each pair first took four vpmaddwd and
 * three vphaddd.
 */
static inline __m256i q4sum8(__m256i p01, __m256i p23, __m256i p45, __m256i p67) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_hadd_epi32(_mm256_hadd_epi32(p01, p23), _mm256_hadd_epi32(p45, p67));
#else
  const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(p01, p23), _mm256_hadd_epi16(p45, p67));
  return _mm256_madd_epi16(h, _mm256_set1_epi16(1));
#endif
}

/** Lane-wise sums of 8 vectors: lane i of the result = Σ lanes of p[i] (one i32 per block, in block order). */
static inline __m256i hsum8x8(__m256i p0, __m256i p1, __m256i p2, __m256i p3, __m256i p4, __m256i p5, __m256i p6, __m256i p7) {
  const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));  // [0..3 lo | 0..3 hi]
  const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p4, p5), _mm256_hadd_epi32(p6, p7));
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

/** The f16 scales of 8 consecutive blocks (byte stride bb) as f32, lane i from block ord[i]. */
static inline __m256 scales8(const uint8_t* blk, size_t bb, const int* ord) {
  // Inserted straight into a vector (one vpinsrw with a memory operand each): cheaper than a gather on Zen 3, and
  // where the 8 halves went through a stack buffer the vector load waited for 8 stores it could not be forwarded from.
  uint16_t h0;
  memcpy(&h0, blk + ord[0] * bb, 2);
  __m128i h = _mm_cvtsi32_si128(h0);
#define QV_SC(i) do { uint16_t t; memcpy(&t, blk + ord[i] * bb, 2); h = _mm_insert_epi16(h, t, i); } while (0)
  QV_SC(1); QV_SC(2); QV_SC(3); QV_SC(4); QV_SC(5); QV_SC(6); QV_SC(7);
#undef QV_SC
  return _mm256_cvtph_ps(h);
}

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/**
 * NR weight rows × one activation row. Eight blocks at a time: per row, eight integer dot products are reduced to one
 * vector of per-block sums, converted once and scaled by the 8 weight × activation scales in one FMA; the per-block
 * float work (scale load, convert, broadcast, FMA) that dominated a block's cost is amortised 8×.
 */
template <bool Q4, int NR>
static inline void qrows(const uint8_t* w0, size_t rb, int64_t nb, const int8_t* xq, const float* xd, const int32_t* xs, float* y) {
  static const int kNat[8] = {0, 1, 2, 3, 4, 5, 6, 7}, kPair[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  const size_t bb = Q4 ? 18 : 34;
  __m256 acc[NR];
  for (int j = 0; j < NR; j++) acc[j] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    // Software prefetch GEMV_PF bytes ahead (rows are contiguous, so this runs into the next rows): the hardware
    // prefetchers alone kept too few misses in flight on a Sapphire Rapids-class core (q4_0, one thread, weights
    // from DRAM: 7.5 → 12.4 GB/s; q8_0 11.6 → 13.3; 1–4 KiB ahead all help, 2 KiB best).
    for (size_t o = 0; o < 8 * bb; o += 64) prefetchL1((const char*)w0 + b * bb + GEMV_PF + o);
    const int8_t* xb = xq + b * 32;
    const __m256i x0 = _mm256_loadu_si256((const __m256i*)xb), x1 = _mm256_loadu_si256((const __m256i*)(xb + 32));
    const __m256i x2 = _mm256_loadu_si256((const __m256i*)(xb + 64)), x3 = _mm256_loadu_si256((const __m256i*)(xb + 96));
    const __m256i x4 = _mm256_loadu_si256((const __m256i*)(xb + 128)), x5 = _mm256_loadu_si256((const __m256i*)(xb + 160));
    const __m256i x6 = _mm256_loadu_si256((const __m256i*)(xb + 192)), x7 = _mm256_loadu_si256((const __m256i*)(xb + 224));
    const __m256 dx = _mm256_loadu_ps(xd + b);  // in the lane order of the sums below (packActQ4 permutes q4's)
    const __m256i bias = Q4 ? _mm256_slli_epi32(_mm256_loadu_si256((const __m256i*)(xs + b)), 3) : _mm256_setzero_si256();
    for (int j = 0; j < NR; j++) {
      const uint8_t* blk = w0 + j * rb + b * bb;
      __m256i s;
      if (Q4) {
        // Pairs (0,1) (2,3) (4,5) (6,7); block sums in the order 0 2 4 6 1 3 5 7.
        const __m256i p01 = q4pair(blk, x0, x1), p23 = q4pair(blk + 2 * bb, x2, x3);
        const __m256i p45 = q4pair(blk + 4 * bb, x4, x5), p67 = q4pair(blk + 6 * bb, x6, x7);
        s = _mm256_sub_epi32(q4sum8(p01, p23, p45, p67), bias);
      } else {
        s = hsum8x8(qdot<Q4>(blk, x0), qdot<Q4>(blk + bb, x1), qdot<Q4>(blk + 2 * bb, x2), qdot<Q4>(blk + 3 * bb, x3),
                    qdot<Q4>(blk + 4 * bb, x4), qdot<Q4>(blk + 5 * bb, x5), qdot<Q4>(blk + 6 * bb, x6), qdot<Q4>(blk + 7 * bb, x7));
      }
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(scales8(blk, bb, Q4 ? kPair : kNat), dx), acc[j]);
    }
  }
  float tail[NR];
  for (int j = 0; j < NR; j++) tail[j] = 0;
  for (; b < nb; b++) {  // rows whose block count is not a multiple of 8 (e.g. K = 1152)
    const __m256i xv = _mm256_loadu_si256((const __m256i*)(xq + b * 32));
    for (int j = 0; j < NR; j++) {
      const uint8_t* blk = w0 + j * rb + b * bb;
      __m256i p = qdot<Q4>(blk, xv);
      const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
      int32_t v = _mm_extract_epi32(h, 0) + _mm_extract_epi32(h, 1) + _mm_extract_epi32(h, 2) + _mm_extract_epi32(h, 3);
      if (Q4) v -= 8 * xs[b];
      tail[j] += (float)v * (loadScale(blk) * xd[b]);
    }
  }
  for (int j = 0; j < NR; j++) y[j] = hsum8(acc[j]) + tail[j];
}
#endif

#if defined(__AVX2__)
/**
 * One weight row against MR activation rows (batched decode): each run of 8 blocks is loaded, unpacked and its scales
 * converted once for all MR rows, instead of once per row. Per row the integer dot products, their reduction and the
 * FMA are those of qrows<Q4, 1>, in the same order, so every output equals the one-row kernel's bit for bit (a
 * sequence decodes the same tokens alone or in a batch).
 */
template <bool Q4, int MR>
static inline void qcols(const uint8_t* w0, int64_t nb, const int8_t* xq, const float* xd, const int32_t* xs, int64_t K, float* y, int64_t ldy) {
  static const int kNat[8] = {0, 1, 2, 3, 4, 5, 6, 7}, kPair[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  const size_t bb = Q4 ? 18 : 34;
  const int64_t nbx = K / 32;
  __m256 acc[MR];
  for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const uint8_t* blk = w0 + b * bb;
    for (size_t o = 0; o < 8 * bb; o += 64) prefetchL1((const char*)blk + GEMV_PF + o);  // as qrows
    const __m256 ws = scales8(blk, bb, Q4 ? kPair : kNat);
    __m256i wa[8], wb[8];
    if (Q4) {
      const __m256i mk = _mm256_set1_epi8(0x0f);
      for (int p = 0; p < 4; p++) {
        const uint8_t* bp = blk + 2 * p * bb;
        const __m256i q = _mm256_set_m128i(_mm_loadu_si128((const __m128i*)(bp + 20)), _mm_loadu_si128((const __m128i*)(bp + 2)));
        wa[p] = _mm256_and_si256(q, mk);
        wb[p] = _mm256_and_si256(_mm256_srli_epi16(q, 4), mk);
      }
    } else {
      for (int i = 0; i < 8; i++) {
        wb[i] = _mm256_loadu_si256((const __m256i*)(blk + i * bb + 2));
        wa[i] = _mm256_sign_epi8(wb[i], wb[i]);
      }
    }
    for (int m = 0; m < MR; m++) {
      const int8_t* xb = xq + m * K + b * 32;
      __m256i x[8];
      for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_si256((const __m256i*)(xb + 32 * i));
      const __m256 dx = _mm256_loadu_ps(xd + m * nbx + b);
      __m256i s;
      if (Q4) {
        __m256i pr[4];
        for (int p = 0; p < 4; p++) pr[p] = q4pairW(wa[p], wb[p], x[2 * p], x[2 * p + 1]);
        const __m256i bias = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i*)(xs + m * nbx + b)), 3);
        s = _mm256_sub_epi32(q4sum8(pr[0], pr[1], pr[2], pr[3]), bias);
      } else {
        __m256i d[8];
        for (int i = 0; i < 8; i++) d[i] = dotU8S8(wa[i], _mm256_sign_epi8(x[i], wb[i]));
        s = hsum8x8(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
      }
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(ws, dx), acc[m]);
    }
  }
  for (int m = 0; m < MR; m++) {
    float tail = 0;
    for (int64_t c = b; c < nb; c++) {  // as qrows' tail, per row
      const uint8_t* blk = w0 + c * bb;
      __m256i p = qdot<Q4>(blk, _mm256_loadu_si256((const __m256i*)(xq + m * K + c * 32)));
      const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
      int32_t v = _mm_extract_epi32(h, 0) + _mm_extract_epi32(h, 1) + _mm_extract_epi32(h, 2) + _mm_extract_epi32(h, 3);
      if (Q4) v -= 8 * xs[m * nbx + c];
      tail += (float)v * (loadScale(blk) * xd[m * nbx + c]);
    }
    y[m * ldy] = hsum8(acc[m]) + tail;
  }
}

/** Rows [m0, m0 + mr) of the activations against weight row w0 (mr ≤ 8), through qcols. */
template <bool Q4>
static inline void qcolsN(int mr, const uint8_t* w0, int64_t nb, const int8_t* xq, const float* xd, const int32_t* xs, int64_t K, float* y, int64_t ldy) {
  switch (mr) {
    case 1: return qcols<Q4, 1>(w0, nb, xq, xd, xs, K, y, ldy);
    case 2: return qcols<Q4, 2>(w0, nb, xq, xd, xs, K, y, ldy);
    case 3: return qcols<Q4, 3>(w0, nb, xq, xd, xs, K, y, ldy);
    case 4: return qcols<Q4, 4>(w0, nb, xq, xd, xs, K, y, ldy);
    case 5: return qcols<Q4, 5>(w0, nb, xq, xd, xs, K, y, ldy);
    case 6: return qcols<Q4, 6>(w0, nb, xq, xd, xs, K, y, ldy);
    case 7: return qcols<Q4, 7>(w0, nb, xq, xd, xs, K, y, ldy);
    default: return qcols<Q4, 8>(w0, nb, xq, xd, xs, K, y, ldy);
  }
}
#endif

#include "qcols512.h"

/**
 * Reorder q8 activations for the q4_0 pair kernel: in each run of 8 whole blocks, pairs (b, b+1) become
 * [x_b[0..16) x_b+1[0..16) x_b[16..32) x_b+1[16..32)] and the scales and sums take the lane order 0 2 4 6 1 3 5 7 of
 * the reduced block sums. Blocks past the last run of 8 stay as they are (the per-block tail path reads them).
 */
static inline void packActQ4(int8_t* q, float* d, int32_t* s, int64_t nb) {
#if defined(__AVX2__)
  static const int kPair[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (int64_t g = 0; g + 8 <= nb; g += 8) {
    int8_t t[256];
    float td[8];
    int32_t ts[8];
    memcpy(t, q + g * 32, 256);
    for (int p = 0; p < 4; p++) {
      const int8_t *a = t + p * 64, *b = a + 32;
      int8_t* o = q + g * 32 + p * 64;
      memcpy(o, a, 16);
      memcpy(o + 16, b, 16);
      memcpy(o + 32, a + 16, 16);
      memcpy(o + 48, b + 16, 16);
    }
    for (int i = 0; i < 8; i++) {
      td[i] = d[g + kPair[i]];
      ts[i] = s[g + kPair[i]];
    }
    memcpy(d + g, td, sizeof td);
    memcpy(s + g, ts, sizeof ts);
  }
#else
  (void)q, (void)d, (void)s, (void)nb;
#endif
}

/**
 * M rows of x quantized to q8 for gemvQuant, in the layout of the kernel that will read them: for several rows on
 * AVX-512 VNNI, packAct512's group-major packing (in a->q; d and s folded in); otherwise row-major blocks (q4_0 in
 * packActQ4's pair order).
 */
static inline ActQ actQuantize(const float* x, int64_t M, int64_t K, bool q4) {
  const int64_t nb = K / 32;
  ActQ a;
  a.q = (int8_t*)salloc((size_t)(M * K + 3) / 4);
  a.d = salloc((size_t)(M * nb));
  a.s = (int32_t*)salloc((size_t)(M * nb));
  for (int64_t m = 0; m < M; m++) quantizeAct(x + m * K, K, a.q + m * K, a.d + m * nb, a.s + m * nb);
#if defined(QV_QCOLS512)
  if (M > 1) {
    uint8_t* p = (uint8_t*)salloc((size_t)((nb + 15) / 16 * M * QC_GROUP / 4));
    packAct512(a.q, a.d, a.s, M, nb, q4, p);
    sfree(a.q), sfree(a.d), sfree(a.s);
    a.q = (int8_t*)p, a.d = nullptr, a.s = nullptr;
    return a;
  }
#endif
#if defined(__AVX2__)
  if (q4)
    for (int64_t m = 0; m < M; m++) packActQ4(a.q + m * K, a.d + m * nb, a.s + m * nb, nb);
#endif
  return a;
}

static inline void actFree(ActQ* a) { sfree(a->q), sfree(a->d), sfree(a->s); }

/** y[m, r] for r in [r0, r1): q8_0/q4_0 weights against q8 activations (M rows, from actQuantize). */
static void gemvQuant(const WMat* w, const ActQ* a, int64_t M, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t K = w->cols, nb = K / 32;
  const bool q4 = w->dt == DT_Q4_0;
  const size_t bb = q4 ? 18 : 34, rb = (size_t)nb * bb;
#if defined(QV_QCOLS512) || defined(__AVX2__)
  // One weight row at a time: a single sequential stream per thread is what the hardware prefetchers follow best.
  // Interleaving 4 rows (to share the activation loads) measured 2× slower from DRAM (4.5 vs 11 GB/s on one Zen 3
  // core) although faster from cache; the activations stay in L1 either way.
  for (int64_t r = r0; r < r1; r++) {
    const uint8_t* w0 = w->p + (size_t)r * rb;
    if (M == 1) {
      if (q4) qrows<true, 1>(w0, rb, nb, a->q, a->d, a->s, y + r);
      else qrows<false, 1>(w0, rb, nb, a->q, a->d, a->s, y + r);
      continue;
    }
    // Several rows (batched decode): the weight row is unpacked once per 8 activation rows, each row's result the
    // same bits as qrows gives it alone.
    for (int64_t m = 0; m < M; m += 8) {
      const int mr = (int)imin(8, M - m);
#if defined(QV_QCOLS512)
      const uint8_t* xp = (const uint8_t*)a->q + m * QC_GROUP;
      if (q4) qcols512N<true>(mr, w0, nb, xp, M * QC_GROUP, y + m * ldy + r, ldy);
      else qcols512N<false>(mr, w0, nb, xp, M * QC_GROUP, y + m * ldy + r, ldy);
#else
      if (q4) qcolsN<true>(mr, w0, nb, a->q + m * K, a->d + m * nb, a->s + m * nb, K, y + m * ldy + r, ldy);
      else qcolsN<false>(mr, w0, nb, a->q + m * K, a->d + m * nb, a->s + m * nb, K, y + m * ldy + r, ldy);
#endif
    }
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

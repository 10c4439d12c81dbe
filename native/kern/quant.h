// Block formats: decoding any weight row to f32, encoding f32 to q8_0/q4_0 bit-identically to src/tensor/quant.ts
// (double arithmetic, as JavaScript does), and the internal q8 activation format used against quantized weights.

/** Decode values [c0, c0+n) of row r of w to f32 (c0 and n multiples of 32 for quantized formats). */
static void decodeRow(const WMat* w, int64_t r, int64_t c0, int64_t n, float* out) {
  const uint8_t* row = w->p + (size_t)r * rowBytes(w->dt, w->cols);
  switch (w->dt) {
    case DT_F32:
      memcpy(out, (const float*)row + c0, n * 4);
      return;
    case DT_BF16: {
      const uint16_t* s = (const uint16_t*)row + c0;
      int64_t i = 0;
      for (; i + QV_W <= n; i += QV_W) vstore(out + i, vload_bf16(s + i));
      for (; i < n; i++) out[i] = bf16ToF32(s[i]);
      return;
    }
    case DT_F16: {
      const uint16_t* s = (const uint16_t*)row + c0;
      for (int64_t i = 0; i < n; i++) out[i] = f16ToF32(s[i]);
      return;
    }
    case DT_Q8_0:
      for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t* blk = row + (c0 / 32 + b) * 34;
        uint16_t h;
        memcpy(&h, blk, 2);
        const float d = f16ToF32(h);
        const int8_t* q = (const int8_t*)(blk + 2);
#if defined(__AVX2__)
        // Same products as the scalar loop (int → float is exact), 8 at a time: the GEMM decodes every weight panel.
        const __m256 dv = _mm256_set1_ps(d);
        for (int i = 0; i < 32; i += 8)
          _mm256_storeu_ps(out + b * 32 + i, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(q + i))))));
        continue;
#endif
        for (int i = 0; i < 32; i++) out[b * 32 + i] = d * (float)q[i];
      }
      return;
    case DT_Q4_0:
      for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t* blk = row + (c0 / 32 + b) * 18;
        uint16_t h;
        memcpy(&h, blk, 2);
        const float d = f16ToF32(h);
#if defined(__AVX2__)
        {
          const __m128i q = _mm_loadu_si128((const __m128i*)(blk + 2)), m = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
          const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m), eight), hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m), eight);
          const __m256 dv = _mm256_set1_ps(d);
          float* o = out + b * 32;
          _mm256_storeu_ps(o, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
          _mm256_storeu_ps(o + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
          _mm256_storeu_ps(o + 16, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
          _mm256_storeu_ps(o + 24, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
          continue;
        }
#endif
        for (int i = 0; i < 16; i++) {
          out[b * 32 + i] = d * (float)((blk[2 + i] & 15) - 8);
          out[b * 32 + i + 16] = d * (float)((blk[2 + i] >> 4) - 8);
        }
      }
      return;
  }
}

/** One q8_0 block from 32 floats (quant.ts semantics: Math.round = floor(v + 0.5), scale stored as f16). */
static inline void encodeQ8Block(const float* x, uint8_t* o) {
#if defined(__AVX2__)
  // Same double arithmetic as JavaScript, four lanes at a time: bit-identical to the scalar form below.
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < 32; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(x + i)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  const double amax = (double)_mm_cvtss_f32(h);
  const double d = amax / 127, id = d != 0 ? 1 / d : 0;
  const uint16_t hs = f32ToF16((float)d);
  memcpy(o, &hs, 2);
  const __m256d vid = _mm256_set1_pd(id), half = _mm256_set1_pd(0.5);
  for (int i = 0; i < 32; i += 8) {
    const __m256 xf = _mm256_loadu_ps(x + i);
    const __m128i a = _mm256_cvttpd_epi32(_mm256_floor_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xf)), vid), half)));
    const __m128i b = _mm256_cvttpd_epi32(_mm256_floor_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(xf, 1)), vid), half)));
    const __m128i w = _mm_packs_epi32(a, b);
    _mm_storel_epi64((__m128i*)(o + 2 + i), _mm_packs_epi16(w, w));
  }
#else
  double amax = 0;
  for (int i = 0; i < 32; i++) {
    double a = x[i] < 0 ? -(double)x[i] : (double)x[i];
    if (a > amax) amax = a;
  }
  const double d = amax / 127, id = d != 0 ? 1 / d : 0;
  const uint16_t h = f32ToF16((float)d);
  memcpy(o, &h, 2);
  for (int i = 0; i < 32; i++) o[2 + i] = (uint8_t)(int8_t)floor((double)x[i] * id + 0.5);
#endif
}

/** One q4_0 block: the signed value of largest magnitude maps to -8 (ggml's choice). */
static inline void encodeQ4Block(const float* x, uint8_t* o) {
  double amax = 0, max = 0;
  for (int i = 0; i < 32; i++) {
    double a = x[i] < 0 ? -(double)x[i] : (double)x[i];
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  const double d = max / -8, id = d != 0 ? 1 / d : 0;
  const uint16_t h = f32ToF16((float)d);
  memcpy(o, &h, 2);
#if defined(__AVX2__)
  // trunc(v + 8.5) with v ≥ −8 is floor; min 15; lanes i and i+16 share a byte.
  const __m256d vid = _mm256_set1_pd(id), off = _mm256_set1_pd(8.5);
  int32_t q[32];
  for (int i = 0; i < 32; i += 4) {
    const __m256d v = _mm256_add_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), vid), off);  // no FMA: JS rounds twice
    _mm_storeu_si128((__m128i*)(q + i), _mm_min_epi32(_mm256_cvttpd_epi32(_mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC)), _mm_set1_epi32(15)));
  }
  for (int i = 0; i < 16; i++) o[2 + i] = (uint8_t)(q[i] | (q[i + 16] << 4));
#else
  for (int i = 0; i < 16; i++) {
    int lo = (int)trunc((double)x[i] * id + 8.5), hi = (int)trunc((double)x[i + 16] * id + 8.5);
    lo = lo > 15 ? 15 : lo;
    hi = hi > 15 ? 15 : hi;
    o[2 + i] = (uint8_t)(lo | (hi << 4));
  }
#endif
}

/**
 * q8 activations: per 32 values an int8 block, an f32 scale and the block's sum of quants (for the unsigned-nibble
 * trick of q4_0). Internal only, so the scale stays f32 (more accurate than ggml's f16 and no conversion).
 */
struct ActQ {
  int8_t* q;
  float* d;
  int32_t* s;
};

/** A 32-value activation block's scale d = amax/127 (returned) and the quantizing factor 127/amax (0 where d is 0). */
static inline float actBlockScale(const float* xb, float* id) {
  vf m = vzero();
  for (int i = 0; i < 32; i += QV_W) m = vmax(m, vabs(vload(xb + i)));
  const float amax = hmax(m);
  const float db = amax / 127.0f;
  *id = db != 0 ? 127.0f / amax : 0.0f;
  return db;
}

#if defined(__AVX2__)
/** v[i] = the block's quants 8i..8i+7 as i32, (int)round(x·id); the int8 quant is each one's low byte (the two differ
 * only for non-finite inputs). Shared with the int8 GEMM's i16 packing (gemmq.h), so both quantize alike. */
static inline void actBlockQuants(const float* xb, float id, __m256i (&v)[4]) {
  for (int i = 0; i < 4; i++)
    v[i] = _mm256_cvttps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 8 * i), _mm256_set1_ps(id)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

static inline void quantizeAct(const float* x, int64_t k, int8_t* q, float* d, int32_t* s) {
  for (int64_t b = 0; b < k / 32; b++) {
    const float* xb = x + b * 32;
    float id;
    d[b] = actBlockScale(xb, &id);
#if defined(__AVX2__)
    // The scalar loop below in vector ops (bit for bit, non-finite inputs included): each i32's low byte, as the
    // int8_t cast keeps it, through unsigned packs of v & 0xff (nothing saturates), and the i32 sum.
    __m256i v[4], l[4];
    actBlockQuants(xb, id, v);
    for (int i = 0; i < 4; i++) l[i] = _mm256_and_si256(v[i], _mm256_set1_epi32(0xff));
    const __m256i w = _mm256_packus_epi16(_mm256_packus_epi32(l[0], l[1]), _mm256_packus_epi32(l[2], l[3]));  // 32-bit units 0 2 4 6 1 3 5 7
    _mm256_storeu_si256((__m256i*)(q + b * 32), _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i t = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
    const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    const __m128i h2 = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    s[b] = _mm_cvtsi128_si32(_mm_add_epi32(h2, _mm_shuffle_epi32(h2, 0xb1)));
#else
    int32_t sum = 0;
    float tmp[32];
    for (int i = 0; i < 32; i += QV_W) vstore(tmp + i, vround(vmul(vload(xb + i), vset1(id))));
    for (int i = 0; i < 32; i++) {
      int v = (int)tmp[i];
      q[b * 32 + i] = (int8_t)v;
      sum += v;
    }
    s[b] = sum;
#endif
  }
}

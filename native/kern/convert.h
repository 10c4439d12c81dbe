// Weight conversion on upload (quantize while loading): f32/bf16/f16 rows to f32, bf16, q8_0 or q4_0, in parallel
// over rows. Quantized output is bit-identical to src/tensor/quant.ts, so native and host paths agree exactly.

static void opConvert(Exec* ex, const void* src, int srcDt, int64_t rows, int64_t cols, void* dst, int dstDt) {
  const size_t sRow = rowBytes(srcDt, cols), dRow = rowBytes(dstDt, cols);
  pfor(ex, rows, grainFor(ex, rows, imax(1, 65536 / imax(cols, 1))), [&](int64_t r0, int64_t r1) {
    float* tmp = salloc((size_t)cols);
    for (int64_t r = r0; r < r1; r++) {
      const uint8_t* s = (const uint8_t*)src + (size_t)r * sRow;
      uint8_t* d = (uint8_t*)dst + (size_t)r * dRow;
      if (srcDt == dstDt) {
        memcpy(d, s, sRow);
        continue;
      }
      const WMat view{srcDt, s, 1, cols};
      decodeRow(&view, 0, 0, cols, tmp);
      switch (dstDt) {
        case DT_F32:
          memcpy(d, tmp, (size_t)cols * 4);
          break;
        case DT_BF16:
          for (int64_t c = 0; c < cols; c++) ((uint16_t*)d)[c] = f32ToBf16(tmp[c]);
          break;
        case DT_Q8_0:
          for (int64_t b = 0; b < cols / 32; b++) encodeQ8Block(tmp + b * 32, d + b * 34);
          break;
        case DT_Q4_0:
          for (int64_t b = 0; b < cols / 32; b++) encodeQ4Block(tmp + b * 32, d + b * 18);
          break;
      }
    }
    sfree(tmp);
  });
}

static double opReadPass(Exec* ex, const uint8_t* p, size_t n) {
  const int64_t chunks = (int64_t)(n / 4096);
  float* part = salloc((size_t)ex->threads * 64 + (size_t)chunks);
  pfor(ex, chunks, grainFor(ex, chunks, 256, 1), [&](int64_t c0, int64_t c1) {
    vf a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
    for (int64_t c = c0; c < c1; c++) {
      const float* f = (const float*)(p + c * 4096);
      for (int i = 0; i < 1024; i += 4 * QV_W) {
        a0 = vadd(a0, vload(f + i));
        a1 = vadd(a1, vload(f + i + QV_W));
        a2 = vadd(a2, vload(f + i + 2 * QV_W));
        a3 = vadd(a3, vload(f + i + 3 * QV_W));
        // Keep the loads in address order: GCC -O3 unrolled the page and issued the a2/a3 loads of all of it before
        // the a0/a1 ones, and that order read 21–25 GB/s on a Zen 4 where this loop in order reads 32–34 (so the
        // bench's "% of read bw" column came out above 100%).
        __asm__ volatile("" ::: "memory");
      }
    }
    part[c0] = hsum(vadd(vadd(a0, a1), vadd(a2, a3)));
  });
  double s = 0;
  for (int64_t c = 0; c < chunks; c++) s += part[c];
  sfree(part);
  return s;
}

/**
 * The FP32 FMA peak: `iters` steps of 12 independent FMA chains (enough to cover FMA latency × ports on every x86
 * core we target) on every pool thread; returns the FLOPs done. Operands stay in registers, so this is the roof.
 * kind 1 and 2 give the int8 GEMM's roof instead (ops = 2 per 8-bit product), the instruction sequence its
 * micro-kernels issue per 32 products with operands in registers: VNNI `vpdpbusd` (both kinds); AVX2 q8_0 two i16
 * madd + add (1), q4_0 maddubs + i16 add (2). Returns 0 where this build has no int8 kernel.
 */
static double opFmaPeak(Exec* ex, int64_t iters, int kind) {
#if !defined(__AVX2__)
  if (kind != 0) return 0;
#endif
  float* sink = salloc((size_t)ex->threads * 64);
  pfor(ex, ex->threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      if (kind == 0) {
        vf c[12];
        for (int i = 0; i < 12; i++) c[i] = vset1(1.0f + (float)i * 1e-3f);
        const vf a = vset1(0.999999f), b = vset1(1e-7f);
        for (int64_t it = 0; it < iters; it++) {
          for (int i = 0; i < 12; i++) c[i] = vfma(c[i], a, b);
        }
        vf s = c[0];
        for (int i = 1; i < 12; i++) s = vadd(s, c[i]);
        sink[t * 16] = hsum(s);
        continue;
      }
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
      __m512i c[12];
      for (int i = 0; i < 12; i++) c[i] = _mm512_set1_epi32(i);
      const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
      for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) c[i] = _mm512_dpbusd_epi32(c[i], a, b);
      for (int i = 1; i < 12; i++) c[0] = _mm512_add_epi32(c[0], c[i]);
      sink[t * 16] = (float)_mm512_reduce_add_epi32(c[0]);
#elif defined(__AVX2__)
      // The micro-kernel's 4 × 2 tile per k-quad (q8_0: two k-pairs): two weight vectors, four activation
      // broadcasts. Empty asm statements mark the operands as new each time (as the kernel's loads are), so nothing
      // is hoisted or shared between rows, without adding instructions.
      __m256i c[8];
      for (int i = 0; i < 8; i++) c[i] = _mm256_set1_epi32(i);
      __m256i w0 = _mm256_set1_epi8(-2), w1 = _mm256_set1_epi8(5), a = _mm256_set1_epi8(3);
      for (int64_t it = 0; it < iters; it++) {
        __asm__("" : "+x"(w0), "+x"(w1));
        const __m256i u0 = w0, u1 = w1;
        for (int i = 0; i < 4; i++) {
          __asm__("" : "+x"(a));
          if (kind == 1) {
            // q8_0: two k-pair steps (16 i16 products each) per 32 products, as the kernel's two q8Steps.
            c[2 * i] = _mm256_add_epi32(c[2 * i], _mm256_madd_epi16(a, w0));
            c[2 * i + 1] = _mm256_add_epi32(c[2 * i + 1], _mm256_madd_epi16(a, w1));
            __asm__("" : "+x"(a));
            c[2 * i] = _mm256_add_epi32(c[2 * i], _mm256_madd_epi16(a, w1));
            c[2 * i + 1] = _mm256_add_epi32(c[2 * i + 1], _mm256_madd_epi16(a, w0));
          } else {
            c[2 * i] = _mm256_add_epi16(c[2 * i], _mm256_maddubs_epi16(u0, a));
            c[2 * i + 1] = _mm256_add_epi16(c[2 * i + 1], _mm256_maddubs_epi16(u1, a));
          }
        }
      }
      for (int i = 1; i < 8; i++) c[0] = _mm256_add_epi32(c[0], c[i]);
      sink[t * 16] = (float)_mm256_extract_epi32(c[0], 0);
#endif
    }
  });
  sfree(sink);
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  if (kind != 0) return (double)ex->threads * (double)iters * 12.0 * 64 * 2.0;
#endif
  if (kind != 0) return (double)ex->threads * (double)iters * 8.0 * 32 * 2.0;
  return (double)ex->threads * (double)iters * 12.0 * QV_W * 2.0;
}

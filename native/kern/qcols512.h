// The AVX-512 VNNI matrix-vector kernel for q8_0/q4_0 weights (one row and batched decode alike): 16 blocks per step,
// one i32 lane per block, so the integer dot products need no horizontal reduction. Included by gemv.h.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define QV_QCOLS512 1

/** Bytes of one activation row's group of 16 blocks as packed by packAct512: 8 operands of 64, then d and −c·Σx. */
#define QC_GROUP 640

/**
 * Lay out M rows of q8 activations (quantizeAct's: q [M, nb·32], d and s [M, nb]) for qcols512, group-major so that
 * the rows' data for one group of 16 blocks is one contiguous run (one stream, whatever M): out[(g·M + m)·640 ...].
 * In a group, dword t of block j goes to byte 64·t + 4·j (operand t of the group's 8 dot products holds bytes 4t..4t+3
 * of all 16 blocks), then the 16 scales, then the dot products' starting values −c·Σx (c = 8 for q4_0's unsigned
 * nibbles w+8, 128 for q8_0 taken as w+128), so the integer sums come out as Σ w·x with no correction. Blocks past nb
 * in the last group are zero.
 */
static inline void packAct512(const int8_t* q, const float* d, const int32_t* s, int64_t M, int64_t nb, bool q4, uint8_t* out) {
  const int c = q4 ? 8 : 128;
  const __m512i idx = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120);
  for (int64_t g = 0; g * 16 < nb; g++) {
    const int64_t b = g * 16, r = imin(16, nb - b);
    const __mmask16 mk = (__mmask16)((1u << r) - 1);
    for (int64_t m = 0; m < M; m++) {
      uint8_t* o = out + (g * M + m) * QC_GROUP;
      const int32_t* t = (const int32_t*)(q + m * nb * 32 + b * 32);  // block j's 8 dwords at t[8j..8j+8)
      for (int u = 0; u < 8; u++)
        _mm512_storeu_si512(o + 64 * u, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, _mm512_add_epi32(idx, _mm512_set1_epi32(u)), t, 4));
      _mm512_storeu_ps(o + 512, _mm512_maskz_loadu_ps(mk, d + m * nb + b));
      _mm512_storeu_si512(o + 576, _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(mk, s + m * nb + b), _mm512_set1_epi32(-c)));
    }
  }
}

/**
 * One weight row against MR activation rows packed by packAct512 (xp: the first row's first group; gs: bytes from one
 * group to the next). Weights: per group, gathers of one dword per block (the f16 scale, then the nibbles or bytes),
 * unpacked once for all MR rows. Per row: 8 dpbusd from the −c·Σx start give the 16 blocks' exact i32 sums, then one
 * convert and one FMA with weight × activation scales into 16 float lanes, reduced once at the end. Integer sums are
 * exact and the float work is per row in a fixed order, so a row's result is the same bits whatever MR is (a sequence
 * decodes the same tokens alone or in a batch).
 */
template <bool Q4, int MR>
static inline void qcols512(const uint8_t* w0, int64_t nb, const uint8_t* xp, int64_t gs, float* y, int64_t ldy) {
  const int bb = Q4 ? 18 : 34;
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(bb));
  const __m512i lo4 = _mm512_set1_epi8(0x0f), sgn = _mm512_set1_epi8((char)0x80);
  __m512 acc[MR];
  for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b += 16, xp += gs) {
    const uint8_t* blk = w0 + b * bb;
    const __mmask16 mk = (__mmask16)((1u << imin(16, nb - b)) - 1);
    // As qrows: software prefetch GEMV_PF bytes ahead (rows are contiguous, so this runs into the next rows).
    for (int o = 0; o < 16 * bb; o += 64) prefetchL1((const char*)blk + GEMV_PF + o);
    const __m512 ws = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, idx, blk, 1)));
    __m512i wq[8];
    if (Q4) {
      for (int u = 0; u < 4; u++) {
        const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, idx, blk + 2 + 4 * u, 1);
        wq[u] = _mm512_and_si512(v, lo4);                           // elements 4u..4u+3
        wq[u + 4] = _mm512_and_si512(_mm512_srli_epi32(v, 4), lo4);  // elements 16+4u..16+4u+3
      }
    } else {
      for (int u = 0; u < 8; u++) wq[u] = _mm512_xor_si512(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, idx, blk + 2 + 4 * u, 1), sgn);
    }
    for (int m = 0; m < MR; m++) {
      const uint8_t* xg = xp + m * QC_GROUP;
      __m512i s = _mm512_loadu_si512(xg + 576);
      // One dependency chain per row: with few rows a second chain measured no faster (the gathers overlap it).
      for (int u = 0; u < 8; u++) s = _mm512_dpbusd_epi32(s, wq[u], _mm512_loadu_si512(xg + 64 * u));
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws, _mm512_loadu_ps(xg + 512)), acc[m]);
    }
  }
  for (int m = 0; m < MR; m++) y[m * ldy] = _mm512_reduce_add_ps(acc[m]);
}

/** Rows [m0, m0 + mr) of the activations against weight row w0 (mr ≤ 8), through qcols512. */
template <bool Q4>
static inline void qcols512N(int mr, const uint8_t* w0, int64_t nb, const uint8_t* xp, int64_t gs, float* y, int64_t ldy) {
  switch (mr) {
    case 1: return qcols512<Q4, 1>(w0, nb, xp, gs, y, ldy);
    case 2: return qcols512<Q4, 2>(w0, nb, xp, gs, y, ldy);
    case 3: return qcols512<Q4, 3>(w0, nb, xp, gs, y, ldy);
    case 4: return qcols512<Q4, 4>(w0, nb, xp, gs, y, ldy);
    case 5: return qcols512<Q4, 5>(w0, nb, xp, gs, y, ldy);
    case 6: return qcols512<Q4, 6>(w0, nb, xp, gs, y, ldy);
    case 7: return qcols512<Q4, 7>(w0, nb, xp, gs, y, ldy);
    default: return qcols512<Q4, 8>(w0, nb, xp, gs, y, ldy);
  }
}
#endif

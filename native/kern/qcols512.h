// The AVX-512 VNNI batched matrix-vector kernel for q8_0/q4_0 weights (2–8 activation rows): 16 blocks per step, one
// i32 lane per block, so the integer dot products need no horizontal reduction; the float work reproduces qrows<Q4, 1>
// (the one-row kernel) step for step, so a row's result is the same bits alone or batched. Included by gemv.h.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define QV_QCOLS512 1

/** Bytes of one activation row's group of 16 blocks as packed by packAct512: 8 operands of 64, then d and −c·Σx. */
#define QC_GROUP 640

/**
 * Lane order within each run of 8 blocks: lane i holds block kQcOrd[i] (q4_0: qrows' pair order 0 2 4 6 1 3 5 7, see
 * packActQ4; q8_0: natural), and kQcLane is its inverse.
 */
static const int kQcOrd[2][8] = {{0, 1, 2, 3, 4, 5, 6, 7}, {0, 2, 4, 6, 1, 3, 5, 7}};
static const int kQcLane[2][8] = {{0, 1, 2, 3, 4, 5, 6, 7}, {0, 4, 1, 5, 2, 6, 3, 7}};

/**
 * Lay out M rows of q8 activations (quantizeAct's: q [M, nb·32], d and s [M, nb]) for qcols512, group-major so that
 * the rows' data for one group of 16 blocks is one contiguous run (one stream, whatever M): out[(g·M + m)·640 ...].
 * In a group, lane l (block 8·(l/8) + kQcOrd[l%8]) takes dword t of its block at byte 64·t + 4·l (operand t of the
 * group's 8 dot products), then the 16 scales, then the dot products' starting values −c·Σx (c = 8 for q4_0's
 * unsigned nibbles w+8, 128 for q8_0 taken as w+128), so the integer sums come out as Σ w·x with no correction.
 * Blocks past nb in the last group are zero.
 */
static inline void packAct512(const int8_t* q, const float* d, const int32_t* s, int64_t M, int64_t nb, bool q4, uint8_t* out) {
  const int c = q4 ? 8 : 128;
  const int* ord = kQcOrd[q4];
  alignas(64) int32_t blkOf[16];
  for (int l = 0; l < 16; l++) blkOf[l] = 8 * (l / 8) + ord[l % 8];
  const __m512i idx = _mm512_slli_epi32(_mm512_load_si512(blkOf), 3);  // the block's first dword
  for (int64_t g = 0; g * 16 < nb; g++) {
    const int64_t b = g * 16, r = imin(16, nb - b);
    __mmask16 mk = 0;
    for (int l = 0; l < 16; l++) mk |= (__mmask16)((blkOf[l] < r) << l);
    for (int64_t m = 0; m < M; m++) {
      uint8_t* o = out + (g * M + m) * QC_GROUP;
      const int32_t* t = (const int32_t*)(q + m * nb * 32 + b * 32);  // block j's 8 dwords at t[8j..8j+8)
      for (int u = 0; u < 8; u++)
        _mm512_storeu_si512(o + 64 * u, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, _mm512_add_epi32(idx, _mm512_set1_epi32(u)), t, 4));
      float* od = (float*)(o + 512);
      int32_t* os = (int32_t*)(o + 576);
      for (int l = 0; l < 16; l++) {
        const bool in = blkOf[l] < r;
        od[l] = in ? d[m * nb + b + blkOf[l]] : 0.0f;
        os[l] = in ? -c * s[m * nb + b + blkOf[l]] : 0;
      }
    }
  }
}

/** Bits [0, min(n, rem)) of a byte mask (rem ≤ 0: none): the valid bytes of a load at the end of a row. */
static inline __mmask64 qcBytes(int64_t rem, int n) { return rem <= 0 ? 0 : rem >= n ? (n == 64 ? ~0ull : (1ull << n) - 1) : (1ull << rem) - 1; }

/**
 * 16 q4_0 blocks (288 bytes; `bytes` of them valid, the rest read as zero) unpacked for qcols512 without gathers:
 * wq[u] lane l = elements 4u..4u+3 of lane l's block (kQcOrd) and wq[u+4] elements 16+4u..16+4u+3, as unsigned
 * nibbles; ws lane l = that block's scale. Every field is 2-byte aligned (18-byte blocks), so word permutes (AVX-512
 * BW) suffice: one per 4 blocks compacts the nibbles, two dword-level steps transpose them, two more pick the scales.
 */
template <bool Full>
static inline void qcUnpackQ4(const uint8_t* blk, int64_t bytes, __m512& ws, __m512i* wq) {
  // Word indices (bit 5 picks the second table): nibble word e' of block i in a 4-block window is word 9i + 1 + e'.
  alignas(64) static const uint16_t kNib[32] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35};
  // The scale of block j' (0..7) of a pair of windows is word 9j' of the first or 32 + 9(j' − 4) of the second.
  alignas(64) static const uint16_t kSc[32] = {0, 18, 32, 50, 9, 27, 41, 59, 0, 18, 32, 50, 9, 27, 41, 59, 0, 18, 32, 50, 9, 27, 41, 59, 0, 18, 32, 50, 9, 27, 41, 59};
  // Dword u of block j' = kQcOrd[i] of a pair of compacted windows goes to lane 8·(u&1) + i of the output.
  alignas(64) static const int32_t kLo[16] = {0, 8, 16, 24, 4, 12, 20, 28, 1, 9, 17, 25, 5, 13, 21, 29};
  alignas(64) static const int32_t kHi[16] = {2, 10, 18, 26, 6, 14, 22, 30, 3, 11, 19, 27, 7, 15, 23, 31};
  const __m512i nib = _mm512_load_si512(kNib), lo4 = _mm512_set1_epi8(0x0f);
  __m512i L[4], P[4];
  for (int k = 0; k < 4; k++) {
    __m512i h;
    if (Full) {
      L[k] = _mm512_loadu_si512(blk + 72 * k);
      h = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i*)(blk + 72 * k + 64)));
    } else {
      L[k] = _mm512_maskz_loadu_epi8(qcBytes(bytes - 72 * k, 64), blk + 72 * k);
      h = _mm512_maskz_loadu_epi8(qcBytes(bytes - 72 * k - 64, 8), blk + 72 * k + 64);
    }
    P[k] = _mm512_permutex2var_epi16(L[k], nib, h);  // dword 4i + u: dword u of block 4k + i's nibbles
  }
  const __m512i lo = _mm512_load_si512(kLo), hi = _mm512_load_si512(kHi);
  const __m512i t0 = _mm512_permutex2var_epi32(P[0], lo, P[1]), t1 = _mm512_permutex2var_epi32(P[0], hi, P[1]);
  const __m512i t2 = _mm512_permutex2var_epi32(P[2], lo, P[3]), t3 = _mm512_permutex2var_epi32(P[2], hi, P[3]);
  const __m512i v[4] = {_mm512_shuffle_i64x2(t0, t2, 0x44), _mm512_shuffle_i64x2(t0, t2, 0xEE), _mm512_shuffle_i64x2(t1, t3, 0x44), _mm512_shuffle_i64x2(t1, t3, 0xEE)};
  for (int u = 0; u < 4; u++) {
    wq[u] = _mm512_and_si512(v[u], lo4);                           // elements 4u..4u+3
    wq[u + 4] = _mm512_and_si512(_mm512_srli_epi32(v[u], 4), lo4);  // elements 16+4u..16+4u+3
  }
  const __m512i sc = _mm512_load_si512(kSc);
  const __m512i s = _mm512_mask_blend_epi16(0xff00, _mm512_permutex2var_epi16(L[0], sc, L[1]), _mm512_permutex2var_epi16(L[2], sc, L[3]));
  ws = _mm512_cvtph_ps(_mm512_castsi512_si256(s));
}

/**
 * The bytes of 16 q8_0 blocks (544 bytes; `bytes` of them valid, the rest read as zero) for qcols512 without gathers:
 * wq[u] lane j = bytes 4u..4u+3 of block j, taken as w + 128 (unsigned). The data is 2-byte aligned (34-byte blocks):
 * a word permute per 2 blocks compacts it, then three dword-level steps transpose it.
 */
template <bool Full>
static inline void qcUnpackQ8(const uint8_t* blk, int64_t bytes, __m512i* wq) {
  // Window of 2 blocks (68 bytes): data words 1..16 and 18..33 (bit 5 picks the second table).
  alignas(64) static const uint16_t kDat[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33};
  // Two compacted windows (blocks 0..3) to lane 4·block + u, u in 0..3 (kX) or 4..7 (kX + 4).
  alignas(64) static const int32_t kX[16] = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  // Two of those (blocks 0..3, 4..7) to lane 8·u' + block for u' = 0, 1 of the pair u = 2i + u'.
  alignas(64) static const int32_t kT[16] = {0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29};
  __m512i P[8];
  const __m512i dat = _mm512_load_si512(kDat);
  for (int k = 0; k < 8; k++) {
    __m512i l, h;
    if (Full) {
      uint32_t t;
      memcpy(&t, blk + 68 * k + 64, 4);
      l = _mm512_loadu_si512(blk + 68 * k);
      h = _mm512_castsi128_si512(_mm_cvtsi32_si128((int)t));
    } else {
      l = _mm512_maskz_loadu_epi8(qcBytes(bytes - 68 * k, 64), blk + 68 * k);
      h = _mm512_maskz_loadu_epi8(qcBytes(bytes - 68 * k - 64, 4), blk + 68 * k + 64);
    }
    P[k] = _mm512_permutex2var_epi16(l, dat, h);  // lanes 0..7: block 2k's dwords, 8..15: block 2k + 1's
  }
  const __m512i x0 = _mm512_load_si512(kX), x1 = _mm512_add_epi32(x0, _mm512_set1_epi32(4));
  const __m512i t0 = _mm512_load_si512(kT), t1 = _mm512_add_epi32(t0, _mm512_set1_epi32(2)), sgn = _mm512_set1_epi8((char)0x80);
  __m512i T[2][4];  // [blocks 0..7 | 8..15][pair i]: lanes 8·u' + j = dword 2i + u' of block j
  for (int g = 0; g < 2; g++) {
    const __m512i* p = P + 4 * g;
    const __m512i a0 = _mm512_permutex2var_epi32(p[0], x0, p[1]), a1 = _mm512_permutex2var_epi32(p[0], x1, p[1]);
    const __m512i b0 = _mm512_permutex2var_epi32(p[2], x0, p[3]), b1 = _mm512_permutex2var_epi32(p[2], x1, p[3]);
    T[g][0] = _mm512_permutex2var_epi32(a0, t0, b0);
    T[g][1] = _mm512_permutex2var_epi32(a0, t1, b0);
    T[g][2] = _mm512_permutex2var_epi32(a1, t0, b1);
    T[g][3] = _mm512_permutex2var_epi32(a1, t1, b1);
  }
  for (int i = 0; i < 4; i++) {
    wq[2 * i] = _mm512_xor_si512(_mm512_shuffle_i64x2(T[0][i], T[1][i], 0x44), sgn);
    wq[2 * i + 1] = _mm512_xor_si512(_mm512_shuffle_i64x2(T[0][i], T[1][i], 0xEE), sgn);
  }
}

/**
 * One weight row against MR activation rows packed by packAct512 (xp: the first row's first group; gs: bytes from one
 * group to the next). Weights are unpacked once per group for all MR rows. Per row: 8 dpbusd from the −c·Σx start give
 * the 16 blocks' exact i32 sums (the integers qrows gets, whatever the order of the products). The float work is
 * qrows<Q4, 1>'s: each whole run of 8 blocks is one FMA of the converted sums with weight × activation scales into 8
 * lanes (lane order kQcOrd, as qrows'), blocks past the last whole run are summed one at a time in block order, and
 * the result is hsum8 of the lanes plus that tail. So the one-row kernel and this one give the same bits.
 */
template <bool Q4, int MR>
static inline void qcols512(const uint8_t* w0, int64_t nb, const uint8_t* xp, int64_t gs, float* y, int64_t ldy) {
  const int bb = Q4 ? 18 : 34;
  const int64_t whole = nb / 8 * 8;  // blocks of qrows' vector part
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(bb));
  __m256 acc[MR];
  float tail[MR];
  for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps(), tail[m] = 0;
  for (int64_t b = 0; b < nb; b += 16, xp += gs) {
    const uint8_t* blk = w0 + b * bb;
    // As qrows: software prefetch GEMV_PF bytes ahead (rows are contiguous, so this runs into the next rows).
    for (int o = 0; o < 16 * bb; o += 64) prefetchL1((const char*)blk + GEMV_PF + o);
    __m512 ws;
    __m512i wq[8];
    if (Q4) {
      if (nb - b >= 16) qcUnpackQ4<true>(blk, 288, ws, wq);
      else qcUnpackQ4<false>(blk, (nb - b) * 18, ws, wq);
    } else {
      const __mmask16 mk = (__mmask16)((1u << imin(16, nb - b)) - 1);  // q8_0 lanes are in block order
      ws = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, idx, blk, 1)));
      if (nb - b >= 16) qcUnpackQ8<true>(blk, 544, wq);
      else qcUnpackQ8<false>(blk, (nb - b) * 34, wq);
    }
    const int64_t runs = imax(0, imin(2, (whole - b) / 8));  // whole runs of 8 in this group
    for (int m = 0; m < MR; m++) {
      const uint8_t* xg = xp + m * QC_GROUP;
      __m512i s = _mm512_loadu_si512(xg + 576);
      for (int u = 0; u < 8; u++) s = _mm512_dpbusd_epi32(s, wq[u], _mm512_loadu_si512(xg + 64 * u));
      const __m512 f = _mm512_cvtepi32_ps(s), p = _mm512_mul_ps(ws, _mm512_loadu_ps(xg + 512));
      if (runs > 0) acc[m] = _mm256_fmadd_ps(_mm512_castps512_ps256(f), _mm512_castps512_ps256(p), acc[m]);
      if (runs > 1) acc[m] = _mm256_fmadd_ps(_mm512_extractf32x8_ps(f, 1), _mm512_extractf32x8_ps(p, 1), acc[m]);
      else {
        // qrows' tail: tail += (float)v · (scale · xd), block by block (ws·d is that same product).
        alignas(64) float fv[16], pv[16];
        _mm512_store_ps(fv, f);
        _mm512_store_ps(pv, p);
        for (int64_t c = b + 8 * runs; c < imin(nb, b + 16); c++) {
          const int l = (int)(c - b) / 8 * 8 + kQcLane[Q4][(c - b) % 8];
          tail[m] += fv[l] * pv[l];
        }
      }
    }
  }
  for (int m = 0; m < MR; m++) y[m * ldy] = hsum8(acc[m]) + tail[m];
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

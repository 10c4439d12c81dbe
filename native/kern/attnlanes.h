// Exact (f32) tiled attention for prefill and the vision tower, queries in vector lanes: for a tile of BQ query rows
// of one head, Sᵀ[key][query] = K·(q·scale)ᵀ, the online softmax and Oᵀ[d][query] += Vᵀ·Pᵀ all run on whole
// vectors of queries, so the running max, the sums and the rescale are lane-wise (no horizontal max/sum per row and
// block, as the row-per-query kernel had: it ran at 40–45% of the FMA roof) and both products are GEMM micro-kernels
// of MR broadcast rows × QV query vectors. Keys are packed per kv head once per call.
//
// Layouts (per kv head g, keys padded with zeros to a multiple of the block, lanesBlockKeys):
//   Kp[g][key/MR][hd][MR]   a key tile's MR keys side by side per d: S's broadcasts are one sequential stream
//   Vp[g][hdP/MR][key][MR]  per MR-wide slice of d, the keys' values in order (hdP = hd rounded up to MR, zeros
//                           past hd): a p·V micro-kernel reads one contiguous run (value rows in place are
//                           kvStride apart, all in a few L1 sets; whole rows were evicted between d slices)
//   Qt[hd][BQ], Ot[hdP][BQ], St[BK][BQ] per task

// MR × QV accumulators: AVX-512 8 × 3 (24 of its 32 registers, BQ = 48 queries), AVX2 4 × 3 (12 of 16, BQ = 24).
#if QV_W == 16
#define LB_MR 8
#else
#define LB_MR 4
#endif
#define LB_QV 3
#define LB_BQ (LB_QV * QV_W)
// Keys per block: the scores phase keeps Qt (hd × BQ) and St (BK × BQ) in L1, the p·V phase St and Ot; 128 halves
// the per-block rescale of Ot against 64 (1 thread, AVX-512: 4096 patches 477 → 470 ms, 1200 45.6 → 43.8; AVX2 −6–10%).
#define LB_BK 128
/** Keys per block for kvLen keys: on AVX2, 256 from 2048 keys (the per-block rescale and max/sum pass halve again:
 * one 4096-patch segment 810–821 → 779–787 ms, a second pair 791–792 → 782–786, one thread, CPU time; at 784 patches
 * 256 was ~1% slower). */
static inline int64_t lanesBlockKeys(int64_t kvLen) { return QV_W == 8 && kvLen >= 2048 ? 2 * LB_BK : LB_BK; }

/** e^x for x ≤ 0 (0 below −87.34, −∞ included): vexp's reduction and polynomial, so the same values; on AVX-512
 * 2^n·p is one scalef, which also drops vexp's clamp above and its integer exponent arithmetic (20 → 15 ops). */
static inline vf lanesExp(vf x) {
#if QV_W == 16
  const __m512 lo = _mm512_set1_ps(-87.3365447504f);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
  vf r;
  const vf n = vexpReduce(_mm512_max_ps(x, lo), &r);
  return _mm512_maskz_scalef_ps(keep, vexpPoly(r), n);
#elif QV_W == 8
  // AVX2: no clamp above (x ≤ 0) and the underflow mask as an AND instead of a subtraction and a blend; nor below:
  // lanes under −87.34 (−∞ and NaN included) are cleared by the mask whatever their 2^n bits hold.
  const __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3365447504f), _CMP_GE_OQ);
  vf r;
  const vf n = vexpReduce(x, &r);
  return _mm256_and_ps(keep, vmul(vexpPoly(r), vpow2i(n)));
#else
  return vexp(x);
#endif
}

/**
 * St[j][·] = Σ_d Kp[j][d] · Qt[d][·] for a block's first nk keys (a multiple of MR); mx = the lane-wise max. QV: the
 * query vectors in use (a tile's last rows may fill fewer than LB_QV; their lanes are left alone).
 */
template <int QV>
static inline void lanesScores(const float* Qt, const float* kp, int hd, int nk, float* St, vf* mx) {
  for (int jt = 0; jt < nk; jt += LB_MR) {
    vf c[LB_MR][QV];
#pragma GCC unroll 8
    for (int r = 0; r < LB_MR; r++)
#pragma GCC unroll 3
      for (int u = 0; u < QV; u++) c[r][u] = vzero();
    const float* a = kp + (int64_t)jt * hd;
#if QV_W == 8
#pragma GCC unroll 16  // AVX2: 4 left two `lea` per 48 FMAs on the FMA ports (784 patches, one thread: −3% attention)
#endif
    for (int d = 0; d < hd; d++) {
      vf b[QV];
#pragma GCC unroll 3
      for (int u = 0; u < QV; u++) b[u] = vload(Qt + d * LB_BQ + u * QV_W);
#pragma GCC unroll 8
      for (int r = 0; r < LB_MR; r++) {
        const vf t = vset1(a[d * LB_MR + r]);
#pragma GCC unroll 3
        for (int u = 0; u < QV; u++) c[r][u] = vfma(t, b[u], c[r][u]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < LB_MR; r++)
#pragma GCC unroll 3
      for (int u = 0; u < QV; u++) {
        vstore(St + (jt + r) * LB_BQ + u * QV_W, c[r][u]);
        mx[u] = vmax(mx[u], c[r][u]);
      }
  }
}

/** Ot[d0 .. d0+MR)[·] = alpha · Ot + Σ_j vp[j][·] · St[j][·] over a block's first nk keys (vp: the d slice's run). */
template <int QV>
static inline void lanesPV(const float* St, const float* vp, int nk, int d0, const vf* alpha, float* Ot) {
  constexpr int R = LB_MR;
  vf c[R][QV];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 3
    for (int u = 0; u < QV; u++) c[r][u] = vmul(vload(Ot + (d0 + r) * LB_BQ + u * QV_W), alpha[u]);
#if QV_W == 8
#pragma GCC unroll 16
#endif
  for (int j = 0; j < nk; j++) {
    vf b[QV];
#pragma GCC unroll 3
    for (int u = 0; u < QV; u++) b[u] = vload(St + j * LB_BQ + u * QV_W);
    const float* v = vp + j * LB_MR;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const vf t = vset1(v[r]);
#pragma GCC unroll 3
      for (int u = 0; u < QV; u++) c[r][u] = vfma(t, b[u], c[r][u]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 3
    for (int u = 0; u < QV; u++) vstore(Ot + (d0 + r) * LB_BQ + u * QV_W, c[r][u]);
}

/** Keys [j0, j0+MR) of kv head g into Kp's tile layout (zeros past kvLen). */
static inline void lanesPackKeys(const AttnArgs* a, int64_t g, int64_t j0, float* kp) {
  const int hd = a->hd;
#if QV_W == 16
  if (hd % 16 == 0 && j0 + LB_MR <= a->kvLen) {
    const float* rows[LB_MR];
    for (int r = 0; r < LB_MR; r++) rows[r] = a->k + (j0 + r) * a->kvStride + g * hd;
    for (int d = 0; d < hd; d += 16) transpose16(rows, LB_MR, d, kp + d * LB_MR, LB_MR, (__mmask16)((1u << LB_MR) - 1));
    return;
  }
#elif QV_W == 8
  if (hd % 8 == 0 && j0 + LB_MR <= a->kvLen) {  // 4 keys × 8 d per register transpose, the 4 live lanes stored
    for (int d = 0; d < hd; d += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; i++) r[i] = i < LB_MR ? _mm256_loadu_ps(a->k + (j0 + i) * a->kvStride + g * hd + d) : _mm256_setzero_ps();
      transpose8(r);
      for (int j = 0; j < 8; j++) _mm_storeu_ps(kp + (d + j) * LB_MR, _mm256_castps256_ps128(r[j]));
    }
    return;
  }
#endif
  for (int r = 0; r < LB_MR; r++) {
    const int64_t j = j0 + r;
    const float* kj = a->k + j * a->kvStride + g * hd;
    if (j < a->kvLen)
      for (int d = 0; d < hd; d++) kp[d * LB_MR + r] = kj[d];
    else
      for (int d = 0; d < hd; d++) kp[d * LB_MR + r] = 0.0f;
  }
}

/** Qt[d][i] = q[r0 + i][h·hd + d] · scale for the tile's nr rows (zero lanes past them). */
static inline void lanesLoadQ(const AttnArgs* a, int64_t r0, int nr, int h, float* Qt) {
  const int hd = a->hd;
  int i0 = 0;
#if QV_W == 16
  // 16 rows × 16 d at a time through the GEMM's register transpose (scalar strided stores were ~3% of the kernel).
  if (hd % 16 == 0)
    for (; i0 + 16 <= nr; i0 += 16) {
      const float* rows[16];
      for (int i = 0; i < 16; i++) rows[i] = a->q + (r0 + i0 + i) * a->qStride + (int64_t)h * hd;
      for (int d = 0; d < hd; d += 16) transpose16(rows, 16, d, Qt + d * LB_BQ + i0, LB_BQ, 0xffff);
      for (int d = 0; d < hd; d++) vstore(Qt + d * LB_BQ + i0, vmul(vload(Qt + d * LB_BQ + i0), vset1(a->scale)));
    }
#elif QV_W == 8
  // 8 rows × 8 d per register transpose (the scalar strided stores were ~5% of the AVX2 kernel).
  if (hd % 8 == 0)
    for (; i0 + 8 <= nr; i0 += 8)
      for (int d = 0; d < hd; d += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = vmul(vload(a->q + (r0 + i0 + i) * a->qStride + (int64_t)h * hd + d), vset1(a->scale));
        transpose8(r);
        for (int j = 0; j < 8; j++) vstore(Qt + (d + j) * LB_BQ + i0, r[j]);
      }
#endif
  for (int i = i0; i < LB_BQ; i++) {
    if (i >= nr) {
      for (int d = 0; d < hd; d++) Qt[d * LB_BQ + i] = 0.0f;
      continue;
    }
    const float* qi = a->q + (r0 + i) * a->qStride + (int64_t)h * hd;
    for (int d = 0; d < hd; d++) Qt[d * LB_BQ + i] = qi[d] * a->scale;
  }
}

/** out[r0 + i][h·hd + d] = Ot[d][i] / l[i] for the tile's nr rows (zero where no key was visible); Ot is scaled in place. */
static inline void lanesStoreOut(const AttnArgs* a, int64_t r0, int nr, int h, const vf* l, float* Ot) {
  const int hd = a->hd;
  vf inv[LB_QV];
  for (int u = 0; u < LB_QV; u++) {
    float lf[QV_W], q[QV_W];
    vstore(lf, l[u]);
    for (int i = 0; i < QV_W; i++) q[i] = lf[i] > 0 ? 1.0f / lf[i] : 0.0f;
    inv[u] = vload(q);
  }
  for (int d = 0; d < hd; d++)
    for (int u = 0; u < LB_QV; u++) vstore(Ot + d * LB_BQ + u * QV_W, vmul(vload(Ot + d * LB_BQ + u * QV_W), inv[u]));
  int i0 = 0;
#if QV_W == 16
  if (hd % 16 == 0)
    for (; i0 + 16 <= nr; i0 += 16)
      for (int d = 0; d < hd; d += 16) {
        const float* rows[16];
        for (int j = 0; j < 16; j++) rows[j] = Ot + (d + j) * LB_BQ;
        transpose16(rows, 16, i0, a->out + (r0 + i0) * a->qStride + (int64_t)h * hd + d, a->qStride, 0xffff);
      }
#elif QV_W == 8
  if (hd % 8 == 0)
    for (; i0 + 8 <= nr; i0 += 8)
      for (int d = 0; d < hd; d += 8) {
        __m256 r[8];
        for (int j = 0; j < 8; j++) r[j] = vload(Ot + (d + j) * LB_BQ + i0);
        transpose8(r);
        for (int i = 0; i < 8; i++) vstore(a->out + (r0 + i0 + i) * a->qStride + (int64_t)h * hd + d, r[i]);
      }
#endif
  for (int i = i0; i < nr; i++) {
    float* o = a->out + (r0 + i) * a->qStride + (int64_t)h * hd;
    for (int d = 0; d < hd; d++) o[d] = Ot[d * LB_BQ + i];
  }
}

/**
 * One query tile's pass over its key blocks: the online softmax into Ot and l (lane-wise running sums). QV: the query
 * vectors the tile's rows fill (a last tile of 16 rows of 784 runs one vector, not three).
 */
template <int QV>
static inline void lanesKeyBlocks(const AttnTile& tl, int64_t hiMin, const float* hiF, int64_t bk, int hd, int hdP, int64_t kvPad, const float* kpg,
                                  const float* vpg, const float* Qt, float* St, float* Ot, vf* l) {
  vf m[QV];
  for (int u = 0; u < QV; u++) m[u] = vset1(-INFINITY);
  for (int64_t kb0 = tl.lo / bk * bk; kb0 < tl.hiMax; kb0 += bk) {
    vf mx[QV];
    for (int u = 0; u < QV; u++) mx[u] = vset1(-INFINITY);
    // The block's keys up to the tile's last visible one, rounded up to MR (Kp and Vp are zero-padded).
    const int nk = (int)((imin(bk, tl.hiMax - kb0) + LB_MR - 1) / LB_MR * LB_MR);
    lanesScores<QV>(Qt, kpg + kb0 * hd, hd, nk, St, mx);
    if (kb0 < tl.lo || kb0 + nk > hiMin) {
      // A block at the tile's range ends: scores of keys a row does not see become −∞ (e^(−∞ − m) = 0).
      for (int u = 0; u < QV; u++) mx[u] = vset1(-INFINITY);
      for (int j = 0; j < nk; j++) {
        const int64_t key = kb0 + j;
        for (int u = 0; u < QV; u++) {
          float* s = St + j * LB_BQ + u * QV_W;
          const vf sv = key < tl.lo ? vset1(-INFINITY) : vsel_neg(vsub(vset1((float)key), vload(hiF + u * QV_W)), vload(s), vset1(-INFINITY));
          vstore(s, sv);
          mx[u] = vmax(mx[u], sv);
        }
      }
    }
    // The running max, floored at −FLT_MAX so that lanes with no visible key yet give e^(−∞) = 0, not NaN.
    vf alpha[QV], sum[QV];
    for (int u = 0; u < QV; u++) {
      const vf mn = vmax(vmax(m[u], mx[u]), vset1(-3.4028235e38f));
      alpha[u] = lanesExp(vsub(m[u], mn));
      m[u] = mn;
      sum[u] = vzero();
    }
    for (int j = 0; j < nk; j++)
      for (int u = 0; u < QV; u++) {
        float* s = St + j * LB_BQ + u * QV_W;
        const vf e = lanesExp(vsub(vload(s), m[u]));
        vstore(s, e);
        sum[u] = vadd(sum[u], e);
      }
    for (int u = 0; u < QV; u++) l[u] = vfma(l[u], alpha[u], sum[u]);
    for (int d0 = 0; d0 < hdP; d0 += LB_MR) lanesPV<QV>(St, vpg + (d0 * kvPad + kb0 * LB_MR), nk, d0, alpha, Ot);
  }
}

static void attnLanes(Exec* ex, const AttnArgs* a) {
  const int hd = a->hd, group = a->nh / a->nkv;
  const int64_t bk = lanesBlockKeys(a->kvLen);
  const int64_t kvPad = (a->kvLen + bk - 1) / bk * bk;
  // From the engine's cached mappings: a fresh 6–64 MiB per call faulted (and the kernel zeroed) every page.
  void* kvTok;
  const int hdP = (hd + LB_MR - 1) / LB_MR * LB_MR;
  float* Kp = (float*)ex->scratch((size_t)a->nkv * (hd + hdP) * kvPad * 4, &kvTok);
  float* Vp = Kp + (size_t)a->nkv * hd * kvPad;
  const int64_t kTiles = kvPad / LB_MR;
  pfor(ex, a->nkv * kTiles, grainFor(ex, a->nkv * kTiles, 16), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t g = t / kTiles, j0 = (t % kTiles) * LB_MR;
      lanesPackKeys(a, g, j0, Kp + (g * kvPad + j0) * hd);
      float* vpg = Vp + g * hdP * kvPad;
      for (int64_t j = j0; j < j0 + LB_MR; j++) {
        const float* vj = a->v + j * a->kvStride + g * hd;
        if (j < a->kvLen && hd == hdP) {
          for (int d0 = 0; d0 < hd; d0 += LB_MR) memcpy(vpg + (d0 * kvPad + j * LB_MR), vj + d0, LB_MR * 4);
          continue;
        }
        for (int d0 = 0; d0 < hdP; d0 += LB_MR) {
          float* vp = vpg + (d0 * kvPad + j * LB_MR);
          for (int r = 0; r < LB_MR; r++) vp[r] = j < a->kvLen && d0 + r < hd ? vj[d0 + r] : 0.0f;
        }
      }
    }
  });
  AttnTile* tiles = (AttnTile*)malloc(sizeof(AttnTile) * (size_t)(a->T / LB_BQ + a->nseg + 2));
  const int64_t nTiles = attnQueryTiles(a, tiles, LB_BQ);
  pfor(ex, nTiles * a->nh, 1, [&](int64_t t0, int64_t t1) {
    float* Qt = salloc((size_t)hd * LB_BQ);
    float* Ot = salloc((size_t)hdP * LB_BQ);
    float* St = salloc((size_t)bk * LB_BQ);
    float hiF[LB_BQ];
    for (int64_t t = t0; t < t1; t++) {
      // Head-major: consecutive tasks share one kv head's packed keys and values, which then stay in L2.
      const AttnTile tl = tiles[t % nTiles];
      const int h = (int)(t / nTiles), g = h / group;
      const int nr = (int)(tl.r1 - tl.r0);
      lanesLoadQ(a, tl.r0, nr, h, Qt);
      memset(Ot, 0, (size_t)hdP * LB_BQ * 4);
      // Each row's key range end (lanes past the tile's rows see none); the tile shares its start, tl.lo.
      int64_t hiMin = tl.hiMax;
      for (int i = 0; i < LB_BQ; i++) {
        int64_t lo = 0, hi = 0;
        if (i < nr) {
          rowRange(a, tl.r0 + i, &lo, &hi);
          hiMin = imin(hiMin, hi);
        }
        hiF[i] = (float)hi;
      }
      vf l[LB_QV];
      for (int u = 0; u < LB_QV; u++) l[u] = vzero();
      const float* kpg = Kp + (int64_t)g * kvPad * hd;
      const float* vpg = Vp + (int64_t)g * hdP * kvPad;
      const int qv = (int)((nr + QV_W - 1) / QV_W);
      static_assert(LB_QV == 3, "the dispatch below covers 1..LB_QV query vectors");
      if (qv >= LB_QV)
        lanesKeyBlocks<LB_QV>(tl, hiMin, hiF, bk, hd, hdP, kvPad, kpg, vpg, Qt, St, Ot, l);
      else if (qv == 2)
        lanesKeyBlocks<2>(tl, hiMin, hiF, bk, hd, hdP, kvPad, kpg, vpg, Qt, St, Ot, l);
      else
        lanesKeyBlocks<1>(tl, hiMin, hiF, bk, hd, hdP, kvPad, kpg, vpg, Qt, St, Ot, l);
      // out = Oᵀ / l, transposed back (rows with no visible key: zero).
      lanesStoreOut(a, tl.r0, nr, h, l, Ot);
    }
    sfree(Qt);
    sfree(Ot);
    sfree(St);
  });
  free(tiles);
  ex->scratchFree(kvTok);
}

// Attention that never builds a [T, T] matrix. Prefill/vision: query tiles × key blocks with an online softmax, in
// kern/attnlanes.h (exact f32) and kern/attnbf16.h (precision 'fast' on AMX-BF16); the query tiles and the row-wise
// softmax of the bf16 kernel are here. Decode (few rows): chunks of whole key/value rows per task (sequential
// streams), partial softmaxes merged at the end.

// The bf16 kernel's tile: 32 query rows × 64-key blocks.
#define ATT_BQ 32
#define ATT_BK 64

static inline void rowRange(const AttnArgs* a, int64_t i, int64_t* lo, int64_t* hi) {
  if (a->seg) {
    int s = 0;
    while (s + 1 < a->nseg && a->seg[s + 1] <= i) s++;
    *lo = a->seg[s];
    *hi = a->seg[s + 1];
  } else {
    *lo = 0;
    *hi = a->causal ? imin(a->kvLen, a->qStart + i + 1) : a->kvLen;
  }
}

static inline void _mm_prefetch_(const char* p) {
#if defined(__AVX2__)
  _mm_prefetch(p, _MM_HINT_T0);
#else
  (void)p;
#endif
}

// Key/value elements: f32, f16 bits or q8_0 blocks (the paged KV pool), widened as they are loaded. The kernels take a
// pointer-like P: `p + i` moves by elements, kvLoad reads QV_W of them, kvAt one, kvAddr is the byte address.
static inline vf kvLoad(const float* p) { return vload(p); }
static inline vf kvLoad(const uint16_t* p) { return vload_f16(p); }
static inline float kvAt(const float* p) { return *p; }
static inline float kvAt(const uint16_t* p) { return f16ToF32(*p); }
template <class T>
static inline const char* kvAddr(const T* p) { return (const char*)p; }

/**
 * Element i of a q8_0 array (rows of whole 34-byte blocks back to back: block i/32, value i%32). kvLoad needs i to be a
 * multiple of QV_W (≤ 32), so its values lie in one block (the paged kernel takes this path only for heads of a
 * multiple of QV_W values); they are decodeRow's, scale × value: the same bits as a staged f32 row.
 */
struct Q8Ptr {
  const uint8_t* p;
  int64_t i;
  Q8Ptr operator+(int64_t k) const { return {p, i + k}; }
  explicit operator bool() const { return p != nullptr; }
};
/** The 34-byte block that holds element a.i. */
static inline const uint8_t* q8Block(Q8Ptr a) { return a.p + (a.i >> 5) * 34; }
static inline const char* kvAddr(Q8Ptr a) { return (const char*)q8Block(a) + 2 + (a.i & 31); }
static inline float kvAt(Q8Ptr a) {
  const uint8_t* blk = q8Block(a);
  return loadScale(blk) * (float)((const int8_t*)blk)[2 + (a.i & 31)];
}
static inline vf kvLoad(Q8Ptr a) {
  const uint8_t* blk = q8Block(a);
  const int8_t* q = (const int8_t*)blk + 2 + (a.i & 31);
#if QV_W == 16
  return _mm512_mul_ps(_mm512_set1_ps(loadScale(blk)), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)q))));
#elif QV_W == 8
  return _mm256_mul_ps(_mm256_set1_ps(loadScale(blk)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)q))));
#else
  const float d = loadScale(blk);
  vf r;
  for (int u = 0; u < QV_W; u++) r.v[u] = d * (float)q[u];
  return r;
#endif
}

/**
 * o[h·hd..] += Σ_j p[h·ldp + j] · V[j][g(h)] over n rows of V (stride w, f32 or f16), for decode. Key by key, each row
 * read whole in address order, the accumulators in L1: the one order a core's prefetchers stream at the bus's pace.
 * Blocks of 8 keys walked kv head by kv head (rows 2 KiB apart, 8 slices a row) read V from memory at 11.4 GB/s on one
 * Zen 4 core, key by key 22.7, a plain stream 31 (bench/native/kvpv.c, depth 4096); from L2 the blocks are faster (41
 * vs 24 GB/s: the sums' loads and stores), but decode reads V from memory. Each element's sum is still one fused
 * multiply-add per key in key order (the tail elements a multiply and an add), the same bits as before.
 */
template <class P>
static void attnPV(const float* p, int64_t ldp, int64_t n, P v, int64_t w, int group, int nkv, int hd, float* o) {
  const int dv = hd / QV_W * QV_W;
  for (int64_t j = 0; j < n; j++) {
    const P vr = v + j * w;
    for (int g = 0; g < nkv; g++) {
      const P vg = vr + (int64_t)g * hd;
      float* og = o + (int64_t)g * group * hd;
      const float* pg = p + (int64_t)g * group * ldp + j;
      int h = 0;
      // Two heads at a time share each loaded (and widened) V vector.
      for (; h + 2 <= group; h += 2) {
        const vf p0 = vset1(pg[h * ldp]), p1 = vset1(pg[(h + 1) * ldp]);
        float *o0 = og + (int64_t)h * hd, *o1 = o0 + hd;
        for (int d = 0; d < dv; d += QV_W) {
          const vf vv = kvLoad(vg + d);
          vstore(o0 + d, vfma(p0, vv, vload(o0 + d)));
          vstore(o1 + d, vfma(p1, vv, vload(o1 + d)));
        }
      }
      for (; h < group; h++) {
        const vf p0 = vset1(pg[h * ldp]);
        float* o0 = og + (int64_t)h * hd;
        for (int d = 0; d < dv; d += QV_W) vstore(o0 + d, vfma(p0, kvLoad(vg + d), vload(o0 + d)));
      }
      for (int d = dv; d < hd; d++)
        for (int hh = 0; hh < group; hh++) og[(int64_t)hh * hd + d] += pg[hh * ldp] * kvAt(vg + d);
    }
  }
}

#if defined(__AVX2__)
/** A vector's lanes folded to 8 (AVX-512: lane i + lane i+8). */
static inline __m256 lanes8(vf v) {
#if defined(__AVX512F__)
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
#else
  return v;
#endif
}
#endif

/** The sums of 8 vectors' lanes, in order (r[i] = Σ lanes of v[i]). */
static inline void hsumLanes8(const vf* v, float* r) {
#if defined(__AVX2__)
  __m256 y[8];
  for (int i = 0; i < 8; i++) y[i] = lanes8(v[i]);
  const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(y[0], y[1]), _mm256_hadd_ps(y[2], y[3]));  // [0..3 lo | 0..3 hi]
  const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(y[4], y[5]), _mm256_hadd_ps(y[6], y[7]));
  _mm256_storeu_ps(r, _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31)));
#else
  for (int i = 0; i < 8; i++) r[i] = hsum(v[i]);
#endif
}

/** One vector's lane sum in hsumLanes8's order: a score is the same bits whichever block shape computed it. */
static inline float hsumTree(vf v) {
#if defined(__AVX2__)
  __m256 y = lanes8(v);
  y = _mm256_hadd_ps(y, y);
  y = _mm256_hadd_ps(y, y);
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(y), _mm256_extractf128_ps(y, 1)));
#else
  return hsum(v);
#endif
}

/** scale · q · k for one head and key (the scoring kernels' arithmetic, for keys outside their blocks). */
template <class P>
static inline float attnScoreKey(const float* q, P k, int hd, float scale) {
  vf s0 = vzero();
  int d = 0;
  for (; d + QV_W <= hd; d += QV_W) s0 = vfma(vload(q + d), kvLoad(k + d), s0);
  float s = hsumTree(s0);
  for (; d < hd; d++) s += q[d] * kvAt(k + d);
  return s * scale;
}

/**
 * s[h][j] = scale · q_h · k_j for KB keys × HB heads of one kv head (HB·KB = 8): 8 independent FMA chains, reduced
 * together (one horizontal sum each had cost a fifth of the block).
 */
template <int HB, int KB, class P>
static inline void attnScoreBlock(const float* q, P k, int64_t kStride, int hd, float scale, float* s, int64_t lds) {
  static_assert(HB * KB == 8, "8 accumulators");
  vf acc[HB * KB];
  for (int i = 0; i < HB * KB; i++) acc[i] = vzero();
  for (int d = 0; d < hd; d += QV_W) {
    vf kv[KB];
    for (int u = 0; u < KB; u++) kv[u] = kvLoad(k + u * kStride + d);
    for (int h = 0; h < HB; h++) {
      const vf qh = vload(q + (int64_t)h * hd + d);
      for (int u = 0; u < KB; u++) acc[h * KB + u] = vfma(qh, kv[u], acc[h * KB + u]);
    }
  }
  float r[8];
  hsumLanes8(acc, r);
  for (int h = 0; h < HB; h++)
    for (int u = 0; u < KB; u++) s[h * lds + u] = r[h * KB + u] * scale;
}

/**
 * s[i·lds] = scale · q_{h0+i} · k for 8 consecutive heads h0.. and one key row k (GH heads per kv head in the block,
 * 8 / GH kv heads): the row is read once, in address order. Each score's FMA chain and horizontal sum are
 * attnScoreBlock's, so the bits are the same as there.
 */
template <int GH, class P>
static inline void attnScoreHeads8(const float* q, P krow, int h0, int group, int hd, float scale, float* s, int64_t lds) {
  constexpr int G = 8 / GH;
  const int g0 = h0 / group;
  vf acc[8];
  for (int i = 0; i < 8; i++) acc[i] = vzero();
  for (int d = 0; d < hd; d += QV_W)
    for (int gi = 0; gi < G; gi++) {
      const vf kv = kvLoad(krow + (int64_t)(g0 + gi) * hd + d);
      for (int hi = 0; hi < GH; hi++) acc[gi * GH + hi] = vfma(vload(q + (int64_t)(h0 + gi * GH + hi) * hd + d), kv, acc[gi * GH + hi]);
    }
  float r[8];
  hsumLanes8(acc, r);
  for (int i = 0; i < 8; i++) s[i * lds] = r[i] * scale;
}

/**
 * Scores of n key rows (row stride kStride) for every head: sc[h·lds + j]; a key is loaded once per kv head. With v,
 * the same value rows are prefetched meanwhile, a few rows ahead of the key (the contiguous decode path; its chunk's
 * K and V stay in L2 for the p·V pass). Shared by the decode path here and the paged kernel (f32, f16 or q8_0 keys).
 */
template <class P>
static inline void attnScoresChunk(const float* q, P k, P v, int64_t kStride, int64_t n, int group, int nkv, int hd, float scale, float* sc, int64_t lds) {
  const int hb = group % 4 == 0 ? 4 : group % 2 == 0 ? 2 : 1, kb = 8 / hb;
  const int64_t rowBytes = v ? kvAddr(v + kStride) - kvAddr(v) : 0;
  for (int64_t j = 0; v && j < n && j < kb; j++)
    for (int64_t off = 0; off < rowBytes; off += 64) _mm_prefetch_(kvAddr(v + j * kStride) + off);
  int64_t j = 0;
  const int nh = group * nkv, gh = group < 8 ? group : 8;
  if (hd % QV_W == 0 && nh % 8 == 0 && (group < 8 ? 8 % group == 0 : group % 8 == 0)) {
    // Key by key, 8 heads at a time: each key row streams once in address order. Blocks of kb keys per kv head (below)
    // walked kb rows 2 KiB apart at once, and a Zen 4 core read K that way at 7–10 GB/s from memory against 20+ key by
    // key (bench/native/kvscore.c); the sums are the same bits.
    for (; j < n; j++) {
      if (v && j + kb < n)  // kb rows ahead: the rows before were prefetched above
        for (int64_t off = 0; off < rowBytes; off += 64) _mm_prefetch_(kvAddr(v + (j + kb) * kStride) + off);
      const P kr = k + j * kStride;
      for (int h0 = 0; h0 < nh; h0 += 8) {
        float* s = sc + h0 * lds + j;
        if (gh == 1) attnScoreHeads8<1>(q, kr, h0, group, hd, scale, s, lds);
        else if (gh == 2) attnScoreHeads8<2>(q, kr, h0, group, hd, scale, s, lds);
        else if (gh == 4) attnScoreHeads8<4>(q, kr, h0, group, hd, scale, s, lds);
        else attnScoreHeads8<8>(q, kr, h0, group, hd, scale, s, lds);
      }
    }
  } else if (hd % QV_W == 0) {
    for (; j + kb <= n; j += kb) {
      for (int64_t u = j + kb; v && u < n && u < j + 2 * kb; u++)
        for (int64_t off = 0; off < rowBytes; off += 64) _mm_prefetch_(kvAddr(v + u * kStride) + off);
      for (int g = 0; g < nkv; g++)
        for (int h0 = 0; h0 < group; h0 += hb) {
          const int h = g * group + h0;
          const P kg = k + j * kStride + (int64_t)g * hd;
          if (hb == 4) attnScoreBlock<4, 2>(q + (int64_t)h * hd, kg, kStride, hd, scale, sc + h * lds + j, lds);
          else if (hb == 2) attnScoreBlock<2, 4>(q + (int64_t)h * hd, kg, kStride, hd, scale, sc + h * lds + j, lds);
          else attnScoreBlock<1, 8>(q + (int64_t)h * hd, kg, kStride, hd, scale, sc + h * lds + j, lds);
        }
    }
  }
  // Keys past the last whole block: the same dot product one key at a time.
  for (; j < n; j++)
    for (int h = 0; h < group * nkv; h++) sc[h * lds + j] = attnScoreKey(q + (int64_t)h * hd, k + j * kStride + (int64_t)(h / group) * hd, hd, scale);
}

/** Softmax numerators of each head's n scores in place: m[h] = max, l[h] = Σ e^(s − max). */
static inline void attnSoftmaxHeads(float* sc, int64_t lds, int64_t n, int nh, float* m, float* l) {
  for (int h = 0; h < nh; h++) {
    float* s = sc + h * lds;
    // Vector max and sum: one scalar chain over all n scores had cost a tenth of the decode tile.
    float mx = -INFINITY;
    int64_t j = 0;
    if (n >= QV_W) {
      vf vm = vload(s);
      for (j = QV_W; j + QV_W <= n; j += QV_W) vm = vmax(vm, vload(s + j));
      mx = hmax(vm);
    }
    for (; j < n; j++) mx = fmaxf_(mx, s[j]);
    vf vs = vzero();
    for (j = 0; j + QV_W <= n; j += QV_W) {
      const vf e = vexp(vsub(vload(s + j), vset1(mx)));
      vstore(s + j, e);
      vs = vadd(vs, e);
    }
    float sum = hsum(vs);
    for (; j < n; j++) sum += s[j] = expf(s[j] - mx);
    m[h] = mx;
    l[h] = sum;
  }
}

/**
 * Few query rows (decode): the key range is cut into chunks and each (row, chunk) task handles every head, walking
 * whole K and V rows (all kv heads, nkv·hd contiguous floats) in order, so each thread streams memory sequentially.
 * (One task per kv head read 512 of every 4096 bytes per row: strided, which the prefetchers do not follow — 3×
 * slower at 576 keys.) Each task keeps a partial softmax (max, sum, unnormalised output) per head; the partials are
 * merged at the end, as in a split-K flash attention.
 */
static void attnDecode(Exec* ex, const AttnArgs* a) {
  const int group = a->nh / a->nkv, hd = a->hd, nh = a->nh;
  int64_t hiAll = 0;
  for (int64_t i = 0; i < a->T; i++) {
    int64_t lo, hi;
    rowRange(a, i, &lo, &hi);
    hiAll = imax(hiAll, hi);
  }
  // Chunks of 32..64 keys (a chunk's K and V rows stay in L2 between the passes), at least 4 per thread so that a
  // descheduled thread delays the op by little.
  const int64_t chunk = imax(32, imin(64, (hiAll + ex->threads * 4 - 1) / (ex->threads * 4)));
  const int64_t nChunks = imax(1, (hiAll + chunk - 1) / chunk);
  const int64_t tasks = (int64_t)a->T * nChunks;
  float* pm = salloc((size_t)(tasks * nh));
  float* pl = salloc((size_t)(tasks * nh));
  float* po = salloc((size_t)(tasks * nh * hd));
  pfor(ex, tasks, 1, [&](int64_t t0, int64_t t1) {
    float* sc = salloc((size_t)nh * chunk);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t i = t / nChunks, c = t % nChunks;
      int64_t lo, hi;
      rowRange(a, i, &lo, &hi);
      const int64_t j0 = imax(lo, c * chunk), j1 = imin(hi, (c + 1) * chunk), n = j1 - j0;
      float* m = pm + t * nh;
      float* l = pl + t * nh;
      float* o = po + t * nh * hd;
      memset(o, 0, (size_t)nh * hd * 4);
      if (n <= 0) {
        for (int h = 0; h < nh; h++) m[h] = -INFINITY, l[h] = 0;
        continue;
      }
      const float* q = a->q + i * a->qStride;
      // Scores, a few key rows at a time (all kv heads of a row are adjacent, so the block is read in order).
      attnScoresChunk(q, a->k + j0 * a->kvStride, a->v + j0 * a->kvStride, a->kvStride, n, group, a->nkv, hd, a->scale, sc, chunk);
      attnSoftmaxHeads(sc, chunk, n, nh, m, l);
      attnPV(sc, chunk, n, a->v + j0 * a->kvStride, a->kvStride, group, a->nkv, hd, o);  // unnormalised p·V
    }
    sfree(sc);
  });
  // Merge the chunks' partial softmaxes per (row, head).
  for (int64_t i = 0; i < a->T; i++) {
    for (int h = 0; h < nh; h++) {
      float mx = -INFINITY;
      for (int64_t c = 0; c < nChunks; c++) mx = fmaxf_(mx, pm[(i * nChunks + c) * nh + h]);
      float* out = a->out + i * a->qStride + (int64_t)h * hd;
      for (int d = 0; d < hd; d++) out[d] = 0;
      if (mx == -INFINITY) continue;
      float sum = 0;
      for (int64_t c = 0; c < nChunks; c++) {
        const int64_t t = i * nChunks + c;
        if (pm[t * nh + h] == -INFINITY) continue;
        const float f = expf(pm[t * nh + h] - mx);
        sum += f * pl[t * nh + h];
        const float* oc = po + (t * nh + h) * hd;
        for (int d = 0; d < hd; d++) out[d] += f * oc[d];
      }
      const float inv = 1.0f / sum;
      for (int d = 0; d < hd; d++) out[d] *= inv;
    }
  }
  sfree(pm);
  sfree(pl);
  sfree(po);
}

struct AttnTile {
  int64_t r0, r1, lo, hiMax;
};

/**
 * Online-softmax update of one score row s[0, BK) whose keys [jlo, jhi) are visible: s becomes exp(s − m') (zero
 * outside), l and m are updated, and the row's output is rescaled by exp(m − m'). Whole visible blocks (the
 * vision tower's common case) take the vector path: one horizontal max and one horizontal sum per row and block.
 */
static inline void attnSoftmaxRow(float* s, int64_t jlo, int64_t jhi, float* m, float* l, float* o, int hd) {
  float mx = *m;
  if (jlo == 0 && jhi == ATT_BK) {
    vf vm = vset1(mx);
    for (int j = 0; j < ATT_BK; j += QV_W) vm = vmax(vm, vload(s + j));
    mx = hmax(vm);
  } else {
    for (int64_t j = jlo; j < jhi; j++) mx = fmaxf_(mx, s[j]);
  }
  const float alpha = *m == -INFINITY ? 0.0f : expf(*m - mx);
  for (int64_t j = 0; j < jlo; j++) s[j] = 0;
  vf vs = vzero();
  int64_t j = jlo;
  for (; j + QV_W <= jhi; j += QV_W) {
    const vf e = vexp(vsub(vload(s + j), vset1(mx)));
    vstore(s + j, e);
    vs = vadd(vs, e);
  }
  float sum = hsum(vs);
  for (; j < jhi; j++) sum += s[j] = expf(s[j] - mx);
  for (; j < ATT_BK; j++) s[j] = 0;
  *l = *l * alpha + sum;
  *m = mx;
  if (alpha != 1.0f) {
    int d = 0;
    for (; d + QV_W <= hd; d += QV_W) vstore(o + d, vmul(vload(o + d), vset1(alpha)));
    for (; d < hd; d++) o[d] *= alpha;
  }
}

/** Tiles of ≤ bq query rows that share a key range start (split at segment bounds); returns how many. */
static int64_t attnQueryTiles(const AttnArgs* a, AttnTile* tiles, int64_t bq = ATT_BQ) {
  int64_t nTiles = 0;
  for (int64_t r = 0; r < a->T;) {
    int64_t lo, hi;
    rowRange(a, r, &lo, &hi);
    int64_t end = imin(a->T, r + bq);
    if (a->seg) end = imin(end, hi);  // hi is the segment's end row
    int64_t hiMax = 0;
    for (int64_t i = r; i < end; i++) {
      int64_t l2, h2;
      rowRange(a, i, &l2, &h2);
      hiMax = imax(hiMax, h2);
    }
    tiles[nTiles++] = AttnTile{r, end, lo, hiMax};
    r = end;
  }
  return nTiles;
}

/** A query tile's online-softmax state: O [BQ][hd] zeroed, m = −∞, l = 0, and each row's key range end. */
static inline void attnTileStart(const AttnArgs* a, const AttnTile& tl, int hd, float* O, float* m, float* l, int64_t* hiRow) {
  memset(O, 0, (size_t)ATT_BQ * hd * 4);
  for (int i = 0; i < ATT_BQ; i++) {
    m[i] = -INFINITY;
    l[i] = 0;
    int64_t lo;
    if (i < tl.r1 - tl.r0) rowRange(a, tl.r0 + i, &lo, &hiRow[i]);
  }
}

/** The tile's output rows of head h: O / l (zero where no key was visible). */
static inline void attnTileFinish(const AttnArgs* a, const AttnTile& tl, int h, int hd, const float* O, const float* l) {
  for (int i = 0; i < tl.r1 - tl.r0; i++) {
    const float inv = l[i] > 0 ? 1.0f / l[i] : 0.0f;
    float* o = a->out + (tl.r0 + i) * a->qStride + (int64_t)h * hd;
    for (int d = 0; d < hd; d++) o[d] = O[i * hd + d] * inv;
  }
}

/** Precision 'fast' on AMX-BF16 (kern/attnbf16.h); false where it does not apply. */
static bool attnTiledBf16(Exec* ex, const AttnArgs* a);

/** Exact tiled attention with queries in vector lanes (kern/attnlanes.h). */
static void attnLanes(Exec* ex, const AttnArgs* a);

static void opAttention(Exec* ex, const AttnArgs* a) {
  if (a->T <= 4 && !a->seg) attnDecode(ex, a);
  else if (!attnTiledBf16(ex, a)) attnLanes(ex, a);
}

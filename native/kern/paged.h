// Paged attention over a block pool (f32, f16 or q8_0 slots) for a ragged batch, and the K/V write into slots.
// Each query row's keys are cut into tiles of PG_TILE absolute key indices; a (row, tile) pair computes a partial
// softmax (max, sum, unnormalised p·V) for every head and the partials are merged in tile order. A task takes one tile
// for up to PG_ROWS query rows of one sequence, so a prefill chunk reads (and for q8_0 or f16, converts) each key tile
// once for many rows; decode rows read f16 and q8_0 keys directly with vector conversion. The arithmetic of a row depends only
// on its own sequence, never on the other rows of the batch or on the grouping: batched equals unbatched, bit for bit.

#define PG_TILE 64
#define PG_ROWS 16

// Element loads (kvLoad/kvAt), the scoring loop (attnScoresChunk), the softmax (attnSoftmaxHeads) and p·V (attnPV):
// attention.h.

/** One (row, tile) partial over runs of adjacent keys: `runs` pairs (first key's K/V pointers, count) in key order. */
template <class P>
static void pgRowTile(const PagedArgs* a, const float* q, const P* rk, const P* rv, const int64_t* rn, int runs, int64_t n, float* sc, float* m, float* l, float* o) {
  const int nh = a->nh, hd = a->hd, group = a->nh / a->nkv;
  const int64_t w = (int64_t)a->nkv * hd;
  memset(o, 0, (size_t)nh * hd * 4);
  int64_t at = 0;
  for (int u = 0; u < runs && at < n; u++) {
    const int64_t c = imin(rn[u], n - at);
    attnScoresChunk<P>(q, rk[u], P{}, w, c, group, a->nkv, hd, a->scale, sc + at, PG_TILE);
    at += c;
  }
  attnSoftmaxHeads(sc, PG_TILE, n, nh, m, l);
  at = 0;
  for (int u = 0; u < runs && at < n; u++) {
    const int64_t c = imin(rn[u], n - at);
    attnPV(sc + at, PG_TILE, c, rv[u], w, group, a->nkv, hd, o);
    at += c;
  }
}

// PG_R rows of one sequence at once against a staged (f32) tile that all of them see whole: each key and value vector
// read from L2 serves PG_R rows (one row at a time re-read the 512 KiB tile per row: a prefill's paged attention ran
// at half the contiguous kernel's speed). Per row the operations and their order are pgRowTile's (hsumTree keeps a
// score's reduction independent of the block shape), so a row's bits do not depend on which path took it.
#define PG_R 4
#if QV_W == 16
#define PG_KB 2  // keys per score block and vectors per p·V slice: 4 rows × 2 heads × 2 = 16 of 32 registers
#else
#define PG_KB 1  // 8 of 16
#endif

/** Scores of PG_KB keys (from k, row stride w) × HB heads × PG_R rows: s[r][h·PG_TILE + u] (q[r], s[r] at head hb). */
template <int HB>
static inline void pgScoreRows(const float* const* q, const float* k, int64_t w, int hd, float scale, float* const* s) {
  constexpr int NA = PG_R * HB * PG_KB;
  vf acc[NA];
  for (int i = 0; i < NA; i++) acc[i] = vzero();
  for (int d = 0; d < hd; d += QV_W) {
    vf kv[PG_KB];
    for (int u = 0; u < PG_KB; u++) kv[u] = vload(k + u * w + d);
    for (int r = 0; r < PG_R; r++)
      for (int h = 0; h < HB; h++) {
        const vf qh = vload(q[r] + (int64_t)h * hd + d);
        for (int u = 0; u < PG_KB; u++) acc[(r * HB + h) * PG_KB + u] = vfma(qh, kv[u], acc[(r * HB + h) * PG_KB + u]);
      }
  }
  float sum[NA];
  if (NA % 8 == 0)
    for (int i = 0; i < NA; i += 8) hsumLanes8(acc + i, sum + i);
  else
    for (int i = 0; i < NA; i++) sum[i] = hsumTree(acc[i]);
  for (int r = 0; r < PG_R; r++)
    for (int h = 0; h < HB; h++)
      for (int u = 0; u < PG_KB; u++) s[r][h * PG_TILE + u] = sum[(r * HB + h) * PG_KB + u] * scale;
}

/**
 * o[r][h·hd..] = Σ_j p[r][h·PG_TILE + j] · V[j] over n rows of vg (stride w) for HN heads of PG_R rows: each sum from
 * +0 in key order, as pgRowTile's zeroed accumulators (no memset of o: at depth 4096 a 512-row chunk zeroed 256 MiB a
 * layer for it).
 */
template <int HN>
static inline void pgPVRows(const float* const* p, const float* vg, int64_t w, int64_t n, int hd, float* const* o) {
  for (int d = 0; d < hd; d += PG_KB * QV_W) {
    vf acc[PG_R][HN][PG_KB];
    for (int r = 0; r < PG_R; r++)
      for (int h = 0; h < HN; h++)
        for (int u = 0; u < PG_KB; u++) acc[r][h][u] = vzero();
    for (int64_t j = 0; j < n; j++) {
      vf vv[PG_KB];
      for (int u = 0; u < PG_KB; u++) vv[u] = vload(vg + j * w + d + u * QV_W);
      for (int r = 0; r < PG_R; r++)
        for (int h = 0; h < HN; h++) {
          const vf pj = vset1(p[r][h * PG_TILE + j]);
          for (int u = 0; u < PG_KB; u++) acc[r][h][u] = vfma(pj, vv[u], acc[r][h][u]);
        }
    }
    for (int r = 0; r < PG_R; r++)
      for (int h = 0; h < HN; h++)
        for (int u = 0; u < PG_KB; u++) vstore(o[r] + (int64_t)h * hd + d + u * QV_W, acc[r][h][u]);
  }
}

/** Whether pgRowsTile takes this head size (whole vectors and p·V slices). */
static inline bool pgRowsFit(int hd) { return hd % (PG_KB * QV_W) == 0; }

/** PG_R rows' partials against n keys of a staged tile (k, v: [n, w] f32): sc holds PG_R × nh × PG_TILE scores. */
static void pgRowsTile(const PagedArgs* a, const float* const* q, const float* k, const float* v, int64_t n, float* sc, float* const* m, float* const* l, float* const* o) {
  const int nh = a->nh, hd = a->hd, group = a->nh / a->nkv;
  const int64_t w = (int64_t)a->nkv * hd;
  const int hb = group % 2 == 0 ? 2 : 1;
  const float* qh[PG_R];
  float* sh[PG_R];
  int64_t j = 0;
  for (; j + PG_KB <= n; j += PG_KB)
    for (int h = 0; h < nh; h += hb) {
      for (int r = 0; r < PG_R; r++) qh[r] = q[r] + (int64_t)h * hd, sh[r] = sc + ((int64_t)r * nh + h) * PG_TILE + j;
      const float* kg = k + j * w + (int64_t)(h / group) * hd;
      if (hb == 2) pgScoreRows<2>(qh, kg, w, hd, a->scale, sh);
      else pgScoreRows<1>(qh, kg, w, hd, a->scale, sh);
    }
  for (; j < n; j++)
    for (int r = 0; r < PG_R; r++)
      for (int h = 0; h < nh; h++) sc[((int64_t)r * nh + h) * PG_TILE + j] = attnScoreKey(q[r] + (int64_t)h * hd, k + j * w + (int64_t)(h / group) * hd, hd, a->scale);
  for (int r = 0; r < PG_R; r++) attnSoftmaxHeads(sc + (int64_t)r * nh * PG_TILE, PG_TILE, n, nh, m[r], l[r]);
  const float* ph[PG_R];
  float* oh[PG_R];
  for (int h = 0; h < nh; h += hb) {
    for (int r = 0; r < PG_R; r++) ph[r] = sc + ((int64_t)r * nh + h) * PG_TILE, oh[r] = o[r] + (int64_t)h * hd;
    const float* vg = v + (int64_t)(h / group) * hd;
    if (hb == 2) pgPVRows<2>(ph, vg, w, n, hd, oh);
    else pgPVRows<1>(ph, vg, w, n, hd, oh);
  }
}

/** f16 → f32 for n values (vector conversion is exact, as the scalar one). */
static inline void pgF16ToF32(const uint16_t* s, int64_t n, float* d) {
  int64_t i = 0;
  for (; i + QV_W <= n; i += QV_W) vstore(d + i, vload_f16(s + i));
  for (; i < n; i++) d[i] = f16ToF32(s[i]);
}

/** A task: rows [ra, rb) of one sequence (rows of a sequence are adjacent) against key tile t. */
struct PgUnit {
  int64_t ra, rb, t;
};

/** Rows [r0, r1) of a batch; partials of (row r, tile t) go to pm/pl/po at taskStart[r] + t − taskStart[r0]. */
static void pagedGroup(Exec* ex, const PagedArgs* a, const int32_t* rowSeq, int64_t r0, int64_t r1, const int64_t* taskStart, float* pm, float* pl, float* po) {
  const int nh = a->nh, hd = a->hd, bs = a->bs;
  const int64_t w = (int64_t)a->nkv * hd;
  auto hiOf = [&](int64_t r) {
    const int s = rowSeq[r];
    return (int64_t)a->kvLen[s] - (a->cuQ[s + 1] - a->cuQ[s]) + (r - a->cuQ[s]) + 1;  // keys [0, hi) are visible
  };
  PgUnit* units = (PgUnit*)malloc(sizeof(PgUnit) * (size_t)(taskStart[r1] - taskStart[r0]));
  int64_t nu = 0;
  for (int64_t ra = r0; ra < r1;) {
    int64_t rb = ra + 1;
    while (rb < r1 && rb - ra < PG_ROWS && rowSeq[rb] == rowSeq[ra]) rb++;
    const int64_t tiles = taskStart[rb] - taskStart[rb - 1];  // the last row sees the most keys
    for (int64_t t = 0; t < tiles; t++) units[nu++] = {ra, rb, t};
    ra = rb;
  }
  const int64_t base = taskStart[r0];
  const int maxRuns = PG_TILE / bs + 2;
  pfor(ex, nu, 1, [&](int64_t u0, int64_t u1) {
    float* sc = salloc((size_t)PG_R * nh * PG_TILE);
    float* kb = nullptr;
    float* vb = nullptr;
    const float** fk = (const float**)malloc(sizeof(void*) * maxRuns * 2);
    const float** fv = fk + maxRuns;
    const uint16_t** hk = (const uint16_t**)malloc(sizeof(void*) * maxRuns * 2);
    const uint16_t** hv = hk + maxRuns;
    Q8Ptr* qk = (Q8Ptr*)malloc(sizeof(Q8Ptr) * maxRuns * 2);
    Q8Ptr* qv = qk + maxRuns;
    int64_t* rn = (int64_t*)malloc(sizeof(int64_t) * maxRuns);
    for (int64_t u = u0; u < u1; u++) {
      const PgUnit un = units[u];
      const int s = rowSeq[un.ra];
      const int32_t* tbl = a->tbl + a->tblPtr[s];
      const int64_t j0 = un.t * PG_TILE, j1 = imin(hiOf(un.rb - 1), j0 + PG_TILE);
      // Runs of keys within one block (rows of a block are adjacent slots).
      int runs = 0;
      for (int64_t j = j0; j < j1;) {
        const int64_t off = j % bs, run = imin(j1 - j, bs - off), slot = (int64_t)tbl[j / bs] * bs + off;
        if (a->dt == DT_F16) {
          hk[runs] = (const uint16_t*)a->k + slot * w;
          hv[runs] = (const uint16_t*)a->v + slot * w;
        } else if (a->dt == DT_F32) {
          fk[runs] = (const float*)a->k + slot * w;
          fv[runs] = (const float*)a->v + slot * w;
        } else {
          qk[runs] = {(const uint8_t*)a->k, slot * w};
          qv[runs] = {(const uint8_t*)a->v, slot * w};
        }
        rn[runs++] = run;
        j += run;
      }
      // f16 and q8_0 for several rows: convert the tile once into f32 rows and use it for every row. One row (decode)
      // reads the pool directly, key rows in address order: staging q8_0 tiles for one row (decodeRow, then the f32
      // rows back from L2) read a depth-4096 pool at 9 GB/s, directly 14 (bench/pagedAttn.ts). q8_0 directly needs
      // whole vectors within a block (Q8Ptr): heads of a multiple of QV_W values.
      const bool one = un.rb - un.ra == 1;
      const bool staged = (a->dt == DT_F16 && !one) || (a->dt == DT_Q8_0 && !(one && hd % QV_W == 0));
      if (staged) {
        if (!kb) {
          kb = salloc((size_t)(PG_TILE * w));
          vb = salloc((size_t)(PG_TILE * w));
        }
        if (a->dt == DT_F16) {
          int64_t at = 0;
          for (int r = 0; r < runs; r++) {
            pgF16ToF32(hk[r], rn[r] * w, kb + at * w);
            pgF16ToF32(hv[r], rn[r] * w, vb + at * w);
            at += rn[r];
          }
        } else {
          const WMat kq{a->dt, a->k, 0, w}, vq{a->dt, a->v, 0, w};
          for (int64_t j = j0; j < j1; j++) {
            const int64_t slot = (int64_t)tbl[j / bs] * bs + j % bs;
            decodeRow(&kq, slot, 0, w, kb + (j - j0) * w);
            decodeRow(&vq, slot, 0, w, vb + (j - j0) * w);
          }
        }
        fk[0] = kb;
        fv[0] = vb;
        rn[0] = j1 - j0;
        runs = 1;
      }
      for (int64_t r = un.ra; r < un.rb; r++) {
        const int64_t n = imin(hiOf(r), j0 + PG_TILE) - j0;
        if (n <= 0) continue;  // an earlier row of the chunk that does not reach this tile
        if (staged && n == j1 - j0 && r + PG_R <= un.rb && pgRowsFit(hd)) {
          // Rows see more keys as r grows, so the PG_R rows from one that sees the whole tile all do.
          const float* qs[PG_R];
          float *ms[PG_R], *ls[PG_R], *os[PG_R];
          for (int i = 0; i < PG_R; i++) {
            const int64_t ti = taskStart[r + i] + un.t - base;
            qs[i] = a->q + (r + i) * (int64_t)nh * hd, ms[i] = pm + ti * nh, ls[i] = pl + ti * nh, os[i] = po + ti * nh * hd;
          }
          pgRowsTile(a, qs, fk[0], fv[0], n, sc, ms, ls, os);
          r += PG_R - 1;
          continue;
        }
        const int64_t tt = taskStart[r] + un.t - base;
        const float* q = a->q + r * (int64_t)nh * hd;
        float *mt = pm + tt * nh, *lt = pl + tt * nh, *ot = po + tt * nh * hd;
        if (a->dt == DT_F16 && !staged) pgRowTile<const uint16_t*>(a, q, hk, hv, rn, runs, n, sc, mt, lt, ot);
        else if (a->dt == DT_Q8_0 && !staged) pgRowTile<Q8Ptr>(a, q, qk, qv, rn, runs, n, sc, mt, lt, ot);
        else pgRowTile<const float*>(a, q, fk, fv, rn, runs, n, sc, mt, lt, ot);
      }
    }
    sfree(sc);
    if (kb) sfree(kb);
    if (vb) sfree(vb);
    free(fk);
    free(hk);
    free(qk);
    free(rn);
  });
  free(units);
  // Merge each row's tiles in order.
  pfor(ex, r1 - r0, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = r0 + i0; i < r0 + i1; i++) {
      const int64_t ta = taskStart[i] - base, tb = taskStart[i + 1] - base;
      for (int h = 0; h < nh; h++) {
        float mx = -INFINITY;
        for (int64_t t = ta; t < tb; t++) mx = fmaxf_(mx, pm[t * nh + h]);
        float* out = a->out + i * (int64_t)nh * hd + (int64_t)h * hd;
        for (int d = 0; d < hd; d++) out[d] = 0;
        float sum = 0;
        for (int64_t t = ta; t < tb; t++) {
          const float f = expf(pm[t * nh + h] - mx);
          sum += f * pl[t * nh + h];
          const float* oc = po + (t * nh + h) * hd;
          for (int d = 0; d < hd; d++) out[d] += f * oc[d];
        }
        const float inv = 1.0f / sum;
        for (int d = 0; d < hd; d++) out[d] *= inv;
      }
    }
  });
}

static void opPagedAttention(Exec* ex, const PagedArgs* a) {
  const int64_t N = a->cuQ[a->B];
  if (N <= 0) return;
  int32_t* rowSeq = (int32_t*)malloc((size_t)N * 4);
  int64_t* taskStart = (int64_t*)malloc((size_t)(N + 1) * 8);
  taskStart[0] = 0;
  for (int s = 0; s < a->B; s++) {
    const int64_t nq = a->cuQ[s + 1] - a->cuQ[s];
    for (int64_t r = a->cuQ[s]; r < a->cuQ[s + 1]; r++) {
      rowSeq[r] = s;
      const int64_t hi = a->kvLen[s] - nq + (r - a->cuQ[s]) + 1;
      taskStart[r + 1] = taskStart[r] + (hi + PG_TILE - 1) / PG_TILE;
    }
  }
  // Rows in groups whose partials fit ~32 MiB (the grouping never changes a row's arithmetic); the buffers are sized
  // to what the batch needs, so a decode step does not map (and fault in) 32 MiB per layer.
  const int64_t perTask = (int64_t)a->nh * (a->hd + 2) * 4, maxTasks = imax(1, ((int64_t)32 << 20) / perTask);
  int64_t most = 0;
  for (int64_t r = 0; r < N; r++) most = imax(most, taskStart[r + 1] - taskStart[r]);
  const int64_t cap = imax(imin(maxTasks, taskStart[N]), most);
  float* pm = salloc((size_t)(cap * a->nh));
  float* pl = salloc((size_t)(cap * a->nh));
  float* po = salloc((size_t)(cap * a->nh * a->hd));
  for (int64_t r0 = 0; r0 < N;) {
    int64_t r1 = r0 + 1;
    while (r1 < N && taskStart[r1 + 1] - taskStart[r0] <= cap) r1++;
    pagedGroup(ex, a, rowSeq, r0, r1, taskStart, pm, pl, po);
    r0 = r1;
  }
  sfree(pm);
  sfree(pl);
  sfree(po);
  free(rowSeq);
  free(taskStart);
}

/** pool[slots[i]] = src[i] in the pool's format (f32 copy, f16 round-to-nearest-even, q8_0 as quant.ts). */
static void opKvWrite(Exec* ex, uint8_t* pool, int dt, int64_t width, const int32_t* slots, int64_t n, const float* src) {
  const size_t rb = rowBytes(dt, width);
  pfor(ex, n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      uint8_t* d = pool + (size_t)slots[i] * rb;
      const float* x = src + i * width;
      if (dt == DT_F32) memcpy(d, x, rb);
      else if (dt == DT_F16) {
        uint16_t* h = (uint16_t*)d;
        int64_t c = 0;
#if defined(__F16C__)
        // Hardware round-to-nearest-even: the same bits as f32ToF16 for every finite and infinite value.
        for (; c + 8 <= width; c += 8) _mm_storeu_si128((__m128i*)(h + c), _mm256_cvtps_ph(_mm256_loadu_ps(x + c), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
        for (; c < width; c++) h[c] = f32ToF16(x[c]);
      } else
        for (int64_t b = 0; b < width / 32; b++) encodeQ8Block(x + b * 32, d + b * 34);
    }
  });
}

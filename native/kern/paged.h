// Paged attention over a block pool (f32, f16 or q8_0 slots) for a ragged batch, and the K/V write into slots.
// Each query row's keys are cut into tiles of PG_TILE absolute key indices; a (row, tile) task computes a partial
// softmax (max, sum, unnormalised p·V) for every head and the partials are merged in tile order. The arithmetic of a
// row depends only on its own sequence, never on the other rows of the batch: batched equals unbatched, bit for bit.

#define PG_TILE 64

/** o[h·hd..] += Σ_j p[h·ldp + j] · V[j][g(h)] over n rows of V (stride vStride). */
static inline void pagedPV(const float* p, int64_t ldp, int64_t n, const float* v, int64_t vStride, int group, int nkv, int hd, float* o) {
  for (int h = 0; h < group * nkv; h++) {
    const float* vh = v + (int64_t)(h / group) * hd;
    const float* ph = p + h * ldp;
    float* oh = o + (int64_t)h * hd;
    int d = 0;
    for (; d + 2 * QV_W <= hd; d += 2 * QV_W) {
      vf a0 = vload(oh + d), a1 = vload(oh + d + QV_W);
      for (int64_t j = 0; j < n; j++) {
        const vf pj = vset1(ph[j]);
        a0 = vfma(pj, vload(vh + j * vStride + d), a0);
        a1 = vfma(pj, vload(vh + j * vStride + d + QV_W), a1);
      }
      vstore(oh + d, a0);
      vstore(oh + d + QV_W, a1);
    }
    for (; d < hd; d++) {
      float a = oh[d];
      for (int64_t j = 0; j < n; j++) a += ph[j] * vh[j * vStride + d];
      oh[d] = a;
    }
  }
}

/** Rows [r0, r1) of a batch, one task per (row, tile); partials go to pm/pl/po at the task's index. */
static void pagedGroup(Exec* ex, const PagedArgs* a, const int32_t* rowSeq, int64_t r0, int64_t r1, const int64_t* taskStart, float* pm, float* pl, float* po) {
  const int nh = a->nh, hd = a->hd, group = a->nh / a->nkv, bs = a->bs;
  const int64_t w = (int64_t)a->nkv * hd;
  const int64_t tasks = taskStart[r1] - taskStart[r0];
  const WMat kv[2] = {{a->dt, a->k, 0, w}, {a->dt, a->v, 0, w}};
  pfor(ex, tasks, 1, [&](int64_t t0, int64_t t1) {
    float* sc = salloc((size_t)nh * PG_TILE);
    float* kb = a->dt == DT_F32 ? nullptr : salloc((size_t)(PG_TILE * w));
    float* vb = a->dt == DT_F32 ? nullptr : salloc((size_t)(PG_TILE * w));
    int64_t r = r0;
    for (int64_t tt = t0; tt < t1; tt++) {
      const int64_t t = taskStart[r0] + tt;
      while (taskStart[r + 1] <= t) r++;
      const int s = rowSeq[r];
      const int64_t nq = a->cuQ[s + 1] - a->cuQ[s];
      const int64_t hi = a->kvLen[s] - nq + (r - a->cuQ[s]) + 1;  // keys [0, hi) are visible
      const int64_t j0 = (t - taskStart[r]) * PG_TILE, j1 = imin(hi, j0 + PG_TILE), n = j1 - j0;
      float* m = pm + tt * nh;
      float* l = pl + tt * nh;
      float* o = po + tt * nh * hd;
      memset(o, 0, (size_t)nh * hd * 4);
      const float* q = a->q + r * (int64_t)nh * hd;
      const int32_t* tbl = a->tbl + a->tblPtr[s];
      // Scores per run of keys within one block (rows of a block are adjacent slots).
      for (int64_t j = j0; j < j1;) {
        const int64_t blk = tbl[j / bs], off = j % bs, run = imin(j1 - j, bs - off);
        const int64_t slot = blk * bs + off;
        const float *kr, *vr;
        if (a->dt == DT_F32) {
          kr = (const float*)a->k + slot * w;
          vr = (const float*)a->v + slot * w;
        } else {
          for (int64_t u = 0; u < run; u++) {
            decodeRow(&kv[0], slot + u, 0, w, kb + (j - j0 + u) * w);
            decodeRow(&kv[1], slot + u, 0, w, vb + (j - j0 + u) * w);
          }
          kr = kb + (j - j0) * w;
          vr = vb + (j - j0) * w;
        }
        attnScoresChunk(q, kr, vr, w, run, group, a->nkv, hd, a->scale, sc + (j - j0), PG_TILE);
        j += run;
      }
      for (int h = 0; h < nh; h++) {
        float* sh = sc + h * PG_TILE;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; j++) mx = fmaxf_(mx, sh[j]);
        float sum = 0;
        for (int64_t j = 0; j < n; j++) sum += sh[j] = expf(sh[j] - mx);
        m[h] = mx;
        l[h] = sum;
      }
      for (int64_t j = j0; j < j1;) {
        const int64_t off = j % bs, run = imin(j1 - j, bs - off);
        const float* vr = a->dt == DT_F32 ? (const float*)a->v + (tbl[j / bs] * bs + off) * w : vb + (j - j0) * w;
        // p for these keys sits at column (j − j0) of each head's score row.
        float* p = sc + (j - j0);
        pagedPV(p, PG_TILE, run, vr, w, group, a->nkv, hd, o);
        j += run;
      }
    }
    sfree(sc);
    if (kb) sfree(kb);
    if (vb) sfree(vb);
  });
  // Merge each row's tiles in order.
  pfor(ex, r1 - r0, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = r0 + i0; i < r0 + i1; i++) {
      const int64_t ta = taskStart[i] - taskStart[r0], tb = taskStart[i + 1] - taskStart[r0];
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
  // Rows in groups whose partials fit ~32 MiB (the grouping never changes a row's arithmetic).
  const int64_t perTask = (int64_t)a->nh * (a->hd + 2) * 4, maxTasks = imax(1, ((int64_t)32 << 20) / perTask);
  int64_t most = 0;
  for (int64_t r = 0; r < N; r++) most = imax(most, taskStart[r + 1] - taskStart[r]);
  const int64_t cap = imax(maxTasks, most);
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
      else if (dt == DT_F16)
        for (int64_t c = 0; c < width; c++) ((uint16_t*)d)[c] = f32ToF16(x[c]);
      else
        for (int64_t b = 0; b < width / 32; b++) encodeQ8Block(x + b * 32, d + b * 34);
    }
  });
}

// Attention that never builds a [T, T] matrix. Prefill/vision: query tiles × key blocks with an online softmax, keys
// packed transposed per kv head so scores come from an FMA micro-kernel. Decode (few rows): one pass per kv head
// over its key rows, all query heads of the GQA group together so each key/value row is read once.

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

/** Few query rows: scores for a kv head's whole key range, exact softmax, then the weighted value sum. */
static void attnDecode(Exec* ex, const AttnArgs* a) {
  const int group = a->nh / a->nkv, hd = a->hd;
  pfor(ex, (int64_t)a->T * a->nkv, 1, [&](int64_t t0, int64_t t1) {
    float* sc = salloc((size_t)group * a->kvLen);
    float* acc = salloc((size_t)group * hd);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t i = t / a->nkv;
      const int g = (int)(t % a->nkv);
      int64_t lo, hi;
      rowRange(a, i, &lo, &hi);
      const float* q0 = a->q + i * a->qStride + (int64_t)g * group * hd;
      for (int64_t j = lo; j < hi; j++) {
        const float* kj = a->k + j * a->kvStride + (int64_t)g * hd;
        for (int h = 0; h < group; h++) {
          const float* qh = q0 + (int64_t)h * hd;
          vf s = vzero();
          int d = 0;
          for (; d + QV_W <= hd; d += QV_W) s = vfma(vload(qh + d), vload(kj + d), s);
          float v = hsum(s);
          for (; d < hd; d++) v += qh[d] * kj[d];
          sc[h * a->kvLen + j] = v * a->scale;
        }
      }
      for (int h = 0; h < group; h++) {
        float* s = sc + h * a->kvLen;
        float mx = -INFINITY;
        for (int64_t j = lo; j < hi; j++) mx = fmaxf_(mx, s[j]);
        float sum = 0;
        int64_t j = lo;
        for (; j + QV_W <= hi; j += QV_W) {
          const vf e = vexp(vsub(vload(s + j), vset1(mx)));
          vstore(s + j, e);
          sum += hsum(e);
        }
        for (; j < hi; j++) sum += s[j] = expf(s[j] - mx);
        const float inv = 1.0f / sum;
        for (j = lo; j < hi; j++) s[j] *= inv;
        for (int d = 0; d < hd; d++) acc[h * hd + d] = 0;
      }
      for (int64_t j = lo; j < hi; j++) {
        const float* vj = a->v + j * a->kvStride + (int64_t)g * hd;
        for (int h = 0; h < group; h++) {
          float* o = acc + h * hd;
          const vf p = vset1(sc[h * a->kvLen + j]);
          int d = 0;
          for (; d + QV_W <= hd; d += QV_W) vstore(o + d, vfma(p, vload(vj + d), vload(o + d)));
          for (; d < hd; d++) o[d] += sc[h * a->kvLen + j] * vj[d];
        }
      }
      for (int h = 0; h < group; h++) memcpy(a->out + i * a->qStride + (int64_t)(g * group + h) * hd, acc + h * hd, hd * 4);
    }
    sfree(sc);
    sfree(acc);
  });
}

struct AttnTile {
  int64_t r0, r1, lo, hiMax;
};

/** S[BQ][BK] = Qs[BQ][hd] · Kt[hd][kb0 .. kb0+BK) (Kt row stride ld). */
static inline void attnScores(const float* Qs, int hd, const float* Kt, int64_t ld, float* S) {
  for (int i = 0; i < ATT_BQ; i += 4) {
    for (int j = 0; j < ATT_BK; j += 2 * QV_W) {
      vf c00 = vzero(), c01 = vzero(), c10 = vzero(), c11 = vzero(), c20 = vzero(), c21 = vzero(), c30 = vzero(), c31 = vzero();
      for (int d = 0; d < hd; d++) {
        const vf b0 = vload(Kt + d * ld + j), b1 = vload(Kt + d * ld + j + QV_W);
        vf t = vset1(Qs[i * hd + d]);
        c00 = vfma(t, b0, c00);
        c01 = vfma(t, b1, c01);
        t = vset1(Qs[(i + 1) * hd + d]);
        c10 = vfma(t, b0, c10);
        c11 = vfma(t, b1, c11);
        t = vset1(Qs[(i + 2) * hd + d]);
        c20 = vfma(t, b0, c20);
        c21 = vfma(t, b1, c21);
        t = vset1(Qs[(i + 3) * hd + d]);
        c30 = vfma(t, b0, c30);
        c31 = vfma(t, b1, c31);
      }
      vstore(S + i * ATT_BK + j, c00);
      vstore(S + i * ATT_BK + j + QV_W, c01);
      vstore(S + (i + 1) * ATT_BK + j, c10);
      vstore(S + (i + 1) * ATT_BK + j + QV_W, c11);
      vstore(S + (i + 2) * ATT_BK + j, c20);
      vstore(S + (i + 2) * ATT_BK + j + QV_W, c21);
      vstore(S + (i + 3) * ATT_BK + j, c30);
      vstore(S + (i + 3) * ATT_BK + j + QV_W, c31);
    }
  }
}

/** O[i][:] += Σ_j P[i][j] · V[j][:] for 4 rows i at a time. */
static inline void attnPV(const float* P, int nrows, int nk, const float* V, int64_t vStride, int hd, float* O) {
  for (int i = 0; i < nrows; i += 4) {
    const int ni = (int)imin(4, nrows - i);
    int d = 0;
    for (; d + 2 * QV_W <= hd; d += 2 * QV_W) {
      vf c[4][2];
      for (int r = 0; r < 4; r++) {
        const int rr = r < ni ? r : 0;
        c[r][0] = vload(O + (i + rr) * hd + d);
        c[r][1] = vload(O + (i + rr) * hd + d + QV_W);
      }
      for (int j = 0; j < nk; j++) {
        const vf v0 = vload(V + j * vStride + d), v1 = vload(V + j * vStride + d + QV_W);
        for (int r = 0; r < 4; r++) {
          const vf p = vset1(P[(i + r) * ATT_BK + j]);
          c[r][0] = vfma(p, v0, c[r][0]);
          c[r][1] = vfma(p, v1, c[r][1]);
        }
      }
      for (int r = 0; r < ni; r++) {
        vstore(O + (i + r) * hd + d, c[r][0]);
        vstore(O + (i + r) * hd + d + QV_W, c[r][1]);
      }
    }
    for (; d < hd; d++)
      for (int r = 0; r < ni; r++) {
        float s = O[(i + r) * hd + d];
        for (int j = 0; j < nk; j++) s += P[(i + r) * ATT_BK + j] * V[j * vStride + d];
        O[(i + r) * hd + d] = s;
      }
  }
}

static void attnTiled(Exec* ex, const AttnArgs* a) {
  const int hd = a->hd, group = a->nh / a->nkv;
  const int64_t kvPad = (a->kvLen + ATT_BK - 1) / ATT_BK * ATT_BK;
  // Keys transposed per kv head: Kt[g][d][j], zero past kvLen.
  float* Kt = salloc((size_t)a->nkv * hd * kvPad);
  pfor(ex, a->nkv, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; g++) {
      float* kt = Kt + g * hd * kvPad;
      for (int64_t j = 0; j < kvPad; j++) {
        const float* kj = a->k + j * a->kvStride + g * hd;
        for (int d = 0; d < hd; d++) kt[d * kvPad + j] = j < a->kvLen ? kj[d] : 0.0f;
      }
    }
  });
  // Tiles of query rows that share a key range start (split at segment bounds).
  AttnTile* tiles = (AttnTile*)malloc(sizeof(AttnTile) * (size_t)(a->T / ATT_BQ + a->nseg + 2));
  int64_t nTiles = 0;
  for (int64_t r = 0; r < a->T;) {
    int64_t lo, hi;
    rowRange(a, r, &lo, &hi);
    int64_t end = imin(a->T, r + ATT_BQ);
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
  pfor(ex, nTiles * a->nh, 1, [&](int64_t t0, int64_t t1) {
    float* Qs = salloc((size_t)ATT_BQ * hd);
    float* O = salloc((size_t)ATT_BQ * hd);
    float* S = salloc((size_t)ATT_BQ * ATT_BK);
    float m[ATT_BQ], l[ATT_BQ];
    int64_t hiRow[ATT_BQ];
    for (int64_t t = t0; t < t1; t++) {
      const AttnTile tl = tiles[t / a->nh];
      const int h = (int)(t % a->nh), g = h / group;
      const int nr = (int)(tl.r1 - tl.r0);
      for (int i = 0; i < ATT_BQ; i++) {
        for (int d = 0; d < hd; d++) Qs[i * hd + d] = i < nr ? a->q[(tl.r0 + i) * a->qStride + (int64_t)h * hd + d] * a->scale : 0.0f;
        for (int d = 0; d < hd; d++) O[i * hd + d] = 0;
        m[i] = -INFINITY;
        l[i] = 0;
        int64_t lo;
        if (i < nr) rowRange(a, tl.r0 + i, &lo, &hiRow[i]);
      }
      const float* kt = Kt + (int64_t)g * hd * kvPad;
      for (int64_t kb0 = tl.lo / ATT_BK * ATT_BK; kb0 < tl.hiMax; kb0 += ATT_BK) {
        attnScores(Qs, hd, kt + kb0, kvPad, S);
        const int nk = (int)imin(ATT_BK, tl.hiMax - kb0);
        for (int i = 0; i < nr; i++) {
          float* s = S + i * ATT_BK;
          const int64_t jlo = imax(0, tl.lo - kb0), jhi = imin(nk, hiRow[i] - kb0);
          if (jhi <= jlo) {
            for (int j = 0; j < ATT_BK; j++) s[j] = 0;
            continue;
          }
          float mx = m[i];
          for (int64_t j = jlo; j < jhi; j++) mx = fmaxf_(mx, s[j]);
          const float alpha = m[i] == -INFINITY ? 0.0f : expf(m[i] - mx);
          float sum = 0;
          for (int64_t j = 0; j < jlo; j++) s[j] = 0;
          int64_t j = jlo;
          for (; j + QV_W <= jhi; j += QV_W) {
            const vf e = vexp(vsub(vload(s + j), vset1(mx)));
            vstore(s + j, e);
            sum += hsum(e);
          }
          for (; j < jhi; j++) sum += s[j] = expf(s[j] - mx);
          for (; j < ATT_BK; j++) s[j] = 0;
          l[i] = l[i] * alpha + sum;
          m[i] = mx;
          if (alpha != 1.0f)
            for (int d = 0; d < hd; d++) O[i * hd + d] *= alpha;
        }
        attnPV(S, nr, nk, a->v + kb0 * a->kvStride + (int64_t)g * hd, a->kvStride, hd, O);
      }
      for (int i = 0; i < nr; i++) {
        const float inv = l[i] > 0 ? 1.0f / l[i] : 0.0f;
        float* o = a->out + (tl.r0 + i) * a->qStride + (int64_t)h * hd;
        for (int d = 0; d < hd; d++) o[d] = O[i * hd + d] * inv;
      }
    }
    sfree(Qs);
    sfree(O);
    sfree(S);
  });
  free(tiles);
  sfree(Kt);
}

static void opAttention(Exec* ex, const AttnArgs* a) {
  if (a->T <= 4 && !a->seg) attnDecode(ex, a);
  else attnTiled(ex, a);
}

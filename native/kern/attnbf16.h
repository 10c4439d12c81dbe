// Tiled attention on AMX-BF16 for precision 'fast' (prefill and the vision tower's patches): the tiled kernel's
// schedule (32 query rows × 64-key blocks, online softmax in f32) with both products on tiles: S = (q·scale)·Kᵀ from
// bf16-rounded q and K, and O += P·V from bf16-rounded probabilities and V, f32 sums. Needs hd a multiple of 32.
//
// Layouts (32-bit words = bf16 pairs, the low half first, as tdpbf16ps pairs its operands):
//   Kp[g][key/16][d/32][16 d-pairs][16 keys]   B tiles of S: one 16-key × 32-d slice each
//   Vp[g][key/32][d/16][16 key-pairs][16 d]    B tiles of P·V: one 32-key × 16-d slice each

#if QV_W == 16 && defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16")

static inline uint32_t bf16Pair(float lo, float hi) { return (uint32_t)f32ToBf16(lo) | ((uint32_t)f32ToBf16(hi) << 16); }

static bool attnTiledBf16(Exec* ex, const AttnArgs* a) {
  const int hd = a->hd, group = a->nh / a->nkv;
  if (!ex->bf16Act || hd % 32 != 0 || !amxBf16Ready()) return false;
  const int64_t kvPad = (a->kvLen + ATT_BK - 1) / ATT_BK * ATT_BK;
  const int64_t headWords = kvPad * hd / 2;  // words of one kv head's Kp (and Vp)
  uint32_t* Kp = (uint32_t*)salloc((size_t)a->nkv * headWords);
  uint32_t* Vp = (uint32_t*)salloc((size_t)a->nkv * headWords);
  const int nc = hd / 32, ndb = hd / 16;
  pfor(ex, a->nkv * (kvPad / 32), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t g = t / (kvPad / 32), kb32 = t % (kvPad / 32);
      uint32_t* kp = Kp + g * headWords;
      uint32_t* vp = Vp + g * headWords + kb32 * 32 * hd / 2;
      for (int64_t j = kb32 * 32; j < kb32 * 32 + 32; j++) {
        const bool in = j < a->kvLen;
        const float* kj = a->k + j * a->kvStride + g * hd;
        for (int c = 0; c < nc; c++)
          for (int r = 0; r < 16; r++)
            kp[((j / 16) * nc + c) * 256 + r * 16 + j % 16] = in ? bf16Pair(kj[c * 32 + 2 * r], kj[c * 32 + 2 * r + 1]) : 0;
      }
      for (int r = 0; r < 16; r++) {
        const int64_t j = kb32 * 32 + 2 * r;
        const float* v0 = a->v + j * a->kvStride + g * hd;
        const float* v1 = v0 + a->kvStride;
        for (int d = 0; d < hd; d++)
          vp[(d / 16) * 256 + r * 16 + d % 16] = bf16Pair(j < a->kvLen ? v0[d] : 0.0f, j + 1 < a->kvLen ? v1[d] : 0.0f);
      }
    }
  });
  // Tiles of query rows that share a key range start (split at segment bounds), as the f32 kernel.
  AttnTile* tiles = (AttnTile*)malloc(sizeof(AttnTile) * (size_t)(a->T / ATT_BQ + a->nseg + 2));
  const int64_t nTiles = attnQueryTiles(a, tiles);
  static_assert(ATT_BQ == 32 && ATT_BK == 64, "2×2 tiles of 16 rows per 32 × 32 block");
  pfor(ex, nTiles * a->nh, 1, [&](int64_t t0, int64_t t1) {
    amxConfigure();
    uint16_t* Qb = (uint16_t*)salloc((size_t)ATT_BQ * hd / 2);
    uint16_t* Pb = (uint16_t*)salloc((size_t)ATT_BQ * ATT_BK / 2);
    float* O = salloc((size_t)ATT_BQ * hd);
    float* S = salloc((size_t)ATT_BQ * ATT_BK);
    float m[ATT_BQ], l[ATT_BQ];
    int64_t hiRow[ATT_BQ];
    for (int64_t t = t0; t < t1; t++) {
      const AttnTile tl = tiles[t / a->nh];
      const int h = (int)(t % a->nh), g = h / group;
      const int nr = (int)(tl.r1 - tl.r0);
      for (int i = 0; i < ATT_BQ; i++) {
        if (i < nr) roundBf16(a->q + (tl.r0 + i) * a->qStride + (int64_t)h * hd, hd, a->scale, Qb + i * hd);
        else memset(Qb + i * hd, 0, (size_t)hd * 2);
        memset(O + i * hd, 0, (size_t)hd * 4);
        m[i] = -INFINITY;
        l[i] = 0;
        int64_t lo;
        if (i < nr) rowRange(a, tl.r0 + i, &lo, &hiRow[i]);
      }
      const uint32_t* kp = Kp + g * headWords;
      const uint32_t* vpg = Vp + g * headWords;
      for (int64_t kb0 = tl.lo / ATT_BK * ATT_BK; kb0 < tl.hiMax; kb0 += ATT_BK) {
        // S[32][64] in two 32-key halves of 2×2 tiles.
        for (int half = 0; half < 2; half++) {
          _tile_zero(0);
          _tile_zero(1);
          _tile_zero(2);
          _tile_zero(3);
          const int64_t kb16 = kb0 / 16 + 2 * half;
          for (int c = 0; c < nc; c++) {
            _tile_loadd(4, Qb + c * 32, hd * 2);
            _tile_loadd(5, Qb + 16 * hd + c * 32, hd * 2);
            _tile_loadd(6, kp + (kb16 * nc + c) * 256, 64);
            _tile_loadd(7, kp + ((kb16 + 1) * nc + c) * 256, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
          }
          float* s = S + half * 32;
          _tile_stored(0, s, ATT_BK * 4);
          _tile_stored(1, s + 16, ATT_BK * 4);
          _tile_stored(2, s + 16 * ATT_BK, ATT_BK * 4);
          _tile_stored(3, s + 16 * ATT_BK + 16, ATT_BK * 4);
        }
        const int nk = (int)imin(ATT_BK, tl.hiMax - kb0);
        for (int i = 0; i < ATT_BQ; i++) {
          float* s = S + i * ATT_BK;
          const int64_t jlo = i < nr ? imax(0, tl.lo - kb0) : 0, jhi = i < nr ? imin(nk, hiRow[i] - kb0) : 0;
          if (jhi <= jlo) memset(s, 0, ATT_BK * 4);
          else attnSoftmaxRow(s, jlo, jhi, &m[i], &l[i], O + i * hd, hd);
          roundBf16(s, ATT_BK, 1.0f, Pb + i * ATT_BK);
        }
        // O[32][hd] += P[32][64] · V[64][hd], 32 columns of hd at a time (2×2 tiles loaded from and stored to O).
        const uint32_t* vp = vpg + (kb0 / 32) * 16 * hd;
        for (int db = 0; db < ndb; db += 2) {
          float* o = O + db * 16;
          _tile_loadd(0, o, hd * 4);
          _tile_loadd(1, o + 16, hd * 4);
          _tile_loadd(2, o + 16 * hd, hd * 4);
          _tile_loadd(3, o + 16 * hd + 16, hd * 4);
          for (int kc = 0; kc < 2; kc++) {
            _tile_loadd(4, Pb + kc * 32, ATT_BK * 2);
            _tile_loadd(5, Pb + 16 * ATT_BK + kc * 32, ATT_BK * 2);
            _tile_loadd(6, vp + (kc * ndb + db) * 256, 64);
            _tile_loadd(7, vp + (kc * ndb + db + 1) * 256, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
          }
          _tile_stored(0, o, hd * 4);
          _tile_stored(1, o + 16, hd * 4);
          _tile_stored(2, o + 16 * hd, hd * 4);
          _tile_stored(3, o + 16 * hd + 16, hd * 4);
        }
      }
      for (int i = 0; i < nr; i++) {
        const float inv = l[i] > 0 ? 1.0f / l[i] : 0.0f;
        float* o = a->out + (tl.r0 + i) * a->qStride + (int64_t)h * hd;
        for (int d = 0; d < hd; d++) o[d] = O[i * hd + d] * inv;
      }
    }
    _tile_release();
    sfree(Qb);
    sfree(Pb);
    sfree(O);
    sfree(S);
  });
  free(tiles);
  sfree(Kp);
  sfree(Vp);
  return true;
}
#pragma GCC pop_options
#else
static bool attnTiledBf16(Exec*, const AttnArgs*) { return false; }
#endif

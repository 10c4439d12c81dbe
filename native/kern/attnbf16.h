// Tiled attention on bf16 products for precision 'fast', non-causal only (the vision tower's patches: causal text
// prefill keeps f32, where bf16 probabilities moved the fixtures' logits 1e-2 and flipped MoE experts): 32 query rows ×
// 64-key blocks, a row-wise online softmax in f32 (attention.h), and both products on bf16 pairs with f32 sums:
// S = (q·scale)·Kᵀ from bf16-rounded q and K, and O += P·V from bf16-rounded probabilities and V. Needs hd a multiple
// of 32. The products run on AMX tiles (tdpbf16ps) or, without AMX, on AVX512-BF16 (vdpbf16ps in the GEMM's 6 × 64
// micro-tile, gemmbf16.h); the packing, the tiles and the softmax are shared.
//
// Layouts (32-bit words = bf16 pairs, the low half first, as both instructions pair their operands):
//   Kp[g][key/32][hd/2 d-pairs][32 keys]   the GEMM's packB panel of the bf16 keys read as words: S's B tiles are
//                                          16 d-pairs × 16 keys of it (row stride 128 bytes)
//   Vp[g][key/32][16 key-pairs][hd]        word (r, d) = (V[2r][d], V[2r+1][d]): P·V's B tiles are 16 × 16 of it

#if QV_W == 16 && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)  // GCC target pragmas

/** K and V of every kv head rounded to bf16 into the Kp / Vp word panels above (kvPad keys, zero past kvLen). */
static void attnPackKvBf16(Exec* ex, const AttnArgs* a, int64_t kvPad, int64_t headWords, uint32_t* Kp, uint32_t* Vp) {
  const int hd = a->hd;
  pfor(ex, a->nkv * (kvPad / 32), 1, [&](int64_t t0, int64_t t1) {
    uint16_t* kb = (uint16_t*)salloc((size_t)32 * hd / 2);  // one block's keys in bf16, row-major
    for (int64_t t = t0; t < t1; t++) {
      const int64_t g = t / (kvPad / 32), kb32 = t % (kvPad / 32), j0 = kb32 * 32;
      const int rows = (int)imax(0, imin(32, a->kvLen - j0));
      for (int i = 0; i < rows; i++) roundBf16(a->k + (j0 + i) * a->kvStride + g * hd, hd, 1.0f, kb + i * hd);
      const WMat words{DT_F32, (const uint8_t*)kb, 32, hd / 2};
      packB(&words, 0, rows, 0, hd / 2, (float*)(Kp + g * headWords + kb32 * 16 * hd), nullptr);
      uint32_t* vp = Vp + g * headWords + kb32 * 16 * hd;
      for (int r = 0; r < 16; r++) {
        const int64_t j = j0 + 2 * r;
        const float* v0 = a->v + j * a->kvStride + g * hd;
        const float* v1 = v0 + a->kvStride;
        const __m512 zero = _mm512_setzero_ps();
        for (int d = 0; d < hd; d += 16) {
          const __m512i lo = bf16Bits(j < a->kvLen ? _mm512_loadu_ps(v0 + d) : zero);
          const __m512i hi = bf16Bits(j + 1 < a->kvLen ? _mm512_loadu_ps(v1 + d) : zero);
          _mm512_storeu_si512(vp + r * hd + d, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
      }
    }
    sfree(kb);
  });
}

/**
 * The query-tile loop: per (tile, head), q·scale rounded to bf16 into Qb; per 64-key block, scores(Qb, K panel of the
 * block, S[32][64]), the online softmax and the probabilities rounded into Pb, then pv(Pb, V rows of the block, O).
 * Qb and Pb carry GEMM_MR zero rows past the tile's 32 (the AVX512-BF16 products read 6 rows at a time). begin/end
 * run once per thread (AMX tile configuration and release).
 */
template <class Begin, class Scores, class PV, class End>
static void attnBf16Tiles(Exec* ex, const AttnArgs* a, const uint32_t* Kp, const uint32_t* Vp, int64_t headWords, Begin begin, Scores scores, PV pv, End end) {
  const int hd = a->hd, group = a->nh / a->nkv;
  // Tiles of query rows that share a key range start (split at segment bounds), as the f32 kernel.
  AttnTile* tiles = (AttnTile*)malloc(sizeof(AttnTile) * (size_t)(a->T / ATT_BQ + a->nseg + 2));
  const int64_t nTiles = attnQueryTiles(a, tiles);
  static_assert(ATT_BQ == 32 && ATT_BK == 64, "2×2 tiles of 16 rows per 32 × 32 block");
  pfor(ex, nTiles * a->nh, 1, [&](int64_t t0, int64_t t1) {
    begin();
    uint16_t* Qb = (uint16_t*)salloc((size_t)(ATT_BQ + GEMM_MR) * hd / 2);
    uint16_t* Pb = (uint16_t*)salloc((size_t)(ATT_BQ + GEMM_MR) * ATT_BK / 2);
    memset(Qb + ATT_BQ * hd, 0, (size_t)GEMM_MR * hd * 2);
    memset(Pb + ATT_BQ * ATT_BK, 0, (size_t)GEMM_MR * ATT_BK * 2);
    float* O = salloc((size_t)ATT_BQ * hd);
    float* S = salloc((size_t)ATT_BQ * ATT_BK);
    float m[ATT_BQ], l[ATT_BQ];
    int64_t hiRow[ATT_BQ];
    for (int64_t t = t0; t < t1; t++) {
      const AttnTile tl = tiles[t % nTiles];  // head-major, as the f32 kernel
      const int h = (int)(t / nTiles), g = h / group;
      const int nr = (int)(tl.r1 - tl.r0);
      for (int i = 0; i < ATT_BQ; i++) {
        if (i < nr) roundBf16(a->q + (tl.r0 + i) * a->qStride + (int64_t)h * hd, hd, a->scale, Qb + i * hd);
        else memset(Qb + i * hd, 0, (size_t)hd * 2);
      }
      attnTileStart(a, tl, hd, O, m, l, hiRow);
      const uint32_t* kp = Kp + g * headWords;
      const uint32_t* vpg = Vp + g * headWords;
      for (int64_t kb0 = tl.lo / ATT_BK * ATT_BK; kb0 < tl.hiMax; kb0 += ATT_BK) {
        scores(Qb, kp + (kb0 / 32) * 16 * hd, S);
        const int nk = (int)imin(ATT_BK, tl.hiMax - kb0);
        for (int i = 0; i < ATT_BQ; i++) {
          float* s = S + i * ATT_BK;
          const int64_t jlo = i < nr ? imax(0, tl.lo - kb0) : 0, jhi = i < nr ? imin(nk, hiRow[i] - kb0) : 0;
          if (jhi <= jlo) memset(s, 0, ATT_BK * 4);
          else attnSoftmaxRow(s, jlo, jhi, &m[i], &l[i], O + i * hd, hd);
          roundBf16(s, ATT_BK, 1.0f, Pb + i * ATT_BK);
        }
        pv(Pb, vpg + (kb0 / 32) * 16 * hd, O);  // the first 32 keys' block; the next follows
      }
      attnTileFinish(a, tl, h, hd, O, l);
    }
    end();
    sfree(Qb);
    sfree(Pb);
    sfree(O);
    sfree(S);
  });
  free(tiles);
}

#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16")
/** The products on AMX tiles: S in two 32-key halves of 2×2 tiles; O by 32 columns of hd, loaded from and stored to O. */
static void attnAmxBf16(Exec* ex, const AttnArgs* a, const uint32_t* Kp, const uint32_t* Vp, int64_t headWords) {
  const int hd = a->hd, nc = hd / 32, ndb = hd / 16;
  attnBf16Tiles(
      ex, a, Kp, Vp, headWords, [] { amxConfigure(); },
      [&](const uint16_t* Qb, const uint32_t* kpanel, float* S) {
        for (int half = 0; half < 2; half++) {
          amxZero2x2();
          const uint32_t* panel = kpanel + half * 16 * hd;
          for (int c = 0; c < nc; c++) amxStep2x2(Qb + c * 32, Qb + 16 * hd + c * 32, hd * 2, panel + c * 16 * 32, panel + c * 16 * 32 + 16, 128);
          amxStore2x2(S + half * 32, ATT_BK * 4);
        }
      },
      [&](const uint16_t* Pb, const uint32_t* vp, float* O) {
        for (int db = 0; db < ndb; db += 2) {
          float* o = O + db * 16;
          amxLoad2x2(o, hd * 4);
          for (int kc = 0; kc < 2; kc++) amxStep2x2(Pb + kc * 32, Pb + 16 * ATT_BK + kc * 32, ATT_BK * 2, vp + kc * 16 * hd + db * 16, vp + kc * 16 * hd + db * 16 + 16, hd * 4);
          amxStore2x2(o, hd * 4);
        }
      },
      [] { _tile_release(); });
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512bf16")
/** The products on AVX512-BF16: 6 query rows × 64 keys (S) and 6 rows × 64 (or a last 32) columns of hd (O +=). */
static void attnDpBf16(Exec* ex, const AttnArgs* a, const uint32_t* Kp, const uint32_t* Vp, int64_t headWords) {
  const int hd = a->hd;
  attnBf16Tiles(
      ex, a, Kp, Vp, headWords, [] {},
      [&](const uint16_t* Qb, const uint32_t* kpanel, float* S) {
        for (int i0 = 0; i0 < ATT_BQ; i0 += GEMM_MR) {
          __m512 c[GEMM_MR][4];
          dpProducts<2>(Qb + i0 * hd, hd, kpanel, kpanel + 16 * hd, 32, hd / 2, c);
          for (int i = 0; i < imin(GEMM_MR, ATT_BQ - i0); i++)
            for (int u = 0; u < 4; u++) _mm512_storeu_ps(S + (i0 + i) * ATT_BK + 16 * u, c[i][u]);
        }
      },
      [&](const uint16_t* Pb, const uint32_t* vp, float* O) {
        for (int d0 = 0; d0 < hd; d0 += 64) {
          const bool two = d0 + 64 <= hd;
          for (int i0 = 0; i0 < ATT_BQ; i0 += GEMM_MR) {
            __m512 c[GEMM_MR][4];
            if (two) dpProducts<2>(Pb + i0 * ATT_BK, ATT_BK, vp + d0, vp + d0 + 32, hd, ATT_BK / 2, c);
            else dpProducts<1>(Pb + i0 * ATT_BK, ATT_BK, vp + d0, nullptr, hd, ATT_BK / 2, c);
            for (int i = 0; i < imin(GEMM_MR, ATT_BQ - i0); i++) {
              float* o = O + (i0 + i) * hd + d0;
              for (int u = 0; u < (two ? 4 : 2); u++) _mm512_storeu_ps(o + 16 * u, _mm512_add_ps(_mm512_loadu_ps(o + 16 * u), c[i][u]));
            }
          }
        }
      },
      [] {});
}
#pragma GCC pop_options

static bool attnTiledBf16(Exec* ex, const AttnArgs* a) {
  const int hd = a->hd;
  if (!ex->bf16Act || a->causal || hd % 32 != 0) return false;
  const bool amx = amxBf16Ready();
  if (!amx && !dpBf16Ready()) return false;
  const int64_t kvPad = (a->kvLen + ATT_BK - 1) / ATT_BK * ATT_BK;
  const int64_t headWords = kvPad * hd / 2;  // words of one kv head's Kp (and Vp)
  uint32_t* Kp = (uint32_t*)salloc((size_t)a->nkv * headWords);
  uint32_t* Vp = (uint32_t*)salloc((size_t)a->nkv * headWords);
  attnPackKvBf16(ex, a, kvPad, headWords, Kp, Vp);
  if (amx) attnAmxBf16(ex, a, Kp, Vp, headWords);
  else attnDpBf16(ex, a, Kp, Vp, headWords);
  sfree(Kp);
  sfree(Vp);
  return true;
}
#else
static bool attnTiledBf16(Exec*, const AttnArgs*) { return false; }
#endif

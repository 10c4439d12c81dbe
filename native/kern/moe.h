// Sparse MoE: tokens are grouped by routed expert and each expert used runs as two linears (gate+up, then down)
// on views into the fused [E, 2I, H] / [E, H, I] tensors, so only the routed experts' weights are ever read.

static void opMoe(Exec* ex, const MoeArgs* a) {
  const int64_t T = a->T, H = a->H, I = a->I, k = a->k, E = a->E;
  memset(a->out, 0, (size_t)(T * H) * 4);
  // Bucket (token, weight) pairs by expert, preserving token order.
  int64_t* count = (int64_t*)calloc((size_t)E + 1, sizeof(int64_t));
  for (int64_t i = 0; i < T * k; i++) count[a->ids[i] + 1]++;
  for (int64_t e = 0; e < E; e++) count[e + 1] += count[e];
  int64_t* fill = (int64_t*)malloc(sizeof(int64_t) * (size_t)E);
  for (int64_t e = 0; e < E; e++) fill[e] = count[e];
  int64_t* tok = (int64_t*)malloc(sizeof(int64_t) * (size_t)(T * k + 1));
  float* wt = salloc((size_t)(T * k + 1));
  for (int64_t i = 0; i < T * k; i++) {
    const int64_t e = a->ids[i], at = fill[e]++;
    tok[at] = i / k;
    wt[at] = a->w[i];
  }
  int64_t maxC = 0;
  for (int64_t e = 0; e < E; e++) maxC = imax(maxC, count[e + 1] - count[e]);
  float* X = salloc((size_t)(maxC * H));
  float* G = salloc((size_t)(maxC * 2 * I));
  float* A = salloc((size_t)(maxC * I));
  float* Y = salloc((size_t)(maxC * H));
  const size_t guRow = rowBytes(a->gateUp.dt, H), dnRow = rowBytes(a->down.dt, I);
  for (int64_t e = 0; e < E; e++) {
    const int64_t c0 = count[e], c = count[e + 1] - c0;
    if (c == 0) continue;
    for (int64_t r = 0; r < c; r++) memcpy(X + r * H, a->x + tok[c0 + r] * H, (size_t)H * 4);
    const WMat gu{a->gateUp.dt, a->gateUp.p + (size_t)e * 2 * I * guRow, 2 * I, H};
    const WMat dn{a->down.dt, a->down.p + (size_t)e * H * dnRow, H, I};
    opLinear(ex, X, c, &gu, nullptr, G);
    opSwiglu(ex, G, c, I, A);
    opLinear(ex, A, c, &dn, nullptr, Y);
    for (int64_t r = 0; r < c; r++) {
      float* o = a->out + tok[c0 + r] * H;
      const float* yr = Y + r * H;
      const vf wv = vset1(wt[c0 + r]);
      int64_t j = 0;
      for (; j + QV_W <= H; j += QV_W) vstore(o + j, vfma(wv, vload(yr + j), vload(o + j)));
      for (; j < H; j++) o[j] += wt[c0 + r] * yr[j];
    }
  }
  sfree(X);
  sfree(G);
  sfree(A);
  sfree(Y);
  sfree(wt);
  free(tok);
  free(fill);
  free(count);
}

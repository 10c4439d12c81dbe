// Block formats: decoding any weight row to f32, encoding f32 to q8_0/q4_0 bit-identically to src/tensor/quant.ts
// (double arithmetic, as JavaScript does), and the internal q8 activation format used against quantized weights.

/** Decode values [c0, c0+n) of row r of w to f32 (c0 and n multiples of 32 for quantized formats). */
static void decodeRow(const WMat* w, int64_t r, int64_t c0, int64_t n, float* out) {
  const uint8_t* row = w->p + (size_t)r * rowBytes(w->dt, w->cols);
  switch (w->dt) {
    case DT_F32:
      memcpy(out, (const float*)row + c0, n * 4);
      return;
    case DT_BF16: {
      const uint16_t* s = (const uint16_t*)row + c0;
      int64_t i = 0;
      for (; i + QV_W <= n; i += QV_W) vstore(out + i, vload_bf16(s + i));
      for (; i < n; i++) out[i] = bf16ToF32(s[i]);
      return;
    }
    case DT_F16: {
      const uint16_t* s = (const uint16_t*)row + c0;
      for (int64_t i = 0; i < n; i++) out[i] = f16ToF32(s[i]);
      return;
    }
    case DT_Q8_0:
      for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t* blk = row + (c0 / 32 + b) * 34;
        uint16_t h;
        memcpy(&h, blk, 2);
        const float d = f16ToF32(h);
        const int8_t* q = (const int8_t*)(blk + 2);
        for (int i = 0; i < 32; i++) out[b * 32 + i] = d * (float)q[i];
      }
      return;
    case DT_Q4_0:
      for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t* blk = row + (c0 / 32 + b) * 18;
        uint16_t h;
        memcpy(&h, blk, 2);
        const float d = f16ToF32(h);
        for (int i = 0; i < 16; i++) {
          out[b * 32 + i] = d * (float)((blk[2 + i] & 15) - 8);
          out[b * 32 + i + 16] = d * (float)((blk[2 + i] >> 4) - 8);
        }
      }
      return;
  }
}

/** One q8_0 block from 32 floats (quant.ts semantics: Math.round = floor(v + 0.5), scale stored as f16). */
static inline void encodeQ8Block(const float* x, uint8_t* o) {
  double amax = 0;
  for (int i = 0; i < 32; i++) {
    double a = x[i] < 0 ? -(double)x[i] : (double)x[i];
    if (a > amax) amax = a;
  }
  const double d = amax / 127, id = d != 0 ? 1 / d : 0;
  const uint16_t h = f32ToF16((float)d);
  memcpy(o, &h, 2);
  for (int i = 0; i < 32; i++) o[2 + i] = (uint8_t)(int8_t)floor((double)x[i] * id + 0.5);
}

/** One q4_0 block: the signed value of largest magnitude maps to -8 (ggml's choice). */
static inline void encodeQ4Block(const float* x, uint8_t* o) {
  double amax = 0, max = 0;
  for (int i = 0; i < 32; i++) {
    double a = x[i] < 0 ? -(double)x[i] : (double)x[i];
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  const double d = max / -8, id = d != 0 ? 1 / d : 0;
  const uint16_t h = f32ToF16((float)d);
  memcpy(o, &h, 2);
  for (int i = 0; i < 16; i++) {
    int lo = (int)trunc((double)x[i] * id + 8.5), hi = (int)trunc((double)x[i + 16] * id + 8.5);
    lo = lo > 15 ? 15 : lo;
    hi = hi > 15 ? 15 : hi;
    o[2 + i] = (uint8_t)(lo | (hi << 4));
  }
}

/**
 * q8 activations: per 32 values an int8 block, an f32 scale and the block's sum of quants (for the unsigned-nibble
 * trick of q4_0). Internal only, so the scale stays f32 (more accurate than ggml's f16 and no conversion).
 */
struct ActQ {
  int8_t* q;
  float* d;
  int32_t* s;
};

static inline void quantizeAct(const float* x, int64_t k, int8_t* q, float* d, int32_t* s) {
  for (int64_t b = 0; b < k / 32; b++) {
    const float* xb = x + b * 32;
    vf m = vzero();
    for (int i = 0; i < 32; i += QV_W) m = vmax(m, vabs(vload(xb + i)));
    const float amax = hmax(m);
    const float db = amax / 127.0f, id = db != 0 ? 127.0f / amax : 0.0f;
    d[b] = db;
    int32_t sum = 0;
    float tmp[32];
    for (int i = 0; i < 32; i += QV_W) vstore(tmp + i, vround(vmul(vload(xb + i), vset1(id))));
    for (int i = 0; i < 32; i++) {
      int v = (int)tmp[i];
      q[b * 32 + i] = (int8_t)v;
      sum += v;
    }
    s[b] = sum;
  }
}

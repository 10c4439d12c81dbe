// Op bindings: check argument sizes against the buffers (so a bad call throws instead of corrupting memory), then
// enqueue the kernel with references to its buffers. Shapes were validated in TypeScript; these are the last guard.
#include <math.h>
#include <string.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "addon.h"

namespace qv {

static float fArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().FloatValue(); }
static BufP optBuf(const Napi::Value& v, const char* what) { return v.IsNull() || v.IsUndefined() ? nullptr : unwrapBuf(v, what); }
static WMat wmat(const BufP& b, int dt, int64_t rows, int64_t cols) { return WMat{dt & ~DT_PACKED, b->get(), rows, cols, (dt & DT_PACKED) != 0}; }

/** Check a linear weight's bytes: row-major in its format, or f32/bf16 panels packed at load (dt | DT_PACKED). */
static void needWeight(Napi::Env env, const BufP& w, int dt, int64_t N, int64_t K) {
  const int base = dt & ~DT_PACKED;
  if ((dt & DT_PACKED) && base != DT_F32 && base != DT_BF16) throw Napi::TypeError::New(env, "cpu backend: only f32/bf16 weights are packed");
  needBytes(env, w, dt & DT_PACKED ? packedBytes(base, N, K) : rowBytes(dt, K) * (size_t)N, "weight");
}

struct PackCtx {
  const uint8_t* src;
  uint8_t* dst;
  int dt;
  int64_t N, K;
};

/** Panels [p0, p1) of a weight into the packed layout of common.h (padding rows stay zero). */
static void packPanels(void* c, int64_t p0, int64_t p1) {
  const PackCtx* g = (const PackCtx*)c;
  const int64_t K = g->K, Kp = packedK(g->dt, K);
  for (int64_t pan = p0; pan < p1; pan++)
    for (int64_t j = 0; j < PANEL_ROWS && pan * PANEL_ROWS + j < g->N; j++) {
      const int64_t n = pan * PANEL_ROWS + j;
      if (g->dt == DT_F32) {
        const float* r = (const float*)g->src + n * K;
        float* d = (float*)g->dst + pan * Kp * PANEL_ROWS + j;
        for (int64_t k = 0; k < K; k++) d[k * PANEL_ROWS] = r[k];
      } else {
        const uint16_t* r = (const uint16_t*)g->src + n * K;
        uint16_t* d = (uint16_t*)g->dst + pan * Kp * PANEL_ROWS + 2 * j;
        for (int64_t k = 0; k < K; k++) d[(k / 2) * 2 * PANEL_ROWS + (k & 1)] = r[k];
      }
    }
}

// packWeight(w, dt, N, K) -> the f32/bf16 weight [N, K] in GEMM panels (common.h), for linear/linearEx only.
Napi::Value CpuEngine::PackWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP w = unwrapBuf(info[0], "weight");
  const int dt = (int)intArg(info, 1, "dtype");
  const int64_t N = intArg(info, 2, "N"), K = intArg(info, 3, "K");
  if (dt != DT_F32 && dt != DT_BF16) throw Napi::TypeError::New(env, "cpu backend: packWeight takes f32 or bf16 weights");
  needBytes(env, w, rowBytes(dt, K) * (size_t)N, "weight");
  auto y = std::make_shared<Buf>(packedBytes(dt, N, K), true);
  Engine& e = eng();
  e.enqueue([&e, w, y, dt, N, K] {
    PackCtx c{w->get(), y->get(), dt, N, K};
    const int64_t panels = (N + PANEL_ROWS - 1) / PANEL_ROWS;
    if (e.ex.threads <= 1) packPanels(&c, 0, panels);
    else e.ex.run(&e.ex, panels, 1, packPanels, &c);
  });
  return wrapBuf(env, y, holders_);
}

// linear(x, w, bias|null, M, N, K, wdt)
Napi::Value CpuEngine::Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP x = unwrapBuf(info[0], "x"), w = unwrapBuf(info[1], "weight"), bias = optBuf(info[2], "bias");
  const int64_t M = intArg(info, 3, "M"), N = intArg(info, 4, "N"), K = intArg(info, 5, "K");
  const int dt = (int)intArg(info, 6, "dtype");
  needBytes(env, x, (size_t)(M * K) * 4, "x");
  needWeight(env, w, dt, N, K);
  if (bias) needBytes(env, bias, (size_t)N * 4, "bias");
  auto y = std::make_shared<Buf>((size_t)(M * N) * 4);
  Engine& e = eng();
  e.enqueue([&e, x, w, bias, y, M, N, K, dt] {
    const WMat wm = wmat(w, dt, N, K);
    e.ops->linear(&e.ex, x->f(), M, &wm, bias ? bias->f() : nullptr, y->f());
  });
  return wrapBuf(env, y, holders_);
}

// gather(table, dt, R, D, idx, n, k, weights|null): out [n/k... ] rows of D
Napi::Value CpuEngine::Gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP t = unwrapBuf(info[0], "table"), idx = unwrapBuf(info[4], "indices"), wts = optBuf(info[7], "weights");
  const int dt = (int)intArg(info, 1, "dtype");
  const int64_t R = intArg(info, 2, "rows"), D = intArg(info, 3, "cols"), n = intArg(info, 5, "n"), k = intArg(info, 6, "k");
  if (k < 1) throw Napi::RangeError::New(env, "cpu backend: gatherRows k must be >= 1");
  needBytes(env, t, rowBytes(dt, D) * (size_t)R, "table");
  needBytes(env, idx, (size_t)(n * k) * 4, "indices");
  if (wts) needBytes(env, wts, (size_t)(n * k) * 4, "weights");
  auto y = std::make_shared<Buf>((size_t)(n * D) * 4);
  Engine& e = eng();
  e.enqueue([&e, t, idx, wts, y, dt, R, D, n, k] {
    const int32_t* ids = idx->i();
    for (int64_t i = 0; i < n * k; i++)
      if (ids[i] < 0 || ids[i] >= R) throw std::runtime_error("cpu.gatherRows: index " + std::to_string(ids[i]) + " outside [0, " + std::to_string(R) + ")");
    const WMat tm = wmat(t, dt, R, D);
    e.ops->gatherRows(&e.ex, &tm, ids, n, (int)k, wts ? wts->f() : nullptr, y->f());
  });
  return wrapBuf(env, y, holders_);
}

// add(a, b, n)
Napi::Value CpuEngine::Add(const Napi::CallbackInfo& info) {
  BufP a = unwrapBuf(info[0], "a"), b = unwrapBuf(info[1], "b");
  const int64_t n = intArg(info, 2, "n");
  needBytes(info.Env(), a, (size_t)n * 4, "a");
  needBytes(info.Env(), b, (size_t)n * 4, "b");
  auto y = std::make_shared<Buf>((size_t)n * 4);
  Engine& e = eng();
  e.enqueue([&e, a, b, y, n] { e.ops->add(&e.ex, a->f(), b->f(), y->f(), n); });
  return wrapBuf(info.Env(), y, holders_);
}

// rmsNorm(x, w, rows, d, eps)
Napi::Value CpuEngine::RmsNorm(const Napi::CallbackInfo& info) {
  BufP x = unwrapBuf(info[0], "x"), w = unwrapBuf(info[1], "weight");
  const int64_t rows = intArg(info, 2, "rows"), d = intArg(info, 3, "d");
  const float eps = fArg(info, 4);
  needBytes(info.Env(), x, (size_t)(rows * d) * 4, "x");
  needBytes(info.Env(), w, (size_t)d * 4, "weight");
  auto y = std::make_shared<Buf>((size_t)(rows * d) * 4);
  Engine& e = eng();
  e.enqueue([&e, x, w, y, rows, d, eps] { e.ops->rmsNorm(&e.ex, x->f(), w->f(), rows, d, eps, y->f()); });
  return wrapBuf(info.Env(), y, holders_);
}

// layerNorm(x, w, b, rows, d, eps)
Napi::Value CpuEngine::LayerNorm(const Napi::CallbackInfo& info) {
  BufP x = unwrapBuf(info[0], "x"), w = unwrapBuf(info[1], "weight"), b = unwrapBuf(info[2], "bias");
  const int64_t rows = intArg(info, 3, "rows"), d = intArg(info, 4, "d");
  const float eps = fArg(info, 5);
  needBytes(info.Env(), x, (size_t)(rows * d) * 4, "x");
  needBytes(info.Env(), w, (size_t)d * 4, "weight");
  needBytes(info.Env(), b, (size_t)d * 4, "bias");
  auto y = std::make_shared<Buf>((size_t)(rows * d) * 4);
  Engine& e = eng();
  e.enqueue([&e, x, w, b, y, rows, d, eps] { e.ops->layerNorm(&e.ex, x->f(), w->f(), b->f(), rows, d, eps, y->f()); });
  return wrapBuf(info.Env(), y, holders_);
}

// swiglu(x, rows, inter)
Napi::Value CpuEngine::Swiglu(const Napi::CallbackInfo& info) {
  BufP x = unwrapBuf(info[0], "x");
  const int64_t rows = intArg(info, 1, "rows"), inter = intArg(info, 2, "inter");
  needBytes(info.Env(), x, (size_t)(rows * inter * 2) * 4, "x");
  auto y = std::make_shared<Buf>((size_t)(rows * inter) * 4);
  Engine& e = eng();
  e.enqueue([&e, x, y, rows, inter] { e.ops->swiglu(&e.ex, x->f(), rows, inter, y->f()); });
  return wrapBuf(info.Env(), y, holders_);
}

// gelu(x, n, tanh)
Napi::Value CpuEngine::Gelu(const Napi::CallbackInfo& info) {
  BufP x = unwrapBuf(info[0], "x");
  const int64_t n = intArg(info, 1, "n");
  const bool th = info[2].ToBoolean().Value();
  needBytes(info.Env(), x, (size_t)n * 4, "x");
  auto y = std::make_shared<Buf>((size_t)n * 4);
  Engine& e = eng();
  e.enqueue([&e, x, y, n, th] { e.ops->gelu(&e.ex, x->f(), n, th, y->f()); });
  return wrapBuf(info.Env(), y, holders_);
}

// rope(x, cos, sin, T, width, hd)
Napi::Value CpuEngine::Rope(const Napi::CallbackInfo& info) {
  BufP x = unwrapBuf(info[0], "x"), c = unwrapBuf(info[1], "cos"), s = unwrapBuf(info[2], "sin");
  const int64_t T = intArg(info, 3, "T"), width = intArg(info, 4, "width"), hd = intArg(info, 5, "hd");
  needBytes(info.Env(), x, (size_t)(T * width) * 4, "x");
  needBytes(info.Env(), c, (size_t)(T * hd) * 4, "cos");
  needBytes(info.Env(), s, (size_t)(T * hd) * 4, "sin");
  auto y = std::make_shared<Buf>((size_t)(T * width) * 4);
  Engine& e = eng();
  e.enqueue([&e, x, c, s, y, T, width, hd] { e.ops->rope(&e.ex, x->f(), c->f(), s->f(), T, width, hd, y->f()); });
  return wrapBuf(info.Env(), y, holders_);
}

// attention(q, k, v, T, nh, nkv, hd, kvLen, qStart, scale, causal, segments: Int32Array|null)
Napi::Value CpuEngine::Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP q = unwrapBuf(info[0], "q"), k = unwrapBuf(info[1], "k"), v = unwrapBuf(info[2], "v");
  AttnArgs a{};
  a.T = (int)intArg(info, 3, "T");
  a.nh = (int)intArg(info, 4, "nHeads");
  a.nkv = (int)intArg(info, 5, "nKvHeads");
  a.hd = (int)intArg(info, 6, "headDim");
  a.kvLen = intArg(info, 7, "kvLen");
  a.qStart = intArg(info, 8, "qStart");
  a.scale = fArg(info, 9);
  a.causal = info[10].ToBoolean().Value();
  a.qStride = a.nh * a.hd;
  a.kvStride = a.nkv * a.hd;
  std::shared_ptr<std::vector<int32_t>> seg;
  if (info[11].IsTypedArray()) {
    Napi::Int32Array s = info[11].As<Napi::Int32Array>();
    seg = std::make_shared<std::vector<int32_t>>(s.Data(), s.Data() + s.ElementLength());
    a.nseg = (int)seg->size() - 1;
  }
  needBytes(env, q, (size_t)a.T * a.qStride * 4, "q");
  needBytes(env, k, (size_t)a.kvLen * a.kvStride * 4, "k");
  needBytes(env, v, (size_t)a.kvLen * a.kvStride * 4, "v");
  auto y = std::make_shared<Buf>((size_t)a.T * a.qStride * 4);
  Engine& e = eng();
  e.enqueue([&e, q, k, v, y, a, seg]() mutable {
    a.q = q->f();
    a.k = k->f();
    a.v = v->f();
    a.out = y->f();
    a.seg = seg ? seg->data() : nullptr;
    e.ops->attention(&e.ex, &a);
  });
  return wrapBuf(env, y, holders_);
}

static std::shared_ptr<std::vector<int32_t>> copyI32(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::make_shared<std::vector<int32_t>>(a.Data(), a.Data() + a.ElementLength());
}

// pagedAttention(q, kPool, vPool, dt, nh, nkv, hd, scale, blockSize, poolBytes, cuQ, kvLen, tblPtr, tbl): bounds were
// checked in TypeScript (checkPagedBatch); sizes are checked again here.
Napi::Value CpuEngine::PagedAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP q = unwrapBuf(info[0], "q"), k = unwrapBuf(info[1], "kPool"), v = unwrapBuf(info[2], "vPool");
  PagedArgs a{};
  a.dt = (int)intArg(info, 3, "dt");
  a.nh = (int)intArg(info, 4, "nHeads");
  a.nkv = (int)intArg(info, 5, "nKvHeads");
  a.hd = (int)intArg(info, 6, "headDim");
  a.scale = fArg(info, 7);
  a.bs = (int)intArg(info, 8, "blockSize");
  const int64_t poolBytes = intArg(info, 9, "poolBytes");
  auto cuQ = copyI32(info[10], "cuQ"), kvLen = copyI32(info[11], "kvLen"), tblPtr = copyI32(info[12], "tblPtr"), tbl = copyI32(info[13], "tbl");
  a.B = (int)kvLen->size();
  const int64_t N = cuQ->back();
  needBytes(env, q, (size_t)N * a.nh * a.hd * 4, "q");
  needBytes(env, k, (size_t)poolBytes, "kPool");
  needBytes(env, v, (size_t)poolBytes, "vPool");
  auto y = std::make_shared<Buf>((size_t)N * a.nh * a.hd * 4);
  Engine& e = eng();
  e.enqueue([&e, q, k, v, y, a, cuQ, kvLen, tblPtr, tbl]() mutable {
    a.q = q->f();
    a.k = (const uint8_t*)k->get();
    a.v = (const uint8_t*)v->get();
    a.out = y->f();
    a.cuQ = cuQ->data();
    a.kvLen = kvLen->data();
    a.tblPtr = tblPtr->data();
    a.tbl = tbl->data();
    e.ops->pagedAttention(&e.ex, &a);
  });
  return wrapBuf(env, y, holders_);
}

// kvWrite(pool, dt, width, poolRows, slots, src, n): in place, in queue order.
Napi::Value CpuEngine::KvWrite(const Napi::CallbackInfo& info) {
  BufP pool = unwrapBuf(info[0], "pool"), slots = unwrapBuf(info[4], "slots"), src = unwrapBuf(info[5], "src");
  const int dt = (int)intArg(info, 1, "dt");
  const int64_t width = intArg(info, 2, "width"), poolRows = intArg(info, 3, "poolRows"), n = intArg(info, 6, "n");
  needBytes(info.Env(), pool, rowBytes(dt, width) * (size_t)poolRows, "pool");
  needBytes(info.Env(), slots, (size_t)n * 4, "slots");
  needBytes(info.Env(), src, (size_t)(n * width) * 4, "src");
  Engine& e = eng();
  e.enqueue([&e, pool, slots, src, dt, width, poolRows, n] {
    const int32_t* s = slots->i();
    for (int64_t i = 0; i < n; i++)
      if (s[i] < 0 || s[i] >= poolRows) return;  // checked in TypeScript; never write outside the pool
    e.ops->kvWrite(&e.ex, pool->get(), dt, width, s, n, src->f());
  });
  return info.Env().Undefined();
}

// writeRows(dst, dstByteOffset, src, bytes): in place, in queue order.
Napi::Value CpuEngine::WriteRows(const Napi::CallbackInfo& info) {
  BufP dst = unwrapBuf(info[0], "dst"), src = unwrapBuf(info[2], "src");
  const int64_t off = intArg(info, 1, "offset"), n = intArg(info, 3, "bytes");
  needBytes(info.Env(), dst, (size_t)(off + n), "dst");
  needBytes(info.Env(), src, (size_t)n, "src");
  eng().enqueue([dst, src, off, n] { memcpy(dst->get() + off, src->get(), (size_t)n); });
  return info.Env().Undefined();
}

// sliceRows(x, byteOffset, bytes)
Napi::Value CpuEngine::SliceRows(const Napi::CallbackInfo& info) {
  BufP x = unwrapBuf(info[0], "x");
  const int64_t off = intArg(info, 1, "offset"), n = intArg(info, 2, "bytes");
  needBytes(info.Env(), x, (size_t)(off + n), "x");
  auto y = std::make_shared<Buf>((size_t)n);
  eng().enqueue([x, y, off, n] { memcpy(y->get(), x->get() + off, (size_t)n); });
  return wrapBuf(info.Env(), y, holders_);
}

// scatterRows(dst, rows, src, n, cols, dstRows, accumulate)
Napi::Value CpuEngine::ScatterRows(const Napi::CallbackInfo& info) {
  BufP dst = unwrapBuf(info[0], "dst"), rows = unwrapBuf(info[1], "rows"), src = unwrapBuf(info[2], "src");
  const int64_t n = intArg(info, 3, "n"), cols = intArg(info, 4, "cols"), dstRows = intArg(info, 5, "dstRows");
  const bool acc = info[6].ToBoolean().Value();
  needBytes(info.Env(), dst, (size_t)(dstRows * cols) * 4, "dst");
  needBytes(info.Env(), rows, (size_t)n * 4, "rows");
  needBytes(info.Env(), src, (size_t)(n * cols) * 4, "src");
  eng().enqueue([dst, rows, src, n, cols, dstRows, acc] {
    const int32_t* r = rows->i();
    float* d = dst->f();
    const float* s = src->f();
    for (int64_t i = 0; i < n; i++) {
      if (r[i] < 0 || r[i] >= dstRows) throw std::runtime_error("cpu.scatterRows: row " + std::to_string(r[i]) + " outside [0, " + std::to_string(dstRows) + ")");
      float* o = d + (int64_t)r[i] * cols;
      if (acc)
        for (int64_t j = 0; j < cols; j++) o[j] += s[i * cols + j];
      else
        memcpy(o, s + i * cols, (size_t)cols * 4);
    }
  });
  return info.Env().Undefined();
}

// routerTopk(logits, T, E, k) -> [ids, weights]: softmax in double (as ref), stable top-k (lower id first on ties).
Napi::Value CpuEngine::RouterTopk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP x = unwrapBuf(info[0], "logits");
  const int64_t T = intArg(info, 1, "T"), E = intArg(info, 2, "E"), k = intArg(info, 3, "k");
  if (k < 1 || k > E) throw Napi::RangeError::New(env, "cpu.routerTopk: k=" + std::to_string(k) + " outside [1, " + std::to_string(E) + "]");
  needBytes(env, x, (size_t)(T * E) * 4, "logits");
  auto ids = std::make_shared<Buf>((size_t)(T * k) * 4), w = std::make_shared<Buf>((size_t)(T * k) * 4);
  eng().enqueue([x, ids, w, T, E, k] {
    std::vector<double> p((size_t)E);
    std::vector<int32_t> order((size_t)E);
    for (int64_t t = 0; t < T; t++) {
      const float* row = x->f() + t * E;
      double mx = -INFINITY;
      for (int64_t i = 0; i < E; i++) mx = row[i] > mx ? row[i] : mx;
      for (int64_t i = 0; i < E; i++) p[i] = exp((double)row[i] - mx);
      for (int64_t j = 0; j < k; j++) {  // selection: k is small
        int64_t best = -1;
        for (int64_t i = 0; i < E; i++) {
          bool taken = false;
          for (int64_t q = 0; q < j; q++) taken = taken || order[q] == i;
          if (!taken && (best < 0 || p[i] > p[best])) best = i;
        }
        order[j] = (int32_t)best;
      }
      double sum = 0;
      for (int64_t j = 0; j < k; j++) sum += p[order[j]];
      for (int64_t j = 0; j < k; j++) {
        ids->i()[t * k + j] = order[j];
        w->f()[t * k + j] = (float)(p[order[j]] / sum);
      }
    }
  });
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set((uint32_t)0, wrapBuf(env, ids, holders_));
  out.Set((uint32_t)1, wrapBuf(env, w, holders_));
  return out;
}

// moe(x, ids, weights, gateUp, down, gateUpDt, T, H, I, k, E, downDt): the two may differ (down's rows can be too
// short to quantize, e.g. a moe_intermediate_size that is not a multiple of 32).
Napi::Value CpuEngine::Moe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP x = unwrapBuf(info[0], "x"), ids = unwrapBuf(info[1], "ids"), wts = unwrapBuf(info[2], "weights");
  BufP gu = unwrapBuf(info[3], "gateUp"), dn = unwrapBuf(info[4], "down");
  const int dt = (int)intArg(info, 5, "dtype");
  const int64_t T = intArg(info, 6, "T"), H = intArg(info, 7, "H"), I = intArg(info, 8, "I"), k = intArg(info, 9, "k"), E = intArg(info, 10, "E");
  const int ddt = (int)intArg(info, 11, "downDtype");
  needBytes(env, x, (size_t)(T * H) * 4, "x");
  needBytes(env, ids, (size_t)(T * k) * 4, "ids");
  needBytes(env, wts, (size_t)(T * k) * 4, "weights");
  needBytes(env, gu, rowBytes(dt, H) * (size_t)(E * 2 * I), "gateUp");
  needBytes(env, dn, rowBytes(ddt, I) * (size_t)(E * H), "down");
  auto y = std::make_shared<Buf>((size_t)(T * H) * 4);
  Engine& e = eng();
  e.enqueue([&e, x, ids, wts, gu, dn, y, dt, ddt, T, H, I, k, E] {
    const int32_t* id = ids->i();
    for (int64_t i = 0; i < T * k; i++)
      if (id[i] < 0 || id[i] >= E) throw std::runtime_error("cpu.moe: expert id " + std::to_string(id[i]) + " outside [0, " + std::to_string(E) + ")");
    MoeArgs a{x->f(), (int)T, (int)H, (int)I, (int)k, id, wts->f(), wmat(gu, dt, E * 2 * I, H), wmat(dn, ddt, E * H, I), (int)E, y->f()};
    e.ops->moe(&e.ex, &a);
  });
  return wrapBuf(env, y, holders_);
}

// argmax(x, M, N) -> i32 [M]
Napi::Value CpuEngine::Argmax(const Napi::CallbackInfo& info) {
  BufP x = unwrapBuf(info[0], "x");
  const int64_t M = intArg(info, 1, "M"), N = intArg(info, 2, "N");
  needBytes(info.Env(), x, (size_t)(M * N) * 4, "x");
  auto y = std::make_shared<Buf>((size_t)M * 4);
  eng().enqueue([x, y, M, N] {
    for (int64_t m = 0; m < M; m++) {
      const float* r = x->f() + m * N;
      int64_t best = 0;
      for (int64_t c = 1; c < N; c++)
        if (r[c] > r[best]) best = c;
      y->i()[m] = (int32_t)best;
    }
  });
  return wrapBuf(info.Env(), y, holders_);
}

// linearEx(x, w, bias|null, residual|null, normW|null, eps, swiglu, M, N, K, wdt, act):
// y = [residual +] act(w · f(x) [+ bias]) with f = RMSNorm(x; normW), SwiGLU of x [M, 2K], or identity and act none
// or GELU (tanh / erf) — one command instead of two to four (decode runs ~20 small commands per layer otherwise, each
// a queue hop and a wake-up of the dispatcher); the GEMMs apply act and residual in their write-back.
Napi::Value CpuEngine::LinearEx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP x = unwrapBuf(info[0], "x"), w = unwrapBuf(info[1], "weight"), bias = optBuf(info[2], "bias");
  BufP res = optBuf(info[3], "residual"), nw = optBuf(info[4], "norm weight");
  const float eps = fArg(info, 5);
  const bool sw = info[6].ToBoolean().Value();
  const int64_t M = intArg(info, 7, "M"), N = intArg(info, 8, "N"), K = intArg(info, 9, "K");
  const int dt = (int)intArg(info, 10, "dtype"), act = (int)intArg(info, 11, "act");
  if (act < ACT_NONE || act > ACT_GELU_ERF) throw Napi::RangeError::New(env, "cpu.linearEx: unknown activation");
  if (nw && sw) throw Napi::TypeError::New(env, "cpu.linearEx: norm and swiglu are exclusive");
  needBytes(env, x, (size_t)(M * K * (sw ? 2 : 1)) * 4, "x");
  needWeight(env, w, dt, N, K);
  if (bias) needBytes(env, bias, (size_t)N * 4, "bias");
  if (res) needBytes(env, res, (size_t)(M * N) * 4, "residual");
  if (nw) needBytes(env, nw, (size_t)K * 4, "norm weight");
  auto y = std::make_shared<Buf>((size_t)(M * N) * 4);
  Engine& e = eng();
  e.enqueue([&e, x, w, bias, res, nw, eps, sw, y, M, N, K, dt, act] {
    const WMat wm = wmat(w, dt, N, K);
    float* a = nullptr;
    if (nw || sw) {
      a = (float*)malloc((size_t)(M * K) * 4 + 64);
      if (!a) throw std::runtime_error("cpu backend: out of memory in linearEx");
      if (nw) e.ops->rmsNorm(&e.ex, x->f(), nw->f(), M, K, eps, a);
      else e.ops->swiglu(&e.ex, x->f(), M, K, a);
    }
    // residual + y (the composition's operand order; float addition commutes, so the bits match).
    const Epilogue epi{bias ? bias->f() : nullptr, res ? res->f() : nullptr, act};
    try {
      e.ops->linearEpi(&e.ex, a ? a : x->f(), M, &wm, &epi, y->f());
    } catch (...) {
      free(a);
      throw;
    }
    free(a);
  });
  return wrapBuf(env, y, holders_);
}

// qkvPost(qkv, qNorm, kNorm, cos, sin, eps, kCache, vCache, row0, T, nh, nkv, hd) -> q [T, nh·hd]:
// q = RoPE(RMSNorm(q)); RoPE(RMSNorm(k)) and v written into the cache rows [row0, row0 + T), in one command.
Napi::Value CpuEngine::QkvPost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP qkv = unwrapBuf(info[0], "qkv"), qn = unwrapBuf(info[1], "qNorm"), kn = unwrapBuf(info[2], "kNorm");
  BufP cs = unwrapBuf(info[3], "cos"), sn = unwrapBuf(info[4], "sin");
  const float eps = fArg(info, 5);
  BufP kc = unwrapBuf(info[6], "kCache"), vc = unwrapBuf(info[7], "vCache");
  const int64_t row0 = intArg(info, 8, "row0"), T = intArg(info, 9, "T"), nh = intArg(info, 10, "nHeads");
  const int64_t nkv = intArg(info, 11, "nKvHeads"), hd = intArg(info, 12, "headDim");
  const int64_t W = (nh + 2 * nkv) * hd, kvW = nkv * hd;
  needBytes(env, qkv, (size_t)(T * W) * 4, "qkv");
  needBytes(env, qn, (size_t)hd * 4, "qNorm");
  needBytes(env, kn, (size_t)hd * 4, "kNorm");
  needBytes(env, cs, (size_t)(T * hd) * 4, "cos");
  needBytes(env, sn, (size_t)(T * hd) * 4, "sin");
  needBytes(env, kc, (size_t)((row0 + T) * kvW) * 4, "kCache");
  needBytes(env, vc, (size_t)((row0 + T) * kvW) * 4, "vCache");
  auto q = std::make_shared<Buf>((size_t)(T * nh * hd) * 4);
  Engine& e = eng();
  e.enqueue([&e, qkv, qn, kn, cs, sn, eps, kc, vc, q, row0, T, nh, nkv, hd, W, kvW] {
    // Row by row with the same kernels the composition uses (so the results are the same bits); RoPE runs in place,
    // which the kernel allows (each pair is read before it is written).
    for (int64_t t = 0; t < T; t++) {
      const float* src = qkv->f() + t * W;
      float* qo = q->f() + t * nh * hd;
      float* ko = kc->f() + (row0 + t) * kvW;
      e.ops->rmsNorm(&e.ex, src, qn->f(), nh, hd, eps, qo);
      e.ops->rope(&e.ex, qo, cs->f() + t * hd, sn->f() + t * hd, 1, nh * hd, hd, qo);
      e.ops->rmsNorm(&e.ex, src + nh * hd, kn->f(), nkv, hd, eps, ko);
      e.ops->rope(&e.ex, ko, cs->f() + t * hd, sn->f() + t * hd, 1, kvW, hd, ko);
      memcpy(vc->f() + (row0 + t) * kvW, src + (nh + nkv) * hd, (size_t)kvW * 4);
    }
  });
  return wrapBuf(env, q, holders_);
}

}  // namespace qv

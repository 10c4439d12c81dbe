// Shared plain types of the CPU backend: dtype codes, weight views, the op table each ISA build fills, and the
// pool interface. Everything here is C-like on purpose: ISA translation units are compiled with -mavx2/-mavx512*
// and must not share inline/template code with the generic units (the linker could pick the wide copy for all).
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace qv {

// The codes of src/tensor/dtype.ts DTYPE_CODE (the one table; test/unit/dtypeCodes.test.ts checks they agree).
enum DType : int { DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2, DT_Q8_0 = 3, DT_Q4_0 = 4, DT_I32 = 5 };

/** Bytes of one row of `cols` values (quantized rows are cols/32 blocks). */
static inline size_t rowBytes(int dt, int64_t cols) {
  switch (dt) {
    case DT_F32:
    case DT_I32:
      return (size_t)cols * 4;
    case DT_BF16:
    case DT_F16:
      return (size_t)cols * 2;
    case DT_Q8_0:
      return (size_t)(cols / 32) * 34;
    case DT_Q4_0:
      return (size_t)(cols / 32) * 18;
  }
  return 0;
}

/**
 * Weights repacked once at load for the GEMM (`packWeight`): rows in panels of PANEL_ROWS (the last one zero-padded),
 * each panel k-major so that a K block of it is one contiguous run. f32: [panel][k][32]; bf16: [panel][k/2][32][2]
 * (k-pairs, K padded to even): the f32 GEMM widens a pair row into two k rows with a shift and a mask, and it is the
 * B layout of AMX-BF16's `tdpbf16ps` as is. The dtype code crossing the JS boundary carries DT_PACKED.
 */
enum { PANEL_ROWS = 32, DT_PACKED = 64 };
static inline int64_t packedK(int dt, int64_t cols) { return dt == DT_BF16 ? (cols + 1) / 2 * 2 : cols; }
static inline size_t packedBytes(int dt, int64_t rows, int64_t cols) {
  return (size_t)((rows + PANEL_ROWS - 1) / PANEL_ROWS) * PANEL_ROWS * (size_t)packedK(dt, cols) * (dt == DT_BF16 ? 2 : 4);
}

/** A row-major matrix [rows, cols] in any weight format, or (packed) f32/bf16 panels as above. */
struct WMat {
  int dt;
  const uint8_t* p;
  int64_t rows, cols;
  bool packed = false;
};

/** A GEMM's write-back: y = [residual +] act(x·wᵀ [+ bias]) (act: none, GELU tanh, GELU erf). */
enum { ACT_NONE = 0, ACT_GELU_TANH = 1, ACT_GELU_ERF = 2 };
struct Epilogue {
  const float* bias;
  const float* residual;  // [M, N] or null
  int act;
};

/** Work split: fn(ctx, begin, end) over [0, n) in chunks of `grain`, on every pool thread. */
typedef void (*TaskFn)(void* ctx, int64_t begin, int64_t end);
struct Exec {
  void (*run)(Exec* self, int64_t n, int64_t grain, TaskFn fn, void* ctx);
  int threads;
  void* impl;  // the pool behind `run`
  /** Whether linear/moe may quantize activations to q8 against q8_0/q4_0 weights. */
  bool actQuant;
  /** Precision 'fast': GEMMs against bf16 weights may round activations to bf16 (AMX-BF16 products). */
  bool bf16Act;
  /**
   * Large scratch (packed GEMM operands) from the engine's buffers: ≥ 4 MiB comes from its cache of freed huge-page
   * mappings, so a GEMM per layer does not fault (and the kernel zero) a fresh 3–64 MiB each time. `token` frees it.
   */
  void* (*scratch)(size_t bytes, void** token);
  void (*scratchFree)(void* token);
};

struct AttnArgs {
  const float *q, *k, *v;
  float* out;
  int T, nh, nkv, hd;
  int64_t kvLen, qStart;
  int qStride, kvStride;  // row widths of q/out and k/v
  float scale;
  bool causal;
  const int32_t* seg;  // segment bounds (nseg+1 values) or null
  int nseg;
};

/** A ragged batch over a paged KV pool (see PagedBatch in src/backend/backend.ts). */
struct PagedArgs {
  const float* q;
  float* out;
  const uint8_t *k, *v;  // pools [slots, nkv·hd] in dt
  int dt;
  int B, nh, nkv, hd, bs;
  float scale;
  const int32_t *cuQ, *kvLen, *tblPtr, *tbl;
};

struct MoeArgs {
  const float* x;
  int T, H, I, k;
  const int32_t* ids;
  const float* w;
  WMat gateUp;  // [E*2I, H]
  WMat down;    // [E*H, I]
  int E;
  float* out;
};

/** The ops every ISA build provides (all pointers non-null). */
struct OpTable {
  const char* isa;
  void (*linear)(Exec*, const float* x, int64_t M, const WMat* w, const float* bias, float* y);
  /** linear with a fused write-back (residual may alias nothing but itself; y is a fresh buffer). */
  void (*linearEpi)(Exec*, const float* x, int64_t M, const WMat* w, const Epilogue* e, float* y);
  void (*gatherRows)(Exec*, const WMat* table, const int32_t* idx, int64_t n, int k, const float* weights, float* out);
  void (*add)(Exec*, const float* a, const float* b, float* y, int64_t n);
  void (*rmsNorm)(Exec*, const float* x, const float* w, int64_t rows, int64_t d, float eps, float* y);
  void (*layerNorm)(Exec*, const float* x, const float* w, const float* b, int64_t rows, int64_t d, float eps, float* y);
  void (*swiglu)(Exec*, const float* x, int64_t rows, int64_t inter, float* y);
  void (*gelu)(Exec*, const float* x, int64_t n, bool tanhApprox, float* y);
  void (*rope)(Exec*, const float* x, const float* cos, const float* sin, int64_t T, int64_t width, int64_t hd, float* y);
  void (*attention)(Exec*, const AttnArgs*);
  void (*moe)(Exec*, const MoeArgs*);
  /** Convert n rows of `cols` values from src (f32/bf16/f16 bits) to dst format (f32/bf16/q8_0/q4_0). */
  void (*convert)(Exec*, const void* src, int srcDt, int64_t rows, int64_t cols, void* dst, int dstDt);
  void (*pagedAttention)(Exec*, const PagedArgs*);
  /** pool[slots[i]] = src[i] (n rows of `width` f32) converted to the pool's dt (f32, f16, q8_0). */
  void (*kvWrite)(Exec*, uint8_t* pool, int dt, int64_t width, const int32_t* slots, int64_t n, const float* src);
  /** A plain read pass over n bytes on every thread (for measuring memory bandwidth); returns a checksum. */
  double (*readPass)(Exec*, const uint8_t* p, size_t n);
  /** The FP32 FMA roof: register-only FMA chains on every thread; returns the FLOPs done (see kern/convert.h). */
  double (*fmaPeak)(Exec*, int64_t iters, int kind);  // kind 0 f32 FMA, 1/2 int8 (q8_0/q4_0 sequence)
  /** Whether precision 'fast' has bf16 products here (AMX-BF16, OS-enabled): GEMMs against bf16 weights use them. */
  bool (*bf16Products)();
};

extern const OpTable opsGeneric;
extern const OpTable opsAvx2;
extern const OpTable opsAvx512;

}  // namespace qv

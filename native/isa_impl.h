// One ISA build of every kernel: included by isa_generic.cc / isa_avx2.cc / isa_avx512.cc, each compiled with its own
// target flags after defining QV_NS (the namespace that keeps the builds apart) and QV_TABLE (the exported table).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include "common.h"

namespace qv {
namespace QV_NS {
#include "kern/scalar.h"
#include "kern/simd.h"
#include "kern/quant.h"
#include "kern/gemv.h"
#include "kern/gemm.h"
#include "kern/gemmq.h"
#include "kern/gemmbf16.h"
#include "kern/elementwise.h"
#include "kern/linear.h"
#include "kern/attention.h"
#include "kern/attnbf16.h"
#include "kern/attnlanes.h"
#include "kern/paged.h"
#include "kern/moe.h"
#include "kern/convert.h"
}  // namespace QV_NS

const OpTable QV_TABLE = {
    QV_ISA_NAME,   QV_NS::opLinear, QV_NS::opLinearEpi, QV_NS::opGatherRows, QV_NS::opAdd,       QV_NS::opRmsNorm, QV_NS::opLayerNorm,
    QV_NS::opSwiglu, QV_NS::opGelu, QV_NS::opRope,       QV_NS::opAttention, QV_NS::opMoe,     QV_NS::opConvert,
    QV_NS::opPagedAttention, QV_NS::opKvWrite, QV_NS::opReadPass, QV_NS::opFmaPeak, QV_NS::opBf16Products,
};
}  // namespace qv

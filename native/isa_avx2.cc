// AVX2+FMA+F16C build of the kernels (compiled with those target flags only; selected at run time).
#define QV_NS avx2
#define QV_TABLE opsAvx2
#define QV_ISA_NAME "avx2"
#include "isa_impl.h"

// AVX-512 (F/BW/VL/DQ + VNNI) build of the kernels: 16-lane float kernels and VNNI 8-bit dot products.
#define QV_NS avx512
#define QV_TABLE opsAvx512
#define QV_ISA_NAME "avx512"
#include "isa_impl.h"

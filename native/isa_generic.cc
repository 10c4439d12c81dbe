// Portable build of the kernels (no target flags): the fallback on any CPU, and QWEN3VL_CPU_ISA=scalar.
#define QV_NS generic
#define QV_TABLE opsGeneric
#define QV_ISA_NAME "scalar"
#include "isa_impl.h"

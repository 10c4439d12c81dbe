// Run-time ISA choice: the widest kernel build the CPU (and OS) supports, or the one QWEN3VL_CPU_ISA forces.
#include <string.h>

#include <stdexcept>
#include <string>

#include "engine.h"

namespace qv {

#if defined(__x86_64__)
static bool osSavesZmm() {
  // XCR0 bits: SSE, AVX (ymm) and the three AVX-512 state components.
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xe6) == 0xe6;
}
static bool hasAvx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"); }
static bool hasAvx512() {
  return hasAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") && osSavesZmm();
}
#else
static bool hasAvx2() { return false; }
static bool hasAvx512() { return false; }
#endif

std::string cpuFeatures() {
  std::string s;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const char* names[] = {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512vnni", "avx512bf16"};
  for (const char* n : names) {
    bool on = false;
    // __builtin_cpu_supports needs literal arguments.
    if (!strcmp(n, "avx2")) on = __builtin_cpu_supports("avx2");
    else if (!strcmp(n, "fma")) on = __builtin_cpu_supports("fma");
    else if (!strcmp(n, "f16c")) on = __builtin_cpu_supports("f16c");
    else if (!strcmp(n, "avx512f")) on = __builtin_cpu_supports("avx512f");
    else if (!strcmp(n, "avx512bw")) on = __builtin_cpu_supports("avx512bw");
    else if (!strcmp(n, "avx512vl")) on = __builtin_cpu_supports("avx512vl");
    else if (!strcmp(n, "avx512dq")) on = __builtin_cpu_supports("avx512dq");
    else if (!strcmp(n, "avx512vnni")) on = __builtin_cpu_supports("avx512vnni");
    else if (!strcmp(n, "avx512bf16")) on = __builtin_cpu_supports("avx512bf16");
    if (on) s += (s.empty() ? "" : " ") + std::string(n);
  }
  // AMX (CPUID leaf 7, EDX: AMX-BF16 bit 22, AMX-TILE 24, AMX-INT8 25): named so that a benchmark table says which
  // path precision 'fast' took (the kernels also check the OS's tile state before using it).
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  if (((d >> 24) & 1) && ((d >> 22) & 1)) s += (s.empty() ? "" : " ") + std::string("amx-bf16");
  if (((d >> 24) & 1) && ((d >> 25) & 1)) s += (s.empty() ? "" : " ") + std::string("amx-int8");
#endif
  return s.empty() ? "none" : s;
}

const OpTable* selectIsa(const std::string& want, std::string* why) {
#if defined(__x86_64__)
  __builtin_cpu_init();
#endif
  const bool a512 = hasAvx512(), a2 = hasAvx2();
  const OpTable* best = a512 ? &opsAvx512 : a2 ? &opsAvx2 : &opsGeneric;
  if (want.empty() || want == "auto") {
    *why = std::string("widest supported (") + best->isa + ")";
    return best;
  }
  if (want == "scalar" || want == "generic") {
    *why = "forced by QWEN3VL_CPU_ISA";
    return &opsGeneric;
  }
  if (want == "avx2") {
    if (!a2) throw std::runtime_error("QWEN3VL_CPU_ISA=avx2 but this CPU lacks AVX2/FMA/F16C");
    *why = "forced by QWEN3VL_CPU_ISA";
    return &opsAvx2;
  }
  if (want == "avx512") {
    if (!a512) throw std::runtime_error("QWEN3VL_CPU_ISA=avx512 but this CPU lacks AVX-512 F/BW/VL/DQ/VNNI");
    *why = "forced by QWEN3VL_CPU_ISA";
    return &opsAvx512;
  }
  throw std::runtime_error("QWEN3VL_CPU_ISA='" + want + "' is not one of auto, avx512, avx2, scalar");
}

}  // namespace qv

// One thread of the engine's q8_0/q4_0 matrix-vector kernel (native/kern/gemv.h, gemvQuant with q8 activations) on
// K = 2048 rows, from L2 (256 KiB of weights) and from memory (256 MiB): how far one core's compute is from its share
// of the bus (bench/native/README.md). Rounds alternate the two sizes.
// Build: g++ -std=c++17 -O3 -fno-math-errno -ffp-contract=off -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl
//        -mavx512dq -mavx512vnni -Inative -o .cache/gemvq bench/native/gemvq.cc   (AVX2 build: the first three -m flags)
// Run:   .cache/gemvq [q4_0|q8_0] [rounds=7]
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "common.h"
namespace qv {
namespace bench {
#include "kern/scalar.h"
#include "kern/simd.h"
#include "kern/quant.h"
#include "kern/gemv.h"
}  // namespace bench
}  // namespace qv
using namespace qv;

int main(int argc, char** argv) {
  const std::string fmt = argc > 1 ? argv[1] : "q4_0";
  const int rounds = argc > 2 ? atoi(argv[2]) : 7;
  if ((fmt != "q4_0" && fmt != "q8_0") || rounds < 1) return fprintf(stderr, "usage: gemvq [q4_0|q8_0] [rounds ≥ 1]\n"), 2;
  const int dt = fmt == "q4_0" ? DT_Q4_0 : DT_Q8_0;
  const int64_t K = 2048, nb = K / 32;
  const size_t bb = dt == DT_Q4_0 ? 18 : 34, rb = (size_t)nb * bb;
  std::vector<float> x(K);
  for (int i = 0; i < K; i++) x[i] = sinf((float)i);
  bench::ActQ a = bench::actQuantize(x.data(), 1, K, dt == DT_Q4_0);
  struct Size { const char* name; size_t bytes; int reps; WMat w; std::vector<double> gb; };
  std::vector<Size> sizes = {{"L2 (256 KiB)", 256u << 10, 800, {}, {}}, {"memory (256 MiB)", 256u << 20, 2, {}, {}}};
  srand(1);
  for (Size& s : sizes) {
    const int64_t N = (int64_t)(s.bytes / rb);
    const size_t len = ((size_t)N * rb + 64 + (2u << 20)) / (2u << 20) * (2u << 20);
    uint8_t* w = (uint8_t*)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) return perror("mmap"), 1;
    madvise(w, len, MADV_HUGEPAGE);
    for (size_t i = 0; i < (size_t)N * rb; i++) w[i] = (uint8_t)rand();
    for (int64_t r = 0; r < N; r++)
      for (int64_t b = 0; b < nb; b++) {
        const uint16_t h = (uint16_t)(0x2c00 + (rand() & 0x3ff));  // f16 scales around 1/16
        memcpy(w + r * rb + b * bb, &h, 2);
      }
    s.w = WMat{dt, w, N, K};
  }
  std::vector<float> y((size_t)sizes[1].w.rows);
  for (int r = 0; r < rounds; r++)
    for (Size& s : sizes) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < s.reps; i++) bench::gemvQuant(&s.w, &a, 1, 0, s.w.rows, y.data(), s.w.rows);
      const double dt_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      s.gb.push_back((double)s.w.rows * rb * s.reps / dt_ / 1e9);
    }
  printf("%s matrix-vector, one thread, K = %lld, %d rounds alternated: median (min–max) GB/s of weights (y[0] = %g)\n", fmt.c_str(), (long long)K, rounds, y[0]);
  for (Size& s : sizes) {
    std::sort(s.gb.begin(), s.gb.end());
    printf("  %-18s %5.1f (%.1f–%.1f)\n", s.name, s.gb[s.gb.size() / 2], s.gb.front(), s.gb.back());
  }
  return 0;
}

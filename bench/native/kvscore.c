// Decode attention's score loop against K rows read from memory, beside a plain stream of the same f16 rows
// (bench/native/README.md): 28 layers' f16 pools of 8 MiB, one query row of 16 heads (2 per KV head, 8 KV heads × 128,
// the 2B's), keys [0, depth) of each pool; one thread; rounds alternated. Modes: the engine's order (blocks of 4 keys ×
// 2 heads, attnScoreBlock<2, 4>), key by key, and those with software prefetch of K.
// Build: gcc -O3 -march=native -o .cache/kvscore bench/native/kvscore.c
// Run:   .cache/kvscore [depth=512] [rounds=5]
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define W 1024 /* f16 per key row: 8 KV heads × 128 */
#define L 28
#define POOL (8u << 20)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float q[16 * 128] __attribute__((aligned(64)));
static float sc[16 * 4];

/** One pool's scores; returns a checksum. mode 0 stream, 1 blocks of 4 keys, 2 key by key, 3/4 blocks + prefetch of K
 * 16 keys ahead into L1 / 32 keys ahead into L2. */
static float pass(const uint16_t* k, int depth, int mode) {
  float tot = 0;
  if (mode == 0) {
    __m512 a = _mm512_setzero_ps();
    for (int64_t i = 0; i < (int64_t)depth * W; i += 16) a = _mm512_add_ps(a, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(k + i))));
    return _mm512_reduce_add_ps(a);
  }
  if (mode == 2) {
    for (int j = 0; j < depth; j++) {
      const uint16_t* kr = k + (int64_t)j * W;
      __m512 a[16];
      for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_ps();
      for (int g = 0; g < 8; g++)
        for (int d = 0; d < 128; d += 16) {
          const __m512 kv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(kr + g * 128 + d)));
          a[2 * g] = _mm512_fmadd_ps(_mm512_load_ps(q + (2 * g) * 128 + d), kv, a[2 * g]);
          a[2 * g + 1] = _mm512_fmadd_ps(_mm512_load_ps(q + (2 * g + 1) * 128 + d), kv, a[2 * g + 1]);
        }
      for (int i = 0; i < 16; i++) sc[i] = _mm512_reduce_add_ps(a[i]);
      tot += sc[j & 15];
    }
    return tot;
  }
  for (int j = 0; j + 4 <= depth; j += 4) {
    if (mode == 3)
      for (int u = 0; u < 4 && j + 16 + u < depth; u++)
        for (int o = 0; o < W * 2; o += 64) _mm_prefetch((const char*)(k + (int64_t)(j + 16 + u) * W) + o, _MM_HINT_T0);
    if (mode == 4)
      for (int u = 0; u < 4 && j + 32 + u < depth; u++)
        for (int o = 0; o < W * 2; o += 64) _mm_prefetch((const char*)(k + (int64_t)(j + 32 + u) * W) + o, _MM_HINT_T1);
    for (int g = 0; g < 8; g++) {
      __m512 a[8];
      for (int i = 0; i < 8; i++) a[i] = _mm512_setzero_ps();
      for (int d = 0; d < 128; d += 16) {
        const __m512 q0 = _mm512_load_ps(q + (2 * g) * 128 + d), q1 = _mm512_load_ps(q + (2 * g + 1) * 128 + d);
        for (int u = 0; u < 4; u++) {
          const __m512 kv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(k + (int64_t)(j + u) * W + g * 128 + d)));
          a[u] = _mm512_fmadd_ps(q0, kv, a[u]);
          a[4 + u] = _mm512_fmadd_ps(q1, kv, a[4 + u]);
        }
      }
      for (int i = 0; i < 8; i++) sc[(g * 8 + i) & 63] = _mm512_reduce_add_ps(a[i]);
    }
    tot += sc[j & 63];
  }
  return tot;
}

static int cmp(const void* a, const void* b) { return *(const double*)a < *(const double*)b ? -1 : *(const double*)a > *(const double*)b; }

int main(int argc, char** argv) {
  const int depth = argc > 1 ? atoi(argv[1]) : 512, rounds = argc > 2 ? atoi(argv[2]) : 5;
  if (depth < 4 || (size_t)depth * W * 2 > POOL || rounds < 1 || rounds > 64) return fprintf(stderr, "usage: kvscore [depth 4–4096] [rounds 1–64]\n"), 2;
  uint8_t* p = mmap(NULL, (size_t)POOL * L + (2u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return perror("mmap"), 1;
  uint8_t* base = (uint8_t*)(((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
  madvise(base, (size_t)POOL * L, MADV_HUGEPAGE);
  for (size_t i = 0; i < (size_t)POOL * L / 2; i++) ((uint16_t*)base)[i] = (uint16_t)(0x3800 + (i % 251));
  for (int i = 0; i < 16 * 128; i++) q[i] = 1e-3f * (float)(i % 97);
  static const char* names[] = {"plain f16 stream", "score blocks of 4 keys", "score key by key", "blocks + K prefetch L1 +16", "blocks + K prefetch L2 +32"};
  double gb[5][64];
  float sink = 0;
  for (int r = 0; r < rounds; r++)
    for (int m = 0; m < 5; m++) {
      const double t0 = now();
      for (int l = 0; l < L; l++) sink += pass((const uint16_t*)(base + (size_t)l * POOL), depth, m);
      gb[m][r] = (double)depth * W * 2 * L / (now() - t0) / 1e9;
    }
  printf("K rows at depth %d, %d layers, one thread, %d rounds alternated: median (min–max) GB/s of K (checksum %g)\n", depth, L, rounds, sink);
  for (int m = 0; m < 5; m++) {
    qsort(gb[m], (size_t)rounds, sizeof(double), cmp);
    printf("  %-28s %5.1f (%.1f–%.1f)\n", names[m], gb[m][rounds / 2], gb[m][0], gb[m][rounds - 1]);
  }
  return 0;
}

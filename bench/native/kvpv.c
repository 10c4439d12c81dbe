// Decode attention's p·V pass against V rows read from memory, beside a plain stream of the same f16 rows
// (bench/native/README.md): 28 layers' f16 pools of 8 MiB, one query row of 16 heads (2 per KV head, 8 KV heads × 128,
// the 2B's), keys [0, depth) of each pool; 1 or 2 threads (layers split between them); rounds alternated. Orders: the
// engine's before session 20 (blocks of 8 keys walked kv head by kv head, 2 heads × 4 vectors in registers), key by
// key with the sums in L1 (the engine's since), pairs of keys per kv head, and the block order with V prefetched or
// touched ahead. Every order checks that it gives the block order's bits. HOT=1 reads one layer 28 times (from L2 when
// depth ≤ 256): the orders' cost with memory taken out.
// Build: gcc -O3 -march=native -ffp-contract=off -o .cache/kvpv bench/native/kvpv.c -lpthread
// Run:   .cache/kvpv [depth=4096] [rounds=5] [threads=1]
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define W 1024 /* f16 per value row: 8 KV heads × 128 */
#define L 28
#define POOL (8u << 20)
#define LDP 4104 /* p row stride (floats): not a multiple of 4 KiB, so the heads' p rows do not alias */
#define NM 6

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float P[16 * LDP] __attribute__((aligned(64)));
static float out[2][16 * 128] __attribute__((aligned(64)));
static int depth, mode, hot;
static uint8_t* base;

static inline __m512 ld(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }

/** o = Σ_j p[h][j] · V[j][h/2] for one pool, in the order of `mode` (0: a plain stream's sum). */
static void pv(const uint16_t* v, float* o) {
  memset(o, 0, 16 * 128 * 4);
  if (mode == 0) {
    __m512 a = _mm512_setzero_ps();
    for (int64_t i = 0; i < (int64_t)depth * W; i += 16) a = _mm512_add_ps(a, ld(v + i));
    _mm512_store_ps(o, a);
    return;
  }
  if (mode == 2) {  // key by key, sums in L1
    for (int j = 0; j < depth; j++)
      for (int g = 0; g < 8; g++) {
        const __m512 p0 = _mm512_set1_ps(P[(2 * g) * LDP + j]), p1 = _mm512_set1_ps(P[(2 * g + 1) * LDP + j]);
        for (int d = 0; d < 128; d += 16) {
          const __m512 vv = ld(v + (int64_t)j * W + g * 128 + d);
          float *o0 = o + (2 * g) * 128 + d, *o1 = o0 + 128;
          _mm512_store_ps(o0, _mm512_fmadd_ps(p0, vv, _mm512_load_ps(o0)));
          _mm512_store_ps(o1, _mm512_fmadd_ps(p1, vv, _mm512_load_ps(o1)));
        }
      }
    return;
  }
  if (mode == 3) {  // pairs of keys per kv head, 2 heads × 8 vectors in registers
    for (int j = 0; j + 2 <= depth; j += 2)
      for (int g = 0; g < 8; g++) {
        __m512 a[2][8];
        for (int h = 0; h < 2; h++)
          for (int u = 0; u < 8; u++) a[h][u] = _mm512_load_ps(o + (2 * g + h) * 128 + 16 * u);
        for (int jj = j; jj < j + 2; jj++) {
          const __m512 p0 = _mm512_set1_ps(P[(2 * g) * LDP + jj]), p1 = _mm512_set1_ps(P[(2 * g + 1) * LDP + jj]);
          for (int u = 0; u < 8; u++) {
            const __m512 vv = ld(v + (int64_t)jj * W + g * 128 + 16 * u);
            a[0][u] = _mm512_fmadd_ps(p0, vv, a[0][u]);
            a[1][u] = _mm512_fmadd_ps(p1, vv, a[1][u]);
          }
        }
        for (int h = 0; h < 2; h++)
          for (int u = 0; u < 8; u++) _mm512_store_ps(o + (2 * g + h) * 128 + 16 * u, a[h][u]);
      }
    return;
  }
  // Blocks of 8 keys (mode 1), with V prefetched into L2 32 keys ahead (4), or touched by loads 16 keys ahead (5).
  int touch = 0;
  for (int j0 = 0; j0 + 8 <= depth; j0 += 8) {
    const char* ahead = (const char*)(v + (int64_t)(j0 + (mode == 4 ? 32 : 16)) * W);
    if (mode == 4 && j0 + 40 <= depth)
      for (int b = 0; b < 8 * W * 2; b += 64) _mm_prefetch(ahead + b, _MM_HINT_T1);
    if (mode == 5 && j0 + 24 <= depth)
      for (int b = 0; b < 8 * W * 2; b += 64) touch ^= *(volatile const char*)(ahead + b);
    for (int g = 0; g < 8; g++)
      for (int d = 0; d < 128; d += 64) {
        __m512 a[2][4];
        for (int h = 0; h < 2; h++)
          for (int u = 0; u < 4; u++) a[h][u] = _mm512_load_ps(o + (2 * g + h) * 128 + d + 16 * u);
        for (int j = j0; j < j0 + 8; j++) {
          __m512 vv[4];
          for (int u = 0; u < 4; u++) vv[u] = ld(v + (int64_t)j * W + g * 128 + d + 16 * u);
          for (int h = 0; h < 2; h++) {
            const __m512 pj = _mm512_set1_ps(P[(2 * g + h) * LDP + j]);
            for (int u = 0; u < 4; u++) a[h][u] = _mm512_fmadd_ps(pj, vv[u], a[h][u]);
          }
        }
        for (int h = 0; h < 2; h++)
          for (int u = 0; u < 4; u++) _mm512_store_ps(o + (2 * g + h) * 128 + d + 16 * u, a[h][u]);
      }
  }
  if (touch == 0x7fffffff) o[0] += 1;  // keeps the touches
}

/** Layers t, t + nth, … (thread t of nth). */
typedef struct { int t, nth; } Part;
static void* layers(void* arg) {
  const Part* p = arg;
  for (int l = p->t; l < L; l += p->nth) pv((const uint16_t*)(base + (size_t)(hot ? 0 : l) * POOL), out[p->t]);
  return NULL;
}

static int cmp(const void* a, const void* b) { return *(const double*)a < *(const double*)b ? -1 : *(const double*)a > *(const double*)b; }

int main(int argc, char** argv) {
  depth = argc > 1 ? atoi(argv[1]) : 4096;
  const int rounds = argc > 2 ? atoi(argv[2]) : 5, nth = argc > 3 ? atoi(argv[3]) : 1;
  hot = getenv("HOT") != NULL;
  if (depth < 8 || depth % 8 || depth > 4096 || rounds < 1 || rounds > 64 || nth < 1 || nth > 2)
    return fprintf(stderr, "usage: kvpv [depth: a multiple of 8, 8–4096] [rounds 1–64] [threads 1–2]\n"), 2;
  uint8_t* p = mmap(NULL, (size_t)POOL * L + (2u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return perror("mmap"), 1;
  base = (uint8_t*)(((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
  madvise(base, (size_t)POOL * L, MADV_HUGEPAGE);
  for (size_t i = 0; i < (size_t)POOL * L / 2; i++) ((uint16_t*)base)[i] = (uint16_t)(0x3800 + (i % 251));
  for (int i = 0; i < 16 * LDP; i++) P[i] = 1e-3f * (float)(i % 97);
  static const char* names[NM] = {"plain f16 stream", "blocks of 8 (before)", "key by key (engine)", "pairs of keys", "blocks + L2 prefetch +32", "blocks + touch +16"};
  double gb[NM][64];
  static float res[NM][16 * 128];
  for (int r = 0; r < rounds; r++)
    for (int m = 0; m < NM; m++) {
      mode = m;
      Part parts[2] = {{0, nth}, {1, nth}};
      const double t0 = now();
      pthread_t th;
      if (nth == 2) pthread_create(&th, NULL, layers, &parts[1]);
      layers(&parts[0]);
      if (nth == 2) pthread_join(th, NULL);
      gb[m][r] = (double)depth * W * 2 * L / (now() - t0) / 1e9;
      memcpy(res[m], out[0], sizeof res[m]);
    }
  printf("V rows at depth %d, %d layers%s, %d thread(s), %d rounds alternated: median (min–max) GB/s of V\n", depth, L, hot ? " (one layer's rows, hot)" : "", nth, rounds);
  for (int m = 0; m < NM; m++) {
    qsort(gb[m], (size_t)rounds, sizeof(double), cmp);
    printf("  %-26s %5.1f (%.1f–%.1f)%s\n", names[m], gb[m][rounds / 2], gb[m][0], gb[m][rounds - 1], m < 2 ? "" : memcmp(res[m], res[1], sizeof res[1]) ? "  DIFFERENT BITS" : "");
  }
  return 0;
}

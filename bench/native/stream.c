// Read-stream roofs of one machine (bench/native/README.md): a plain read in address order, the same loop left to the
// compiler's schedule (GCC -O3 issues half its loads for a whole 4 KiB page first: the bug fixed in opReadPass), and
// the bf16 matrix-vector loops (ours: split loads and f32 FMA; AVX512-BF16 vdpbf16ps), rounds alternated.
// Build: gcc -O3 -march=native -pthread -o .cache/stream bench/native/stream.c
// Run:   .cache/stream [MiB=1024] [threads=2] [rounds=5] [hugepages=1]
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define K 2048 /* bf16 elements per row: the 2B's hidden size, 4 KiB */
static int64_t N, nth;
static uint16_t* W;
static float XS[K] __attribute__((aligned(64)));
static uint16_t XB[K] __attribute__((aligned(64)));
static float* Y;
static int mode;
static pthread_barrier_t bar;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void rows(int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    const uint16_t* wr = W + r * K;
    const float* f = (const float*)wr;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    if (mode == 0) {  // plain read in address order (as opReadPass since session 19)
      for (int i = 0; i < K / 2; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(f + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(f + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(f + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(f + i + 48));
        __asm__ volatile("" ::: "memory");
      }
    } else if (mode == 1) {  // the same loop as the compiler schedules it
      for (int i = 0; i < K / 2; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(f + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(f + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(f + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(f + i + 48));
      }
    } else if (mode == 2) {  // ours: even/odd bf16 halves of one load against x split the same way, f32 FMA
      const __m512i hi = _mm512_set1_epi32((int)0xffff0000);
      for (int k = 0; k < K; k += 64) {
        const __m512i v0 = _mm512_loadu_si512(wr + k), v1 = _mm512_loadu_si512(wr + k + 32);
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_load_ps(XS + k), a0);
        a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v0, hi)), _mm512_load_ps(XS + k + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), _mm512_load_ps(XS + k + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v1, hi)), _mm512_load_ps(XS + k + 48), a3);
      }
    } else {  // 3: vdpbf16ps against bf16 x (llama.cpp's bf16 path on AVX512-BF16)
      for (int k = 0; k < K; k += 64) {
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(wr + k), (__m512bh)_mm512_load_si512(XB + k));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(wr + k + 32), (__m512bh)_mm512_load_si512(XB + k + 32));
      }
    }
    Y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}

static void share(long id) { rows(N * id / nth, N * (id + 1) / nth); }

static void* worker(void* arg) {
  for (;;) {
    pthread_barrier_wait(&bar);
    if (mode < 0) return NULL;
    share((long)arg);
    pthread_barrier_wait(&bar);
  }
}

static int cmp(const void* a, const void* b) { return *(const double*)a < *(const double*)b ? -1 : *(const double*)a > *(const double*)b; }

int main(int argc, char** argv) {
  const size_t bytes = (size_t)(argc > 1 ? atol(argv[1]) : 1024) << 20;
  nth = argc > 2 ? atol(argv[2]) : 2;
  const int rounds = argc > 3 ? atoi(argv[3]) : 5, huge = argc > 4 ? atoi(argv[4]) : 1;
  if (nth < 1 || nth > 64 || rounds < 1 || bytes < (8u << 20)) return fprintf(stderr, "usage: stream [MiB ≥ 8] [threads 1–64] [rounds ≥ 1] [hugepages 0|1]\n"), 2;
  N = (int64_t)(bytes / (K * 2));
  uint8_t* p = mmap(NULL, bytes + (2u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return perror("mmap"), 1;
  W = (uint16_t*)(((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
  madvise(W, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  for (size_t i = 0; i < bytes / 2; i++) W[i] = (uint16_t)(0x3f80 + (i & 7));
  for (int i = 0; i < K; i++) XS[i] = 1.0f / (float)(i + 1), XB[i] = 0x3f80;
  Y = malloc(sizeof(float) * (size_t)N);
  pthread_barrier_init(&bar, NULL, (unsigned)nth);
  pthread_t th[64];
  for (long t = 1; t < nth; t++) pthread_create(&th[t], NULL, worker, (void*)t);
  static const char* names[] = {"read, address order", "read, compiler's order", "bf16 split + FMA (ours)", "bf16 vdpbf16ps"};
  double gb[4][64];
  for (int r = 0; r < rounds; r++)
    for (mode = 0; mode < 4; mode++) {
      const double t0 = now();
      pthread_barrier_wait(&bar);
      share(0);
      pthread_barrier_wait(&bar);
      gb[mode][r] = (double)bytes / (now() - t0) / 1e9;
    }
  printf("%zu MiB, %ld threads, huge pages %s, %d rounds alternated: median (min–max) GB/s\n", bytes >> 20, (long)nth, huge ? "on" : "off", rounds);
  for (int m = 0; m < 4; m++) {
    qsort(gb[m], (size_t)rounds, sizeof(double), cmp);
    printf("  %-26s %5.1f (%.1f–%.1f)\n", names[m], gb[m][rounds / 2], gb[m][0], gb[m][rounds - 1]);
  }
  mode = -1;
  pthread_barrier_wait(&bar);
  return 0;
}

// Buffers, the spinning-then-sleeping thread pool and the dispatcher that runs queued commands in order.
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <chrono>
#include <stdexcept>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qv {

std::atomic<int64_t> Buf::live{0};
std::atomic<int64_t> Buf::peak{0};

// Recently freed large mappings, kept for reuse by buffers of the same mapped size (a prefill or vision tower
// allocates the same activation sizes layer after layer): a fresh mapping is zeroed page by page by the kernel on
// first touch, which was 5–10% of a 2B prefill's CPU time (clear_page + the write-back's faults).
static std::mutex gMapMu;
static std::vector<std::pair<void*, size_t>> gMaps;
static size_t gMapBytes = 0;
static const size_t kMapCacheMax = 128u << 20;

Buf::~Buf() {
  if (data) {
    if (mapBase) {
      std::lock_guard<std::mutex> lk(gMapMu);
      if (mapLen <= kMapCacheMax) {
        // Oldest out first: sizes freed while loading (conversion sources) must not fill the cache for good, or the
        // vision tower's per-layer activations and GEMM scratch faulted fresh huge pages every layer (8% of its time).
        while (gMapBytes + mapLen > kMapCacheMax) {
          munmap(gMaps.front().first, gMaps.front().second);
          gMapBytes -= gMaps.front().second;
          gMaps.erase(gMaps.begin());
        }
        gMaps.emplace_back(mapBase, mapLen);
        gMapBytes += mapLen;
      } else {
        munmap(mapBase, mapLen);
      }
    } else {
      free(data);
    }
    live -= (int64_t)bytes;
  }
}

/** A cached mapping of exactly `len` bytes, or null. */
static void* takeMap(size_t len) {
  std::lock_guard<std::mutex> lk(gMapMu);
  for (size_t i = gMaps.size(); i-- > 0;) {
    if (gMaps[i].second != len) continue;
    void* p = gMaps[i].first;
    gMaps.erase(gMaps.begin() + (long)i);
    gMapBytes -= len;
    return p;
  }
  return nullptr;
}

static const size_t kHuge = 2u << 20;

uint8_t* Buf::get() {
  if (!data) {
    if (bytes >= kHuge) {
      // Big buffers (weights, activations of long prompts and images, GEMM scratch): 2 MiB-aligned anonymous memory
      // with transparent huge pages, so first touch faults 2 MiB at a time and streaming kernels miss the TLB 512×
      // less often; reused from the cache above. From 2 MiB, not 4: the vision tower's 3.2 MB activations went
      // through malloc's mmap/munmap and faulted 4 KiB pages every layer (6% of its CPU time at 448²).
      mapLen = (bytes + 64 + kHuge - 1) / kHuge * kHuge + kHuge;
      if (void* p = takeMap(mapLen)) {
        mapBase = p;
        data = (uint8_t*)(((uintptr_t)p + kHuge - 1) / kHuge * kHuge);
        if (zero) memset(data, 0, bytes);  // a fresh mapping reads as zeros; a reused one must be cleared
      } else {
        void* p2 = mmap(nullptr, mapLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p2 == MAP_FAILED) throw std::runtime_error("cpu backend: out of memory allocating " + std::to_string(bytes) + " bytes");
        mapBase = p2;
        data = (uint8_t*)(((uintptr_t)p2 + kHuge - 1) / kHuge * kHuge);
#if defined(MADV_HUGEPAGE)
        madvise(data, mapLen - (size_t)(data - (uint8_t*)p2), MADV_HUGEPAGE);
#endif
      }
    } else {
      void* p = nullptr;
      // Over-allocate a little: vector tails may read (never write) up to 64 bytes past a row.
      if (posix_memalign(&p, 64, bytes + 64)) throw std::runtime_error("cpu backend: out of memory allocating " + std::to_string(bytes) + " bytes");
      data = (uint8_t*)p;
      if (zero) memset(data, 0, bytes);
    }
    int64_t now = live += (int64_t)bytes, pk = peak.load();
    while (now > pk && !peak.compare_exchange_weak(pk, now)) {
    }
  }
  return data;
}

static inline void cpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

static const uint64_t kIndexMask = (1ull << 40) - 1;

Pool::Pool(int threads) : n_(threads < 1 ? 1 : threads) {
  for (int i = 1; i < n_; i++) th_.emplace_back([this] { worker(); });
}

Pool::~Pool() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> lk(m_);
    cv_.notify_all();
  }
  for (auto& t : th_) t.join();
}

void Pool::work(uint64_t gen) {
  for (;;) {
    uint64_t v = claim_.load();
    if ((v >> 40) != gen) return;
    const int64_t b = (int64_t)(v & kIndexMask), total = total_.load();
    if (b >= total) return;
    const int64_t grain = grain_.load();
    if (!claim_.compare_exchange_weak(v, v + (uint64_t)grain)) continue;
    fn_.load()(ctx_.load(), b, b + grain < total ? b + grain : total);
  }
}

void Pool::worker() {
  uint64_t seen = 0;
  for (;;) {
    // Spin briefly (ops come in quick succession while a forward runs), then sleep until the next job.
    auto t0 = std::chrono::steady_clock::now();
    int spins = 0;
    uint64_t g;
    while ((g = gen_.load()) == seen && !stop_.load()) {
      cpuRelax();
      if (++spins % 128 == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(100)) {
        std::unique_lock<std::mutex> lk(m_);
        sleepers_++;
        cv_.wait(lk, [&] { return gen_.load() != seen || stop_.load(); });
        sleepers_--;
      }
    }
    if (stop_) return;
    seen = g;
    active_++;
    work(g);
    active_--;
  }
}

void Pool::run(int64_t n, int64_t grain, TaskFn fn, void* ctx) {
  if (n_ == 1 || n <= grain) {
    fn(ctx, 0, n);
    return;
  }
  const uint64_t g = ++lastGen_;
  total_.store(n);
  grain_.store(grain);
  fn_.store(fn);
  ctx_.store(ctx);
  claim_.store(g << 40);
  gen_.store(g);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lk(m_);
    cv_.notify_all();
  }
  work(g);
  // Close the job (a late worker then finds nothing to claim) and wait for the chunks others took.
  claim_.store((g << 40) | kIndexMask);
  while (active_.load() != 0) cpuRelax();
}

static void poolRun(Exec* self, int64_t n, int64_t grain, TaskFn fn, void* ctx);
static void* scratchAlloc(size_t bytes, void** token) {
  Buf* b = new Buf(bytes);
  *token = b;
  try {
    return b->get();
  } catch (...) {
    delete b;
    throw;
  }
}
static void scratchRelease(void* token) { delete (Buf*)token; }

Engine::Engine(int threads, const OpTable* table, bool actQuant, bool bf16Act) : ops(table), pool(threads) {
  ex.run = poolRun;
  ex.impl = &pool;
  ex.threads = pool.size();
  ex.actQuant = actQuant;
  ex.bf16Act = bf16Act;
  ex.scratch = scratchAlloc;
  ex.scratchFree = scratchRelease;
  disp_ = std::thread([this] { loop(); });
}

Engine::~Engine() { stop(); }

static void poolRun(Exec* self, int64_t n, int64_t grain, TaskFn fn, void* ctx) {
  static_cast<Pool*>(self->impl)->run(n, grain, fn, ctx);
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lk(m_);
    if (stop_) return;
    stop_ = true;
    cv_.notify_all();
  }
  if (disp_.joinable()) disp_.join();
}

void Engine::enqueue(std::function<void()> fn, size_t pendingBytes) {
  std::lock_guard<std::mutex> lk(m_);
  if (stop_) throw std::runtime_error("cpu backend: used after destroy()");
  q_.emplace_back(std::move(fn), pendingBytes);
  pending_ += pendingBytes;
  cv_.notify_one();
}

void Engine::throttle(size_t limit) {
  std::unique_lock<std::mutex> lk(m_);
  idle_.wait(lk, [&] { return pending_ <= limit || stop_; });
}

void Engine::drain() {
  std::unique_lock<std::mutex> lk(m_);
  idle_.wait(lk, [&] { return (q_.empty() && !busy_) || stop_; });
}

std::string Engine::takeError() {
  std::lock_guard<std::mutex> lk(m_);
  std::string e;
  e.swap(err_);
  return e;
}

void Engine::loop() {
  for (;;) {
    std::pair<std::function<void()>, size_t> cmd;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return !q_.empty() || stop_; });
      // On stop, finish what was recorded (reads may be waiting on it).
      if (q_.empty()) return;
      cmd = std::move(q_.front());
      q_.pop_front();
      busy_ = true;
    }
    std::string error;
    try {
      cmd.first();
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "cpu backend: unknown error in a command";
    }
    cmd.first = nullptr;  // drop buffer references before reporting idle
    {
      std::lock_guard<std::mutex> lk(m_);
      if (!error.empty() && err_.empty()) err_ = error;
      pending_ -= cmd.second;
      busy_ = false;
      idle_.notify_all();
    }
  }
}

}  // namespace qv

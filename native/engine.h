// The execution side of the addon: lazily allocated buffers, a persistent thread pool and an ordered command queue
// run by a dispatcher thread. JS records commands and gets handles at once; reads complete when the queue gets there.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace qv {

/** Backend memory. Allocated when first touched on the dispatcher (or at upload), freed with its last reference. */
struct Buf {
  size_t bytes = 0;
  bool zero = false;
  uint8_t* data = nullptr;
  void* mapBase = nullptr;  // large buffers: an mmap with transparent huge pages
  size_t mapLen = 0;
  explicit Buf(size_t n, bool z = false) : bytes(n), zero(z) {}
  ~Buf();
  uint8_t* get();
  float* f() { return (float*)get(); }
  int32_t* i() { return (int32_t*)get(); }
  static std::atomic<int64_t> live;  // bytes allocated now
  static std::atomic<int64_t> peak;
};
using BufP = std::shared_ptr<Buf>;

class Pool {
 public:
  explicit Pool(int threads);
  ~Pool();
  int size() const { return n_; }
  /** fn over [0, n) in grain-sized chunks on all threads; returns when all are done. Dispatcher thread only. */
  void run(int64_t n, int64_t grain, TaskFn fn, void* ctx);

 private:
  void worker();
  void work(uint64_t gen);
  int n_;
  std::vector<std::thread> th_;
  // Chunks are claimed from `claim_` = (generation << 40) | next index, so a worker that wakes late can never take
  // a chunk of a job it did not see published, and the dispatcher waits only for workers that actually joined.
  std::atomic<uint64_t> claim_{0};
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> active_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> total_{0}, grain_{1};
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  uint64_t lastGen_ = 0;
  std::mutex m_;
  std::condition_variable cv_;
};

class Engine {
 public:
  Engine(int threads, const OpTable* ops, bool actQuant, bool bf16Act);
  ~Engine();
  /** Append a command; it runs after every command enqueued before it. */
  void enqueue(std::function<void()> fn, size_t pendingBytes = 0);
  /** Block the caller while more than `limit` bytes of queued conversions are pending (load back-pressure). */
  void throttle(size_t limit);
  /** Wait until everything enqueued so far has run. */
  void drain();
  /** Take (and clear) the first error raised by a command since the last call. */
  std::string takeError();
  void stop();

  const OpTable* ops;
  Exec ex;
  Pool pool;

 private:
  void loop();
  std::deque<std::pair<std::function<void()>, size_t>> q_;
  std::mutex m_;
  std::condition_variable cv_, idle_;
  bool stop_ = false, busy_ = false;
  size_t pending_ = 0;
  std::string err_;
  std::thread disp_;
};

/** Pick the kernel table: `want` is "", "avx512", "avx2" or "scalar"; `why` explains the choice. */
const OpTable* selectIsa(const std::string& want, std::string* why);
std::string cpuFeatures();

}  // namespace qv

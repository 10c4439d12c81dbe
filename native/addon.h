// The N-API face of the CPU backend: one CpuEngine per backend instance. Buffers travel to JS as externals; every
// op validates sizes, enqueues a command and returns its output handle(s) at once.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <unordered_set>

#include "engine.h"

namespace qv {

struct HolderSet;
/** A buffer as JS holds it (an external); `set` is its engine's registry of live holders. */
struct Holder {
  BufP p;
  std::shared_ptr<HolderSet> set;
};
/** The holders an engine handed out and JS has not yet collected: destroy() drops their buffers at once, so a
 * disposed model's memory returns without waiting for the garbage collector to finalize its externals. Touched only
 * on the engine's JS thread (ops, finalizers, destroy), so no lock. */
struct HolderSet {
  std::unordered_set<Holder*> live;
  bool destroyed = false;  // the engine is gone: a dropped buffer reads as "used after destroy()", not "freed"
};

class CpuEngine;
/** What read completions and the completion TSFN's finalizer share with their engine. Freed by that finalizer, which
 * Node runs after every queued completion: after our Release, or when the environment is torn down (process exit,
 * worker end), possibly before the engine's own finalizer; `owner` is cleared when the engine goes first. */
struct TsfnLink {
  CpuEngine* owner;
  int pending = 0;  // completions not yet settled; the TSFN keeps the event loop alive while any are
};

class CpuEngine : public Napi::ObjectWrap<CpuEngine> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit CpuEngine(const Napi::CallbackInfo& info);
  ~CpuEngine() override;

 private:
  // memory and lifecycle (addon.cc)
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Alloc(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Convert(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Sync(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value ReadBandwidth(const Napi::CallbackInfo& info);
  Napi::Value FmaPeak(const Napi::CallbackInfo& info);
  // ops (addon_ops.cc)
  Napi::Value Linear(const Napi::CallbackInfo& info);
  Napi::Value PackWeight(const Napi::CallbackInfo& info);
  Napi::Value Gather(const Napi::CallbackInfo& info);
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value RmsNorm(const Napi::CallbackInfo& info);
  Napi::Value LayerNorm(const Napi::CallbackInfo& info);
  Napi::Value Swiglu(const Napi::CallbackInfo& info);
  Napi::Value Gelu(const Napi::CallbackInfo& info);
  Napi::Value Rope(const Napi::CallbackInfo& info);
  Napi::Value Attention(const Napi::CallbackInfo& info);
  Napi::Value PagedAttention(const Napi::CallbackInfo& info);
  Napi::Value KvWrite(const Napi::CallbackInfo& info);
  Napi::Value WriteRows(const Napi::CallbackInfo& info);
  Napi::Value SliceRows(const Napi::CallbackInfo& info);
  Napi::Value ScatterRows(const Napi::CallbackInfo& info);
  Napi::Value RouterTopk(const Napi::CallbackInfo& info);
  Napi::Value Moe(const Napi::CallbackInfo& info);
  Napi::Value Argmax(const Napi::CallbackInfo& info);
  Napi::Value LinearEx(const Napi::CallbackInfo& info);
  Napi::Value QkvPost(const Napi::CallbackInfo& info);

  Engine& eng();
  /** Stop the dispatcher (it finishes what was recorded) and release the TSFN once; destroy() and the finalizer. */
  void shutdown();
  /** The TSFN's finalizer: it is about to be freed, so stop the dispatcher (its completions call into the TSFN). */
  void tsfnGone();
  /** Queue a completion that settles `d` on the JS thread (with `ab` when given). */
  void complete(Napi::Env env, Napi::Promise::Deferred d, std::shared_ptr<Napi::Reference<Napi::ArrayBuffer>> ab,
                std::function<void()> work);

  std::unique_ptr<Engine> eng_;
  std::shared_ptr<HolderSet> holders_ = std::make_shared<HolderSet>();
  Napi::ThreadSafeFunction tsfn_;
  TsfnLink* link_ = nullptr;  // null once the TSFN is finalized: it must not be touched again
  bool released_ = false;
  std::string isaWhy_;
};

/** Helpers shared by the two source files. */
Napi::Value wrapBuf(Napi::Env env, BufP p, const std::shared_ptr<HolderSet>& set);
BufP unwrapBuf(const Napi::Value& v, const char* what);
/** Throw a JS error unless `b` holds at least `bytes`. */
void needBytes(Napi::Env env, const BufP& b, size_t bytes, const char* what);
int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* what);

}  // namespace qv

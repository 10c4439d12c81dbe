// Module entry, engine lifecycle, memory (alloc/upload/convert/free) and reads: a read enqueues a copy into a JS
// ArrayBuffer and settles its promise through a thread-safe function once the dispatcher has run it.
#include "addon.h"

#include <string.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace qv {

Napi::Value wrapBuf(Napi::Env env, BufP p, const std::shared_ptr<HolderSet>& set) {
  Holder* h = new Holder{std::move(p), set};
  set->live.insert(h);
  return Napi::External<Holder>::New(env, h, [](Napi::Env, Holder* x) {
    x->set->live.erase(x);
    delete x;
  });
}

BufP unwrapBuf(const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), std::string("cpu backend: ") + what + " is not a cpu tensor");
  Holder* h = v.As<Napi::External<Holder>>().Data();
  if (!h->p) {
    if (h->set->destroyed) throw Napi::Error::New(v.Env(), "cpu backend: used after destroy()");
    throw Napi::Error::New(v.Env(), std::string("cpu backend: ") + what + " was already freed");
  }
  return h->p;
}

void needBytes(Napi::Env env, const BufP& b, size_t bytes, const char* what) {
  if (b->bytes < bytes)
    throw Napi::RangeError::New(env, std::string("cpu backend: ") + what + " holds " + std::to_string(b->bytes) + " bytes, the op needs " + std::to_string(bytes));
}

int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("cpu backend: argument ") + what + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d != (double)(int64_t)d) throw Napi::RangeError::New(info.Env(), std::string("cpu backend: argument ") + what + " must be a non-negative integer");
  return (int64_t)d;
}

Napi::Function CpuEngine::Init(Napi::Env env) {
  return DefineClass(env, "CpuEngine",
                     {
                         InstanceMethod("info", &CpuEngine::Info),
                         InstanceMethod("alloc", &CpuEngine::Alloc),
                         InstanceMethod("upload", &CpuEngine::Upload),
                         InstanceMethod("convert", &CpuEngine::Convert),
                         InstanceMethod("free", &CpuEngine::Free),
                         InstanceMethod("read", &CpuEngine::Read),
                         InstanceMethod("sync", &CpuEngine::Sync),
                         InstanceMethod("stats", &CpuEngine::Stats),
                         InstanceMethod("destroy", &CpuEngine::Destroy),
                         InstanceMethod("readBandwidth", &CpuEngine::ReadBandwidth),
                         InstanceMethod("fmaPeak", &CpuEngine::FmaPeak),
                         InstanceMethod("linear", &CpuEngine::Linear),
                         InstanceMethod("gather", &CpuEngine::Gather),
                         InstanceMethod("add", &CpuEngine::Add),
                         InstanceMethod("rmsNorm", &CpuEngine::RmsNorm),
                         InstanceMethod("layerNorm", &CpuEngine::LayerNorm),
                         InstanceMethod("swiglu", &CpuEngine::Swiglu),
                         InstanceMethod("gelu", &CpuEngine::Gelu),
                         InstanceMethod("rope", &CpuEngine::Rope),
                         InstanceMethod("attention", &CpuEngine::Attention),
                         InstanceMethod("pagedAttention", &CpuEngine::PagedAttention),
                         InstanceMethod("kvWrite", &CpuEngine::KvWrite),
                         InstanceMethod("writeRows", &CpuEngine::WriteRows),
                         InstanceMethod("sliceRows", &CpuEngine::SliceRows),
                         InstanceMethod("scatterRows", &CpuEngine::ScatterRows),
                         InstanceMethod("routerTopk", &CpuEngine::RouterTopk),
                         InstanceMethod("moe", &CpuEngine::Moe),
                         InstanceMethod("argmax", &CpuEngine::Argmax),
                         InstanceMethod("linearEx", &CpuEngine::LinearEx),
                         InstanceMethod("packWeight", &CpuEngine::PackWeight),
                         InstanceMethod("qkvPost", &CpuEngine::QkvPost),
                     });
}

// new CpuEngine({ threads, isa, actQuant, precision: 'exact' | 'fast' })
CpuEngine::CpuEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CpuEngine>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  int threads = o.Has("threads") && o.Get("threads").IsNumber() ? o.Get("threads").As<Napi::Number>().Int32Value() : 0;
  if (threads <= 0) threads = (int)std::thread::hardware_concurrency();
  if (threads <= 0) threads = 1;
  const std::string isa = o.Has("isa") && o.Get("isa").IsString() ? o.Get("isa").As<Napi::String>().Utf8Value() : "";
  const bool actQuant = !(o.Has("actQuant") && o.Get("actQuant").IsBoolean()) || o.Get("actQuant").As<Napi::Boolean>().Value();
  const std::string precision = o.Has("precision") && o.Get("precision").IsString() ? o.Get("precision").As<Napi::String>().Utf8Value() : "exact";
  if (precision != "exact" && precision != "fast") throw Napi::TypeError::New(env, "cpu: precision must be 'exact' or 'fast', got '" + precision + "'");
  const OpTable* table;
  try {
    table = selectIsa(isa, &isaWhy_);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  eng_.reset(new Engine(threads, table, actQuant, precision == "fast"));
  link_ = new TsfnLink{this};
  tsfn_ = Napi::ThreadSafeFunction::New(
      env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "qwen3vl-cpu-read", 0, 1,
      [](Napi::Env, TsfnLink* l) {
        if (l->owner) l->owner->tsfnGone();
        delete l;
      },
      link_);
  tsfn_.Unref(env);
}

// At environment teardown Node closes and frees every TSFN itself, then runs the finalizers of objects still alive,
// in any order: releasing a TSFN there (or letting a dispatcher post to one) touched freed memory and aborted the
// process once two engines were alive at exit. So the TSFN is released only while it is still ours (link_ set).
CpuEngine::~CpuEngine() {
  shutdown();
  if (link_) link_->owner = nullptr;
}

void CpuEngine::shutdown() {
  if (eng_) {
    eng_->stop();
    eng_.reset();
  }
  // Nothing can use these buffers after destroy(): drop them now, not when their externals are collected.
  holders_->destroyed = true;
  for (Holder* h : holders_->live) h->p.reset();
  holders_->live.clear();
  if (link_ && !released_) {
    released_ = true;
    tsfn_.Release();
  }
}

void CpuEngine::tsfnGone() {
  link_ = nullptr;
  if (eng_) {
    eng_->stop();
    eng_.reset();
  }
}

Engine& CpuEngine::eng() {
  if (!eng_) throw Napi::Error::New(Env(), "cpu backend: used after destroy()");
  return *eng_;
}

Napi::Value CpuEngine::Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("isa", eng().ops->isa);
  o.Set("isaChoice", isaWhy_);
  o.Set("cpuFeatures", cpuFeatures());
  o.Set("threads", eng().ex.threads);
  o.Set("actQuant", eng().ex.actQuant);
  o.Set("precision", eng().ex.bf16Act ? "fast" : "exact");
  o.Set("bf16Products", eng().ops->bf16Products());
  return o;
}

Napi::Value CpuEngine::Alloc(const Napi::CallbackInfo& info) {
  const int64_t bytes = intArg(info, 0, "bytes");
  const bool zero = info.Length() > 1 && info[1].ToBoolean().Value();
  return wrapBuf(info.Env(), std::make_shared<Buf>((size_t)bytes, zero), holders_);
}

static void viewOf(const Napi::Value& v, const uint8_t** p, size_t* n) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), "cpu backend: upload expects a typed array");
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  *p = (const uint8_t*)t.ArrayBuffer().Data() + t.ByteOffset();
  *n = t.ByteLength();
}

// upload(typedArray): copy the bytes now (the caller may reuse its array).
Napi::Value CpuEngine::Upload(const Napi::CallbackInfo& info) {
  const uint8_t* p;
  size_t n;
  viewOf(info[0], &p, &n);
  auto b = std::make_shared<Buf>(n);
  try {
    memcpy(b->get(), p, n);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return wrapBuf(info.Env(), b, holders_);
}

// convert(typedArray, srcDt, rows, cols, dstDt): weight conversion on the pool; the source is copied now and
// freed when converted. Blocks while more than 256 MiB of sources wait, so loading stays near the final size.
Napi::Value CpuEngine::Convert(const Napi::CallbackInfo& info) {
  const uint8_t* p;
  size_t n;
  viewOf(info[0], &p, &n);
  const int srcDt = (int)intArg(info, 1, "srcDt"), dstDt = (int)intArg(info, 4, "dstDt");
  const int64_t rows = intArg(info, 2, "rows"), cols = intArg(info, 3, "cols");
  if (srcDt != DT_F32 && srcDt != DT_BF16 && srcDt != DT_F16) throw Napi::TypeError::New(info.Env(), "cpu backend: convert source must be f32, bf16 or f16");
  if (dstDt != DT_F32 && dstDt != DT_BF16 && dstDt != DT_Q8_0 && dstDt != DT_Q4_0) throw Napi::TypeError::New(info.Env(), "cpu backend: convert target must be f32, bf16, q8_0 or q4_0");
  if ((dstDt == DT_Q8_0 || dstDt == DT_Q4_0) && (cols % 32 || cols == 0))
    throw Napi::RangeError::New(info.Env(), "cpu backend: cannot quantize rows of " + std::to_string(cols) + " values: need a multiple of 32");
  if (n != rowBytes(srcDt, cols) * (size_t)rows) throw Napi::RangeError::New(info.Env(), "cpu backend: convert source has " + std::to_string(n) + " bytes, expected " + std::to_string(rowBytes(srcDt, cols) * rows));
  Engine& e = eng();
  e.throttle(256u << 20);
  auto src = std::make_shared<Buf>(n);
  auto dst = std::make_shared<Buf>(rowBytes(dstDt, cols) * (size_t)rows);
  try {
    memcpy(src->get(), p, n);
  } catch (const std::exception& ex) {
    throw Napi::Error::New(info.Env(), ex.what());
  }
  e.enqueue([&e, src, dst, srcDt, dstDt, rows, cols]() mutable {
    e.ops->convert(&e.ex, src->get(), srcDt, rows, cols, dst->get(), dstDt);
    src.reset();
  }, n);
  return wrapBuf(info.Env(), dst, holders_);
}

Napi::Value CpuEngine::Free(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) info[0].As<Napi::External<Holder>>().Data()->p.reset();
  return info.Env().Undefined();
}

void CpuEngine::complete(Napi::Env env, Napi::Promise::Deferred d, std::shared_ptr<Napi::Reference<Napi::ArrayBuffer>> ab,
                         std::function<void()> work) {
  struct Done {
    Napi::Promise::Deferred d;
    std::shared_ptr<Napi::Reference<Napi::ArrayBuffer>> ab;
    std::string err;
    TsfnLink* link;  // outlives this completion (freed by the TSFN's finalizer), unlike the engine
  };
  Engine& e = eng();  // throws after destroy(), before the released TSFN is touched
  if (link_->pending++ == 0) tsfn_.Ref(env);
  Napi::ThreadSafeFunction tsfn = tsfn_;
  Done* done = new Done{d, ab, "", link_};
  e.enqueue([&e, done, work, tsfn]() mutable {
    done->err = e.takeError();
    if (done->err.empty() && work) {
      try {
        work();
      } catch (const std::exception& ex) {
        done->err = ex.what();
      }
    }
    tsfn.NonBlockingCall(done, [](Napi::Env env, Napi::Function, Done* dn) {
      if (dn->err.empty()) dn->d.Resolve(dn->ab ? dn->ab->Value() : env.Undefined());
      else dn->d.Reject(Napi::Error::New(env, dn->err).Value());
      CpuEngine* owner = dn->link->owner;
      if (--dn->link->pending == 0 && owner && !owner->released_) owner->tsfn_.Unref(env);
      delete dn;
    });
  });
}

// read(handle, byteOffset, bytes): a snapshot at this point of the queue.
Napi::Value CpuEngine::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufP b = unwrapBuf(info[0], "tensor");
  const int64_t off = intArg(info, 1, "byteOffset"), n = intArg(info, 2, "bytes");
  needBytes(env, b, (size_t)(off + n), "tensor");
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, (size_t)n);
  uint8_t* dst = (uint8_t*)ab.Data();
  auto ref = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
  auto d = Napi::Promise::Deferred::New(env);
  complete(env, d, ref, [b, dst, off, n]() { memcpy(dst, b->get() + off, (size_t)n); });
  return d.Promise();
}

Napi::Value CpuEngine::Sync(const Napi::CallbackInfo& info) {
  auto d = Napi::Promise::Deferred::New(info.Env());
  complete(info.Env(), d, nullptr, nullptr);
  return d.Promise();
}

Napi::Value CpuEngine::Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", (double)Buf::live.load());
  o.Set("peakBytes", (double)Buf::peak.load());
  return o;
}

Napi::Value CpuEngine::Destroy(const Napi::CallbackInfo& info) {
  shutdown();
  return info.Env().Undefined();
}

// readBandwidth(bytes, reps) -> GB/s of the best of `reps` plain passes over a fresh buffer (blocks the caller).
Napi::Value CpuEngine::ReadBandwidth(const Napi::CallbackInfo& info) {
  const int64_t bytes = intArg(info, 0, "bytes"), reps = intArg(info, 1, "reps");
  Engine& e = eng();
  double best = 0;
  auto buf = std::make_shared<Buf>((size_t)bytes);
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  e.enqueue([&] {
    uint8_t* p = buf->get();
    for (int64_t i = 0; i < bytes; i += 4096) memset(p + i, 1, 4096);
    for (int64_t r = 0; r < reps; r++) {
      auto t0 = std::chrono::steady_clock::now();
      volatile double s = e.ops->readPass(&e.ex, p, (size_t)bytes);
      (void)s;
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, (double)bytes / dt / 1e9);
    }
    std::lock_guard<std::mutex> lk(m);
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lk(m);
  cv.wait(lk, [&] { return done; });
  return Napi::Number::New(info.Env(), best);
}

// fmaPeak(iters, reps, kind = 0) -> GFLOP/s (kind 0) or int8 GOP/s (1: q8_0, 2: q4_0 GEMM sequence) of the best of
// `reps` register-only passes on every pool thread.
Napi::Value CpuEngine::FmaPeak(const Napi::CallbackInfo& info) {
  const int64_t iters = intArg(info, 0, "iters"), reps = intArg(info, 1, "reps");
  const int kind = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  if (kind < 0 || kind > 2) throw Napi::RangeError::New(info.Env(), "fmaPeak: kind must be 0, 1 or 2");
  Engine& e = eng();
  double best = 0;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  e.enqueue([&] {
    for (int64_t r = 0; r < reps; r++) {
      auto t0 = std::chrono::steady_clock::now();
      const double flops = e.ops->fmaPeak(&e.ex, iters, kind);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, flops / dt / 1e9);
    }
    std::lock_guard<std::mutex> lk(m);
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lk(m);
  cv.wait(lk, [&] { return done; });
  return Napi::Number::New(info.Env(), best);
}

}  // namespace qv

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuEngine", qv::CpuEngine::Init(env));
  return exports;
}

NODE_API_MODULE(qwen3vl_cpu, InitModule)

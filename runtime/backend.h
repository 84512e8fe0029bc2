// Backends chosen at run time (--backend): cpu, sim, cuda, cudnn, and auto (cuda if a GPU is
// usable, else cpu). A Backend owns its Device and a stream. LC_DISPATCH calls the op function of
// the backend's implementation namespace (lc::cpu, lc::sim, lc::cuda, lc::cudnn); the only place
// besides *_cudnn.cpp files that knows whether CUDA is compiled in.
// Depends on: runtime/device.h, kernels/common/impls.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/common/impls.h"
#include "runtime/device.h"

namespace lc {

enum class BackendKind { cpu, sim, cuda, cudnn };
inline constexpr BackendKind kAllBackends[] = {BackendKind::cuda, BackendKind::cudnn, BackendKind::sim,
                                               BackendKind::cpu};

const char* backend_name(BackendKind k);
// Parses "cpu" | "sim" | "cuda" | "cudnn" | "auto"; throws lc::Error naming the choices otherwise.
BackendKind parse_backend(const std::string& name);

struct BackendStatus {
  BackendKind kind;
  bool compiled = false;
  bool usable = false;
  std::string why;  // why not usable
};
BackendStatus backend_status(BackendKind k);

class Backend {
 public:
  // Throws lc::Error with the reason when the backend is not usable here.
  explicit Backend(BackendKind kind);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  BackendKind kind() const { return kind_; }
  const char* name() const { return backend_name(kind_); }
  Device& device() const { return *device_; }
  stream_t stream() const { return stream_; }
  void synchronize() const { device_->synchronize(stream_); }

 private:
  BackendKind kind_;
  std::unique_ptr<Device> device_;
  stream_t stream_ = nullptr;
};

// "auto" -> cuda when usable, else cpu.
std::unique_ptr<Backend> make_backend(const std::string& name);

}  // namespace lc

#if LC_HAVE_CUDA
#define LC_DISPATCH_CUDA_CASES(fn, ...)                                 \
  case ::lc::BackendKind::cuda: return ::lc::cuda::fn(__VA_ARGS__);    \
  case ::lc::BackendKind::cudnn: return ::lc::cudnn::fn(__VA_ARGS__);
#else
#define LC_DISPATCH_CUDA_CASES(fn, ...)
#endif

// LC_DISPATCH(kind, fn, args...): calls lc::<kind>::fn(args...).
#define LC_DISPATCH(kind, fn, ...)                                     \
  do {                                                                 \
    switch (kind) {                                                    \
      case ::lc::BackendKind::cpu: return ::lc::cpu::fn(__VA_ARGS__);  \
      case ::lc::BackendKind::sim: return ::lc::sim::fn(__VA_ARGS__);  \
      LC_DISPATCH_CUDA_CASES(fn, __VA_ARGS__)                          \
      default: break;                                                  \
    }                                                                  \
    LC_FAIL(#fn ": backend ", ::lc::backend_name(kind), " is not compiled in"); \
  } while (0)

namespace lc {
// Library versions for `landcover info` ("" when not compiled in).
std::string cudnn_version();
std::string cublas_version();
}  // namespace lc

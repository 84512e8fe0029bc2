// Backend registry (see backend.h).
#include "runtime/backend.h"

#include "kernels/common/check.h"
#include "runtime/comm.h"
#if LC_HAVE_CUDA
#include "kernels/common/cudnn_info.h"
#endif

namespace lc {

const char* backend_name(BackendKind k) {
  switch (k) {
    case BackendKind::cpu: return "cpu";
    case BackendKind::sim: return "sim";
    case BackendKind::cuda: return "cuda";
    case BackendKind::cudnn: return "cudnn";
  }
  return "?";
}

BackendKind parse_backend(const std::string& name) {
  for (BackendKind k : kAllBackends)
    if (name == backend_name(k)) return k;
  if (name == "auto") {
    std::string why;
    return cuda_usable(&why) ? BackendKind::cuda : BackendKind::cpu;
  }
  LC_FAIL("unknown backend '", name, "' (choose auto, cuda, cudnn, sim or cpu)");
}

BackendStatus backend_status(BackendKind k) {
  BackendStatus s;
  s.kind = k;
  if (k == BackendKind::cpu || k == BackendKind::sim) {
    s.compiled = s.usable = true;
    return s;
  }
  s.compiled = LC_HAVE_CUDA;
  s.usable = cuda_usable(&s.why);
  if (!s.usable) s.why = std::string(!s.compiled ? "" : "no usable GPU: ") + s.why;
  return s;
}

Backend::Backend(BackendKind kind) : kind_(kind) {
  switch (kind) {
    case BackendKind::cpu: device_ = make_host_device(); break;
    case BackendKind::sim: device_ = make_sim_device(); break;
    case BackendKind::cuda:
    case BackendKind::cudnn: {
      BackendStatus st = backend_status(kind);
      LC_CHECK(st.usable, "backend ", backend_name(kind), " is not usable: ", st.why);
      device_ = make_cuda_device(local_gpu_ordinal());  // one GPU per local rank (runtime/comm.h)
      stream_ = device_->create_stream();
      break;
    }
  }
}

Backend::~Backend() {
  if (!stream_) return;
#if LC_HAVE_CUDA
  cudnn::forget_stream(stream_);  // no cuDNN / cuBLAS handle keeps pointing at a destroyed stream
#endif
  device_->destroy_stream(stream_);
}

std::unique_ptr<Backend> make_backend(const std::string& name) {
  return std::make_unique<Backend>(parse_backend(name));
}

}  // namespace lc

namespace lc {

#if LC_HAVE_CUDA
std::string cudnn_version() { return cudnn::library_version(); }
std::string cublas_version() { return cudnn::cublas_version(); }
#else
std::string cudnn_version() { return ""; }
std::string cublas_version() { return ""; }
#endif

}  // namespace lc

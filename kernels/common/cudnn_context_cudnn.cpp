// Per-thread cuDNN / cuBLAS handles and descriptor wrappers (see cudnn_context.h).
// Each thread's handles are registered so that a Backend destroying its stream can unbind every
// handle still set to it (forget_stream); the stream is set only when it changes, and after each
// cublasSetStream the handle's own workspace is set again (cublasSetStream drops a user workspace
// and makes cuBLAS take one from its pool, which inside a CUDA Graph capture would add memory
// allocation nodes to the graph).
#include "kernels/common/cudnn_context.h"

#include <cuda_runtime.h>

#include <mutex>
#include <set>

#include "kernels/common/cudnn_info.h"

namespace lc::cudnn {

namespace {

// cuBLAS' own recommendation for Hopper (32 MiB; 4 MiB suffice before it), one per thread.
constexpr std::size_t kBlasWorkspaceBytes = std::size_t(32) << 20;

struct Handles;
std::mutex g_mu;
std::set<Handles*>& registry() {
  static std::set<Handles*> r;
  return r;
}

struct Handles {
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  void* blas_ws = nullptr;
  stream_t dnn_stream = nullptr, blas_stream = nullptr;  // what each handle is set to
  Handles() {
    std::lock_guard<std::mutex> lock(g_mu);
    registry().insert(this);
  }
  ~Handles() {
    {
      std::lock_guard<std::mutex> lock(g_mu);
      registry().erase(this);
    }
    if (dnn) cudnnDestroy(dnn);
    if (blas) cublasDestroy(blas);
    if (blas_ws) cudaFree(blas_ws);
  }
  void bind_blas(stream_t s) {
    LC_CUBLAS_CHECK(cublasSetStream(blas, s));
    LC_CUBLAS_CHECK(cublasSetWorkspace(blas, blas_ws, kBlasWorkspaceBytes));
    blas_stream = s;
  }
};
thread_local Handles t_handles;

}  // namespace

// Both take the calling thread's handles first (constructing them registers them, which locks
// g_mu), then lock g_mu against forget_stream rebinding them from another thread.
cudnnHandle_t handle(stream_t stream) {
  Handles& h = t_handles;
  std::lock_guard<std::mutex> lock(g_mu);
  if (!h.dnn) {
    LC_CUDNN_CHECK(cudnnCreate(&h.dnn));
    LC_CUDNN_CHECK(cudnnSetStream(h.dnn, stream));
    h.dnn_stream = stream;
  } else if (h.dnn_stream != stream) {
    LC_CUDNN_CHECK(cudnnSetStream(h.dnn, stream));
    h.dnn_stream = stream;
  }
  return h.dnn;
}

cublasHandle_t blas(stream_t stream) {
  Handles& h = t_handles;
  std::lock_guard<std::mutex> lock(g_mu);
  if (!h.blas) {
    LC_CUBLAS_CHECK(cublasCreate(&h.blas));
    // Default math: FP32 with FMA, no TF32 (that needs CUBLAS_TF32_TENSOR_OP_MATH), the same
    // arithmetic the custom kernels use (nvcc contracts multiply-adds into FMAs by default).
    LC_CUBLAS_CHECK(cublasSetMathMode(h.blas, CUBLAS_DEFAULT_MATH));
    LC_CUBLAS_CHECK(cublasSetPointerMode(h.blas, CUBLAS_POINTER_MODE_HOST));
    LC_CUDA_CHECK(cudaMalloc(&h.blas_ws, kBlasWorkspaceBytes));
    h.bind_blas(stream);
  } else if (h.blas_stream != stream) {
    h.bind_blas(stream);
  }
  return h.blas;
}

void forget_stream(stream_t stream) {
  if (!stream) return;
  std::lock_guard<std::mutex> lock(g_mu);
  for (Handles* h : registry()) {
    if (h->dnn && h->dnn_stream == stream) {
      cudnnSetStream(h->dnn, nullptr);
      h->dnn_stream = nullptr;
    }
    if (h->blas && h->blas_stream == stream) {
      cublasSetStream(h->blas, nullptr);
      cublasSetWorkspace(h->blas, h->blas_ws, kBlasWorkspaceBytes);
      h->blas_stream = nullptr;
    }
  }
}

stream_t bound_stream() {
  Handles& h = t_handles;
  std::lock_guard<std::mutex> lock(g_mu);
  return h.dnn ? h.dnn_stream : h.blas_stream;
}

TensorDesc::TensorDesc() { LC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
TensorDesc::~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
void TensorDesc::set_nhwc(int n, int h, int w, int c) {
  LC_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, n, c, h, w));
}

std::string library_version() {
  const std::size_t v = cudnnGetVersion();  // major*10000 + minor*100 + patch since cuDNN 9
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

std::string cublas_version() {
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace lc::cudnn

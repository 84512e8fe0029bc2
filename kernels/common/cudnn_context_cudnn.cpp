// Per-thread cuDNN / cuBLAS handles and descriptor wrappers (see cudnn_context.h).
#include "kernels/common/cudnn_context.h"

#include <cuda_runtime.h>

namespace lc::cudnn {

namespace {
struct Handles {
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  ~Handles() {
    if (dnn) cudnnDestroy(dnn);
    if (blas) cublasDestroy(blas);
  }
};
thread_local Handles t_handles;
}  // namespace

cudnnHandle_t handle(stream_t stream) {
  if (!t_handles.dnn) LC_CUDNN_CHECK(cudnnCreate(&t_handles.dnn));
  LC_CUDNN_CHECK(cudnnSetStream(t_handles.dnn, stream));
  return t_handles.dnn;
}

cublasHandle_t blas(stream_t stream) {
  if (!t_handles.blas) {
    LC_CUBLAS_CHECK(cublasCreate(&t_handles.blas));
    LC_CUBLAS_CHECK(cublasSetMathMode(t_handles.blas, CUBLAS_PEDANTIC_MATH));
    LC_CUBLAS_CHECK(cublasSetPointerMode(t_handles.blas, CUBLAS_POINTER_MODE_HOST));
  }
  LC_CUBLAS_CHECK(cublasSetStream(t_handles.blas, stream));
  return t_handles.blas;
}

TensorDesc::TensorDesc() { LC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
TensorDesc::~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
void TensorDesc::set_nhwc(int n, int h, int w, int c) {
  LC_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, n, c, h, w));
}

}  // namespace lc::cudnn

#include "kernels/common/cudnn_info.h"

namespace lc::cudnn {

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

// One cuDNN and one cuBLAS handle per host thread, bound to the caller's stream on each use, and
// the checks that report a failed call with the library's message. Include only from *_cudnn.cpp.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include "kernels/common/cuda_check.h"
#include "kernels/common/types.h"

namespace lc::detail {
inline std::string describe_cudnn(cudnnStatus_t s) { return cudnnGetErrorString(s); }
inline std::string describe_cublas(cublasStatus_t s) {
  return std::string(cublasGetStatusName(s)) + " (" + cublasGetStatusString(s) + ")";
}
}  // namespace lc::detail

#define LC_CUDNN_CHECK(expr) LC_CHECK_CALL("cuDNN", expr, CUDNN_STATUS_SUCCESS, ::lc::detail::describe_cudnn)
#define LC_CUBLAS_CHECK(expr) LC_CHECK_CALL("cuBLAS", expr, CUBLAS_STATUS_SUCCESS, ::lc::detail::describe_cublas)

namespace lc::cudnn {

// The calling thread's cuDNN handle, set to `stream` (only when it changes).
cudnnHandle_t handle(stream_t stream);
// The calling thread's cuBLAS handle, set to `stream`, pointer mode host, FP32 default math (FMA,
// no TF32), with a workspace it owns (so no call, captured or not, allocates).
cublasHandle_t blas(stream_t stream);

// RAII wrappers for descriptors.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc();
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  // NHWC float tensor of logical shape n x h x w x c.
  void set_nhwc(int n, int h, int w, int c);
};

}  // namespace lc::cudnn

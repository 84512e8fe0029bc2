// LC_CUDA_CHECK for code that includes the CUDA runtime (nvcc-compiled kernels, the cuda device).
#pragma once

#include <cuda_runtime.h>

#include "kernels/common/check.h"

namespace lc::detail {
inline std::string describe_cuda(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}
}  // namespace lc::detail

#define LC_CUDA_CHECK(expr) LC_CHECK_CALL("CUDA", expr, cudaSuccess, ::lc::detail::describe_cuda)

// LC_CUDA_CHECK for code that includes the CUDA runtime (nvcc-compiled kernels, the cuda device).
#pragma once

#include <cuda_runtime.h>

#include "kernels/common/check.h"

#define LC_CUDA_CHECK(expr)                                                                   \
  do {                                                                                        \
    cudaError_t lc_err_ = (expr);                                                             \
    if (lc_err_ != cudaSuccess)                                                               \
      LC_FAIL("CUDA error in ", #expr, ": ", cudaGetErrorName(lc_err_), " (",               \
              cudaGetErrorString(lc_err_), ")");                                              \
  } while (0)

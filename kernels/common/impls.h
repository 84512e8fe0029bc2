// The implementation namespaces and the macro op contracts use to declare one set of functions
// in each of them. Same names everywhere, told apart by namespace:
//   lc::ref    plain C++ reference: naive loops, double accumulation (tests only)
//   lc::cpu    fast host path (BLAS, OpenMP): the `cpu` backend
//   lc::sim    the CUDA kernel sources compiled for the host SIMT emulator: the `sim` backend
//   lc::cuda   the same sources compiled by nvcc: the `cuda` backend
//   lc::cudnn  cuDNN / cuBLAS (or the cuda kernels where cuDNN has no such op): the `cudnn` backend
// ref, cpu and sim take host pointers; cuda and cudnn take device pointers. Every function takes
// the stream last; host implementations ignore it.
#pragma once

#include "kernels/common/check.h"
#include "kernels/common/types.h"

#define LC_DECLARE_IN_ALL_IMPLS(...)  \
  namespace lc::ref { __VA_ARGS__ }   \
  namespace lc::cpu { __VA_ARGS__ }   \
  namespace lc::sim { __VA_ARGS__ }   \
  namespace lc::cuda { __VA_ARGS__ }  \
  namespace lc::cudnn { __VA_ARGS__ }

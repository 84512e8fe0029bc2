// Dense (fully connected) layer, the contract. Keras' Dense: kernel W row-major [in][out], bias [out].
//   forward:  z[r][o] = sum_i x[r][i] * W[i][o] + b[o]            r < n, o < out, i < in
//             y = z                  activation none
//             y = elu(z)             activation elu (alpha 1, expm1; kernels/elu/elu.h), fused epilogue
//   backward (dy is the gradient with respect to z, the PRE-activation):
//             dx[r][i] = sum_o dy[r][o] * W[i][o]                (dx = dy W^T)
//             dW[i][o] = sum_r x[r][i] * dy[r][o]                (dW = x^T dy)
//             db[o]    = sum_r dy[r][o]
//   With the ELU epilogue the caller first turns dL/dy into dL/dz with elu_backward(y, dL/dy)
//   (kernels/elu/elu.h; it reads the post-ELU output y, so the forward keeps no pre-activation),
//   then calls dense_backward with that. `activation` is ignored by dense_backward.
//
// Layouts: x [n][in], y [n][out], dy [n][out], dx [n][in], all row-major, densely packed. The
// flatten before the first dense takes NHWC memory as is (Keras' H, W, C order).
// Outputs are overwritten (never accumulated into). b may be nullptr (no bias). In dense_backward
// dx may be nullptr (not computed); dw and db must be given. No aliasing between inputs and outputs.
// NaN propagates: a NaN in row r of x gives NaN in every y[r][o] (with or without the ELU; cudnn:
// CUDNN_PROPAGATE_NAN), which the graph runtime's NaN-poisoned arena relies on.
//
// Implementations: ref = naive loops in double; cpu = cblas_sgemm (OpenBLAS) + OpenMP epilogue;
// sim/cuda = tiled shared-memory GEMM kernels with register micro-tiles (dense.cu), one template
// for the three products, deterministic (fixed summation order, no atomics); cudnn = cublasSgemm
// (FP32 with FMA, no TF32) + cudnnAddTensor / cudnnActivationForward / cudnnConvolutionBackwardBias.
// Depends on: kernels/common/impls.h.
#pragma once

#include <cstdint>

#include "kernels/common/impls.h"

namespace lc {

enum class DenseActivation : int { none = 0, elu = 1 };

struct DenseArgs {
  std::int64_t n = 0;  // rows (batch); up to 16384+ in inference
  int in = 0;          // input features (2048, 128, 64 in the model)
  int out = 0;         // output units (128, 64, classes)
  DenseActivation activation = DenseActivation::none;  // forward epilogue only
};

}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  void dense_forward(const DenseArgs& a, const float* x, const float* w, const float* b, float* y,
                     stream_t stream);
  void dense_backward(const DenseArgs& a, const float* x, const float* w, const float* dy, float* dx,
                      float* dw, float* db, stream_t stream);
)

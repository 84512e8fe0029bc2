// ELU, the contract (docs/MODEL.md): alpha = 1.
//   forward:  y = x                 if x > 0
//             y = expm1(x)          otherwise
//   backward: dx = dy               if y > 0
//             dx = dy * (y + 1)     otherwise   (y + 1 = exp(x) for x <= 0)
// Backward reads the forward output y, not x, so the forward may run in place (x == y) and a
// convolution with a fused ELU epilogue need not keep its pre-activation. Any layout: the op is
// elementwise over n floats. In-place (x == y, dy == dx) is allowed for every implementation
// (kernels must not declare aliasable pointers __restrict__).
// NaN propagates: x NaN -> y NaN; y or dy NaN -> dx NaN (cudnn: CUDNN_PROPAGATE_NAN). The graph
// runtime poisons its arena with NaN and relies on this to expose reads of unwritten memory.
#pragma once

#include <cstdint>

#include "kernels/common/impls.h"

namespace lc {
struct EluArgs {
  std::int64_t n = 0;  // number of elements
};
}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  void elu_forward(const EluArgs& a, const float* x, float* y, stream_t stream);
  void elu_backward(const EluArgs& a, const float* y, const float* dy, float* dx, stream_t stream);
)

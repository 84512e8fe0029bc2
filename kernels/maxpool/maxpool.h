// Max-pool 2x2, stride 2, NHWC float32: the contract (docs/MODEL.md: Keras MaxPooling2D((2, 2)),
// padding 'valid'). Depends on: kernels/common/impls.h.
//
// Shapes: x is n x h x w x c, y is n x (h/2) x (w/2) x c (integer division: Keras 'valid' pooling
// drops an odd last row and an odd last column). Output element (b, i, j, ch) pools the window
// x[b][2i+dy][2j+dx][ch], (dy, dx) in row-major order k = 2*dy + dx:
//   k = 0: (0,0)   k = 1: (0,1)   k = 2: (1,0)   k = 3: (1,1)
// A size of 0 anywhere, or h or w of 1, gives an empty y (the forward then does nothing).
//
// Forward:  y = max over the window. Ties: the FIRST maximum in the order k = 0..3 wins (a later
//           element replaces the running maximum only if strictly greater). NaN propagates: if
//           any element of the window is NaN, y is NaN and the winner is the first NaN in order k
//           (a NaN replaces a non-NaN running maximum; nothing replaces a NaN). -0 and +0 tie.
//           argmax (optional, nullptr = not written): one uint8 k in 0..3 per output element,
//           same layout as y, the winner's position; the gradient goes there.
// Backward: dx is FULLY written: dx[winner of window o] = dy[o], every other element of dx is 0,
//           including the dropped odd last row / column. Exactly one element per window receives
//           the gradient, also under ties (the first maximum) and NaN (the first NaN).
//           Which winner backward uses:
//             ref, cpu, sim, cuda: the saved argmax when argmax != nullptr (x and y are then not
//               read and may be nullptr); otherwise they recompute the winner from x by the
//               forward's rule (y is never read and may be nullptr). Both give the same dx.
//             cudnn: cudnnPoolingBackward (CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_PROPAGATE_NAN),
//               which reads x and y (both required) and never an argmax: the cudnn backend has no
//               argmax, and its forward refuses a non-null argmax (argmax must be nullptr in
//               both calls). Which element of a tied window cuDNN picks is cuDNN's business:
//               equal to the rule above only where a window has no ties.
//           The call that works on every backend: forward(x, y, nullptr), backward(x, y, nullptr,
//           dy, dx). The cheaper one on the custom backends: forward(x, y, argmax) and
//           backward(nullptr, nullptr, argmax, dy, dx) (1 byte read per window instead of 4 floats).
// Outputs never alias inputs. Sizes: every dimension >= 0; element counts may exceed 2^31.
#pragma once

#include <cstdint>

#include "kernels/common/impls.h"

namespace lc {
struct MaxPoolArgs {
  int n = 0, h = 0, w = 0, c = 0;  // input shape, NHWC
  int out_h() const { return h / 2; }
  int out_w() const { return w / 2; }
  std::int64_t in_elements() const { return std::int64_t(n) * h * w * c; }
  std::int64_t out_elements() const { return std::int64_t(n) * out_h() * out_w() * c; }
};
}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  void maxpool_forward(const MaxPoolArgs& a, const float* x, float* y, std::uint8_t* argmax, stream_t stream);
  void maxpool_backward(const MaxPoolArgs& a, const float* x, const float* y, const std::uint8_t* argmax,
                        const float* dy, float* dx, stream_t stream);
)

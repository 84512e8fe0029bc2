// ELU reference (contract: elu.h): one loop each, in double.
#include <cmath>

#include "kernels/elu/elu.h"

namespace lc::ref {

void elu_forward(const EluArgs& a, const float* x, float* y, stream_t) {
  for (std::int64_t i = 0; i < a.n; ++i) {
    const double v = x[i];
    y[i] = float(v > 0.0 ? v : std::expm1(v));
  }
}

void elu_backward(const EluArgs& a, const float* y, const float* dy, float* dx, stream_t) {
  for (std::int64_t i = 0; i < a.n; ++i) {
    const double v = y[i];
    dx[i] = float(v > 0.0 ? double(dy[i]) : double(dy[i]) * (v + 1.0));
  }
}

}  // namespace lc::ref

// ELU on the host for the cpu backend (contract: elu.h): float, OpenMP over both cores.
#include <cmath>

#include "kernels/elu/elu.h"

namespace lc::cpu {

void elu_forward(const EluArgs& a, const float* x, float* y, stream_t) {
#pragma omp parallel for simd if (a.n > 16384) schedule(static)
  for (std::int64_t i = 0; i < a.n; ++i) y[i] = x[i] > 0.f ? x[i] : std::expm1(x[i]);
}

void elu_backward(const EluArgs& a, const float* y, const float* dy, float* dx, stream_t) {
#pragma omp parallel for simd if (a.n > 16384) schedule(static)
  for (std::int64_t i = 0; i < a.n; ++i) dx[i] = y[i] > 0.f ? dy[i] : dy[i] * (y[i] + 1.f);
}

}  // namespace lc::cpu

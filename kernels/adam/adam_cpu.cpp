// Adam on the host for the cpu backend (contract: adam.h): the kernel's float arithmetic in an
// OpenMP loop; lr_t in double once per call; the step count advanced after the loop.
#include <cmath>

#include "kernels/adam/adam.h"

namespace lc::cpu {

void adam_update(const AdamArgs& a, float* params, const float* grads, float* m, float* v, AdamState* state,
                 stream_t) {
  LC_CHECK(a.n > 0, "adam_update (cpu): no parameters (n=", a.n, ")");
  LC_CHECK(state, "adam_update (cpu): state pointer is null");
  const std::int64_t t = state->step + 1;
  const float lr_t = float(double(a.lr) * std::sqrt(1.0 - std::pow(double(a.beta2), double(t))) /
                           (1.0 - std::pow(double(a.beta1), double(t))));
  const float c1 = 1.f - a.beta1, c2 = 1.f - a.beta2, eps = a.epsilon;
#pragma omp parallel for simd if (a.n > 65536) schedule(static)
  for (std::int64_t i = 0; i < a.n; ++i) {
    const float g = grads[i];
    float mi = m[i], vi = v[i];
    mi += (g - mi) * c1;
    vi += (g * g - vi) * c2;
    params[i] -= lr_t * mi / (std::sqrt(vi) + eps);
    m[i] = mi;
    v[i] = vi;
  }
  state->step = t;
}

}  // namespace lc::cpu

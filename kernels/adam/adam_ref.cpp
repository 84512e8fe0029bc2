// Adam reference (contract: adam.h): each element's update in double from the stored floats,
// rounded to float when stored; the step count advanced after the loop.
#include <cmath>

#include "kernels/adam/adam.h"

namespace lc::ref {

void adam_update(const AdamArgs& a, float* params, const float* grads, float* m, float* v, AdamState* state,
                 stream_t) {
  LC_CHECK(a.n > 0 && state, "adam_update (ref): bad arguments");
  const std::int64_t t = state->step + 1;
  const double b1 = a.beta1, b2 = a.beta2;
  const double lr_t = double(a.lr) * std::sqrt(1.0 - std::pow(b2, double(t))) / (1.0 - std::pow(b1, double(t)));
  for (std::int64_t i = 0; i < a.n; ++i) {
    const double g = grads[i];
    const double mi = double(m[i]) + (g - double(m[i])) * (1.0 - b1);
    const double vi = double(v[i]) + (g * g - double(v[i])) * (1.0 - b2);
    params[i] = float(double(params[i]) - lr_t * mi / (std::sqrt(vi) + double(a.epsilon)));
    m[i] = float(mi);
    v[i] = float(vi);
  }
  state->step = t;
}

}  // namespace lc::ref

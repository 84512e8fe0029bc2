// Dropout reference (contract: dropout.h): one loop, the mask from the contract's dropout_keep().
#include "kernels/dropout/dropout.h"

namespace lc::ref {

namespace {
void apply(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y) {
  LC_CHECK(a.n >= 0 && a.rate >= 0.f && a.rate < 1.f, "dropout (ref): bad arguments");
  if (!a.training) {
    for (std::int64_t i = 0; i < a.n; ++i) y[i] = x[i];
    return;
  }
  LC_CHECK(step, "dropout (ref): step pointer is null");
  const std::uint32_t threshold = dropout_threshold(a.rate);
  const float scale = dropout_scale(a.rate);
  for (std::int64_t i = 0; i < a.n; ++i)
    y[i] = dropout_keep(a.seed, a.stream, *step, i, threshold) ? x[i] * scale : 0.f;
}
}  // namespace

void dropout_forward(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y, stream_t) {
  apply(a, step, x, y);
}

void dropout_backward(const DropoutArgs& a, const std::int64_t* step, const float* dy, float* dx, stream_t) {
  apply(a, step, dy, dx);
}

}  // namespace lc::ref

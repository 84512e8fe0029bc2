// Dropout on the host for the cpu backend (contract: dropout.h): OpenMP over groups of 4
// elements, one Philox4x32-10 call per group (the same words as every other backend).
#include <bit>

#include "kernels/dropout/dropout.h"

namespace lc::cpu {

namespace {
void apply(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y, const char* what) {
  LC_CHECK(a.n >= 0, what, ": negative size ", a.n);
  LC_CHECK(a.rate >= 0.f && a.rate < 1.f, what, ": rate must be in [0, 1), got ", a.rate);
  if (!a.training) {
    if (x != y)
      for (std::int64_t i = 0; i < a.n; ++i) y[i] = x[i];
    return;
  }
  LC_CHECK(step, what, ": step pointer is null");
  const std::uint32_t threshold = dropout_threshold(a.rate);
  const float scale = dropout_scale(a.rate);
  const std::uint32_t s = std::uint32_t(std::uint64_t(*step)), stream = a.stream;
  const std::uint32_t k0 = std::uint32_t(a.seed), k1 = std::uint32_t(a.seed >> 32);
  const std::int64_t n = a.n, groups = (n + 3) / 4;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (std::int64_t g = 0; g < groups; ++g) {
    const Philox4x32 r = philox4x32_10(
        Philox4x32{{std::uint32_t(g), std::uint32_t(std::uint64_t(g) >> 32), s, stream}}, k0, k1);
    // Branch-free select (the keep bits are random: a branch would mispredict half the time):
    // the product's bits ANDed with an all-ones or all-zero mask give x * scale or +0.0.
    const std::int64_t i0 = g * 4;
    const int cnt = n - i0 < 4 ? int(n - i0) : 4;
    for (int q = 0; q < cnt; ++q) {
      const std::uint32_t mask = 0u - std::uint32_t(r.v[q] >= threshold);
      y[i0 + q] = std::bit_cast<float>(std::bit_cast<std::uint32_t>(x[i0 + q] * scale) & mask);
    }
  }
}
}  // namespace

void dropout_forward(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y, stream_t) {
  apply(a, step, x, y, "dropout_forward (cpu)");
}

void dropout_backward(const DropoutArgs& a, const std::int64_t* step, const float* dy, float* dx, stream_t) {
  apply(a, step, dy, dx, "dropout_backward (cpu)");
}

}  // namespace lc::cpu

// Max-pool 2x2 / 2 reference (contract: maxpool.h): naive loops over every window, the winner
// picked by the contract's rule (first maximum in row-major window order, first NaN wins).
#include <cmath>

#include "kernels/maxpool/maxpool.h"

namespace lc::ref {
namespace {

void check_args(const MaxPoolArgs& a, const char* who) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
}

// Index of x within the tensor.
std::int64_t at(const MaxPoolArgs& a, int b, int i, int j, int ch) {
  return ((std::int64_t(b) * a.h + i) * a.w + j) * a.c + ch;
}

// The winning position k (0..3) of the window of output (b, oi, oj, ch).
int winner(const MaxPoolArgs& a, const float* x, int b, int oi, int oj, int ch) {
  int best = 0;
  float best_v = x[at(a, b, 2 * oi, 2 * oj, ch)];
  for (int k = 1; k < 4; ++k) {
    const float v = x[at(a, b, 2 * oi + k / 2, 2 * oj + k % 2, ch)];
    if (std::isnan(best_v)) break;  // nothing replaces a NaN
    if (std::isnan(v) || v > best_v) best = k, best_v = v;
  }
  return best;
}

}  // namespace

void maxpool_forward(const MaxPoolArgs& a, const float* x, float* y, std::uint8_t* argmax, stream_t) {
  check_args(a, "maxpool_forward");
  const int oh = a.out_h(), ow = a.out_w();
  for (int b = 0; b < a.n; ++b)
    for (int oi = 0; oi < oh; ++oi)
      for (int oj = 0; oj < ow; ++oj)
        for (int ch = 0; ch < a.c; ++ch) {
          const int k = winner(a, x, b, oi, oj, ch);
          const std::int64_t o = ((std::int64_t(b) * oh + oi) * ow + oj) * a.c + ch;
          y[o] = x[at(a, b, 2 * oi + k / 2, 2 * oj + k % 2, ch)];
          if (argmax) argmax[o] = std::uint8_t(k);
        }
}

void maxpool_backward(const MaxPoolArgs& a, const float* x, const float*, const std::uint8_t* argmax,
                      const float* dy, float* dx, stream_t) {
  check_args(a, "maxpool_backward");
  LC_CHECK(argmax || x || a.out_elements() == 0, "maxpool_backward: needs argmax or x");
  for (std::int64_t i = 0; i < a.in_elements(); ++i) dx[i] = 0.f;
  const int oh = a.out_h(), ow = a.out_w();
  for (int b = 0; b < a.n; ++b)
    for (int oi = 0; oi < oh; ++oi)
      for (int oj = 0; oj < ow; ++oj)
        for (int ch = 0; ch < a.c; ++ch) {
          const std::int64_t o = ((std::int64_t(b) * oh + oi) * ow + oj) * a.c + ch;
          const int k = argmax ? int(argmax[o]) : winner(a, x, b, oi, oj, ch);
          LC_CHECK(k >= 0 && k < 4, "maxpool_backward: argmax out of range: ", k);
          dx[at(a, b, 2 * oi + k / 2, 2 * oj + k % 2, ch)] = dy[o];
        }
}

}  // namespace lc::ref

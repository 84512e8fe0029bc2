// Dense layer reference (contract: dense.h): naive loops, every sum accumulated in double, one
// rounding to float per output element.
#include <cmath>

#include "kernels/dense/dense.h"

namespace lc::ref {

void dense_forward(const DenseArgs& a, const float* x, const float* w, const float* b, float* y, stream_t) {
  LC_CHECK(a.n >= 0 && a.in > 0 && a.out > 0, "dense_forward (ref): bad shape");
  for (std::int64_t r = 0; r < a.n; ++r)
    for (int o = 0; o < a.out; ++o) {
      double s = b ? double(b[o]) : 0.0;
      for (int i = 0; i < a.in; ++i) s += double(x[r * a.in + i]) * double(w[std::int64_t(i) * a.out + o]);
      if (a.activation == DenseActivation::elu && s <= 0.0) s = std::expm1(s);
      y[r * a.out + o] = float(s);
    }
}

void dense_backward(const DenseArgs& a, const float* x, const float* w, const float* dy, float* dx, float* dw,
                    float* db, stream_t) {
  LC_CHECK(a.n >= 0 && a.in > 0 && a.out > 0, "dense_backward (ref): bad shape");
  LC_CHECK(dw && db, "dense_backward (ref): dw and db are required");
  if (dx)
    for (std::int64_t r = 0; r < a.n; ++r)
      for (int i = 0; i < a.in; ++i) {
        double s = 0.0;
        for (int o = 0; o < a.out; ++o) s += double(dy[r * a.out + o]) * double(w[std::int64_t(i) * a.out + o]);
        dx[r * a.in + i] = float(s);
      }
  for (int i = 0; i < a.in; ++i)
    for (int o = 0; o < a.out; ++o) {
      double s = 0.0;
      for (std::int64_t r = 0; r < a.n; ++r) s += double(x[r * a.in + i]) * double(dy[r * a.out + o]);
      dw[std::int64_t(i) * a.out + o] = float(s);
    }
  for (int o = 0; o < a.out; ++o) {
    double s = 0.0;
    for (std::int64_t r = 0; r < a.n; ++r) s += double(dy[r * a.out + o]);
    db[o] = float(s);
  }
}

}  // namespace lc::ref

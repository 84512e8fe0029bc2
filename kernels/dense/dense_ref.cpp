// Dense layer reference (contract: dense.h): naive loops, every sum accumulated in double in index
// order (over i for y, o for dx, r for dW and db), one rounding to float per output element. The
// loops are ordered so the innermost one walks memory contiguously (the reference runs at the
// 1024 x 2048 x 128 segmentation shape in the tests); the summation order is unchanged by that.
#include <cmath>
#include <vector>

#include "kernels/dense/dense.h"

namespace lc::ref {

void dense_forward(const DenseArgs& a, const float* x, const float* w, const float* b, float* y, stream_t) {
  LC_CHECK(a.n >= 0 && a.in > 0 && a.out > 0, "dense_forward (ref): bad shape");
  std::vector<double> acc(a.out);
  for (std::int64_t r = 0; r < a.n; ++r) {
    for (int o = 0; o < a.out; ++o) acc[o] = b ? double(b[o]) : 0.0;
    for (int i = 0; i < a.in; ++i) {
      const double xi = x[r * a.in + i];
      const float* wi = w + std::int64_t(i) * a.out;
      for (int o = 0; o < a.out; ++o) acc[o] += xi * double(wi[o]);
    }
    for (int o = 0; o < a.out; ++o) {
      const double s = acc[o];
      y[r * a.out + o] = float(a.activation == DenseActivation::elu && s <= 0.0 ? std::expm1(s) : s);
    }
  }
}

void dense_backward(const DenseArgs& a, const float* x, const float* w, const float* dy, float* dx, float* dw,
                    float* db, stream_t) {
  LC_CHECK(a.n >= 0 && a.in > 0 && a.out > 0, "dense_backward (ref): bad shape");
  LC_CHECK(dw && db, "dense_backward (ref): dw and db are required");
  if (dx)  // dx[r][i] = sum_o dy[r][o] W[i][o]
    for (std::int64_t r = 0; r < a.n; ++r)
      for (int i = 0; i < a.in; ++i) {
        const float* wi = w + std::int64_t(i) * a.out;
        const float* dyr = dy + r * a.out;
        double s = 0.0;
        for (int o = 0; o < a.out; ++o) s += double(dyr[o]) * double(wi[o]);
        dx[r * a.in + i] = float(s);
      }
  // dW[i][o] = sum_r x[r][i] dy[r][o];  db[o] = sum_r dy[r][o]
  std::vector<double> acc_w(std::size_t(a.in) * a.out, 0.0), acc_b(a.out, 0.0);
  for (std::int64_t r = 0; r < a.n; ++r) {
    const float* dyr = dy + r * a.out;
    for (int i = 0; i < a.in; ++i) {
      const double xi = x[r * a.in + i];
      double* row = acc_w.data() + std::size_t(i) * a.out;
      for (int o = 0; o < a.out; ++o) row[o] += xi * double(dyr[o]);
    }
    for (int o = 0; o < a.out; ++o) acc_b[o] += double(dyr[o]);
  }
  for (std::size_t k = 0; k < acc_w.size(); ++k) dw[k] = float(acc_w[k]);
  for (int o = 0; o < a.out; ++o) db[o] = float(acc_b[o]);
}

}  // namespace lc::ref

// Batch normalization reference (contract: batchnorm.h): naive loops, everything in double,
// two passes for the variance (mean first, then the squared deviations).
#include <cmath>

#include "kernels/batchnorm/batchnorm.h"

namespace lc::ref {
namespace {

void check_args(const BatchNormArgs& a, const char* who, bool training) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
  LC_CHECK(a.epsilon > 0.f, who, ": epsilon must be > 0, got ", a.epsilon);
  LC_CHECK(a.momentum >= 0.f && a.momentum <= 1.f, who, ": momentum must be in [0, 1], got ", a.momentum);
  if (training) LC_CHECK(a.m() >= 1 || a.c == 0, who, ": training needs n*h*w >= 1");
}

}  // namespace

std::size_t batchnorm_workspace_bytes(const BatchNormArgs&) { return 0; }

void batchnorm_forward_training(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                float* y, float* moving_mean, float* moving_var, float* save_mean,
                                float* save_inv_std, Workspace, stream_t) {
  check_args(a, "batchnorm_forward_training", true);
  LC_CHECK((moving_mean == nullptr) == (moving_var == nullptr),
           "batchnorm_forward_training: moving_mean and moving_var must both be given or both be null");
  const std::int64_t m = a.m(), c = a.c;
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (std::int64_t i = 0; i < m; ++i) sum += x[i * c + ch];
    const double mean = sum / double(m);
    double sq = 0;
    for (std::int64_t i = 0; i < m; ++i) {
      const double d = x[i * c + ch] - mean;
      sq += d * d;
    }
    const double var = sq / double(m);
    const double inv_std = 1.0 / std::sqrt(var + double(a.epsilon));
    for (std::int64_t i = 0; i < m; ++i)
      y[i * c + ch] = float(double(gamma[ch]) * (x[i * c + ch] - mean) * inv_std + double(beta[ch]));
    save_mean[ch] = float(mean);
    save_inv_std[ch] = float(inv_std);
    if (moving_mean) {
      const double mom = a.momentum;
      const double var_unbiased = m > 1 ? var * double(m) / double(m - 1) : var;
      moving_mean[ch] = float(mom * moving_mean[ch] + (1.0 - mom) * mean);
      moving_var[ch] = float(mom * moving_var[ch] + (1.0 - mom) * var_unbiased);
    }
  }
}

void batchnorm_forward_inference(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                 const float* moving_mean, const float* moving_var, float* y, stream_t) {
  check_args(a, "batchnorm_forward_inference", false);
  const std::int64_t m = a.m(), c = a.c;
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double inv_std = 1.0 / std::sqrt(double(moving_var[ch]) + double(a.epsilon));
    for (std::int64_t i = 0; i < m; ++i)
      y[i * c + ch] =
          float(double(gamma[ch]) * (double(x[i * c + ch]) - moving_mean[ch]) * inv_std + double(beta[ch]));
  }
}

void batchnorm_backward(const BatchNormArgs& a, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_inv_std, float* dx, float* dgamma,
                        float* dbeta, Workspace, stream_t) {
  check_args(a, "batchnorm_backward", true);
  const std::int64_t m = a.m(), c = a.c;
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double mean = save_mean[ch], inv_std = save_inv_std[ch];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (std::int64_t i = 0; i < m; ++i) {
      const double xhat = (x[i * c + ch] - mean) * inv_std;
      sum_dy += dy[i * c + ch];
      sum_dy_xhat += dy[i * c + ch] * xhat;
    }
    const double k = double(gamma[ch]) * inv_std / double(m);
    for (std::int64_t i = 0; i < m; ++i) {
      const double xhat = (x[i * c + ch] - mean) * inv_std;
      dx[i * c + ch] = float(k * (double(m) * dy[i * c + ch] - sum_dy - xhat * sum_dy_xhat));
    }
    dbeta[ch] = float(sum_dy);
    dgamma[ch] = float(sum_dy_xhat);
  }
}

}  // namespace lc::ref

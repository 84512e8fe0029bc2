// Batch normalization on the host for the cpu backend (contract: batchnorm.h). Depends on OpenMP.
// Per-channel sums in double over fixed chunks of rows (the chunking depends only on m), the
// chunk partials combined in chunk order: bitwise the same result for any number of threads.
// The variance is two-pass (mean, then squared deviations), so no cancellation.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/batchnorm/batchnorm.h"

namespace lc::cpu {
namespace {

constexpr std::int64_t kChunkRows = 1024;

void check_args(const BatchNormArgs& a, const char* who, bool training) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
  LC_CHECK(a.epsilon > 0.f, who, ": epsilon must be > 0, got ", a.epsilon);
  LC_CHECK(a.momentum >= 0.f && a.momentum <= 1.f, who, ": momentum must be in [0, 1], got ", a.momentum);
  if (training) LC_CHECK(a.m() >= 1 || a.c == 0, who, ": training needs n*h*w >= 1");
}

// Per-channel sums s0[ch] = sum_i f0(i, ch), s1[ch] = sum_i f1(i, ch) over the m rows, in double,
// chunked as above. f(row_ptr_offset, ch, &a0, &a1) adds one row's contribution.
template <class RowFn>
void channel_sums(std::int64_t m, std::int64_t c, RowFn fn, std::vector<double>& s0, std::vector<double>& s1) {
  const std::int64_t chunks = (m + kChunkRows - 1) / kChunkRows;
  std::vector<double> p0(std::size_t(chunks * c), 0.0), p1(std::size_t(chunks * c), 0.0);
#pragma omp parallel for schedule(static) if (m * c > 32768)
  for (std::int64_t k = 0; k < chunks; ++k) {
    double* a0 = p0.data() + k * c;
    double* a1 = p1.data() + k * c;
    const std::int64_t end = std::min(m, (k + 1) * kChunkRows);
    for (std::int64_t i = k * kChunkRows; i < end; ++i) fn(i * c, a0, a1);
  }
  s0.assign(std::size_t(c), 0.0);
  s1.assign(std::size_t(c), 0.0);
  for (std::int64_t k = 0; k < chunks; ++k)
    for (std::int64_t ch = 0; ch < c; ++ch) s0[ch] += p0[k * c + ch], s1[ch] += p1[k * c + ch];
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
  if (c == 0) return;
  const std::size_t nc = std::size_t(c);
  std::vector<double> sum, unused, mean(nc), sq;
  channel_sums(m, c, [&](std::int64_t o, double* s, double*) {
    for (std::int64_t ch = 0; ch < c; ++ch) s[ch] += x[o + ch];
  }, sum, unused);
  for (std::int64_t ch = 0; ch < c; ++ch) mean[ch] = sum[ch] / double(m);
  channel_sums(m, c, [&](std::int64_t o, double* s, double*) {
    for (std::int64_t ch = 0; ch < c; ++ch) {
      const double d = x[o + ch] - mean[ch];
      s[ch] += d * d;
    }
  }, sq, unused);
  std::vector<float> fmean(nc), scale(nc);
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double var = sq[ch] / double(m);
    const double inv_std = 1.0 / std::sqrt(var + double(a.epsilon));
    save_mean[ch] = fmean[ch] = float(mean[ch]);
    save_inv_std[ch] = float(inv_std);
    scale[ch] = float(double(gamma[ch]) * inv_std);
    if (moving_mean) {
      const double mom = a.momentum;
      const double var_unbiased = m > 1 ? var * double(m) / double(m - 1) : var;
      moving_mean[ch] = float(mom * moving_mean[ch] + (1.0 - mom) * mean[ch]);
      moving_var[ch] = float(mom * moving_var[ch] + (1.0 - mom) * var_unbiased);
    }
  }
#pragma omp parallel for schedule(static) if (m * c > 32768)
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t ch = 0; ch < c; ++ch)
      y[i * c + ch] = (x[i * c + ch] - fmean[ch]) * scale[ch] + beta[ch];
}

void batchnorm_forward_inference(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                 const float* moving_mean, const float* moving_var, float* y, stream_t) {
  check_args(a, "batchnorm_forward_inference", false);
  const std::int64_t m = a.m(), c = a.c;
  const std::size_t nc = std::size_t(c);
  std::vector<float> scale(nc);
  for (std::int64_t ch = 0; ch < c; ++ch)
    scale[ch] = float(double(gamma[ch]) / std::sqrt(double(moving_var[ch]) + double(a.epsilon)));
#pragma omp parallel for schedule(static) if (m * c > 32768)
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t ch = 0; ch < c; ++ch)
      y[i * c + ch] = (x[i * c + ch] - moving_mean[ch]) * scale[ch] + beta[ch];
}

void batchnorm_backward(const BatchNormArgs& a, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_inv_std, float* dx, float* dgamma,
                        float* dbeta, Workspace, stream_t) {
  check_args(a, "batchnorm_backward", true);
  const std::int64_t m = a.m(), c = a.c;
  if (c == 0) return;
  const std::size_t nc = std::size_t(c);
  std::vector<double> sum_dy, sum_dy_xc;  // sum dy, sum dy * (x - mean)
  channel_sums(m, c, [&](std::int64_t o, double* s0, double* s1) {
    for (std::int64_t ch = 0; ch < c; ++ch) {
      const double g = dy[o + ch];
      s0[ch] += g;
      s1[ch] += g * (double(x[o + ch]) - save_mean[ch]);
    }
  }, sum_dy, sum_dy_xc);
  // dx = k * (dy - sum_dy / m - (x - mean) * e), k = gamma * inv_std, e = inv_std * dgamma / m.
  std::vector<float> k(nc), b(nc), e(nc);
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double inv_std = save_inv_std[ch];
    const double dg = sum_dy_xc[ch] * inv_std;
    dbeta[ch] = float(sum_dy[ch]);
    dgamma[ch] = float(dg);
    k[ch] = float(double(gamma[ch]) * inv_std);
    b[ch] = float(sum_dy[ch] / double(m));
    e[ch] = float(inv_std * dg / double(m));
  }
#pragma omp parallel for schedule(static) if (m * c > 32768)
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t ch = 0; ch < c; ++ch)
      dx[i * c + ch] = k[ch] * (dy[i * c + ch] - b[ch] - (x[i * c + ch] - save_mean[ch]) * e[ch]);
}

}  // namespace lc::cpu

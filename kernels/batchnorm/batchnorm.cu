// Batch normalization CUDA kernels (contract: batchnorm.h). Depends on: kernels/simt/simt.h.
//
// Training forward = 3 launches, backward = 3 launches, inference = 1, all on the caller's stream:
//   1. batchnorm_reduce_kernel<Grad>: per-channel partial sums of one chunk of rows per block,
//      grid (row chunks, channel tiles). A warp reads rw = 32/ct consecutive rows of ct channels
//      (ct = the next power of two >= min(c, 32), so c = 3 reads 8 rows x 3 contiguous floats and
//      c = 128 reads 32 channels of one row across 4 channel tiles: coalesced either way). Each
//      thread sums its strided rows in float (a handful of values), then the warp reduces in
//      double with __shfl_down_sync over the lanes of the same channel, then one thread per
//      channel adds the 8 warps' values from shared memory in warp order and writes the block's
//      partial to the workspace: partials[block][channel][2].
//        stats (Grad = false): sum (x - K) and sum (x - K)^2, K = x[row 0][ch] (a shift that
//          keeps the one-pass variance free of cancellation: K is a sample of the channel).
//        grad  (Grad = true):  sum dy and sum dy * (x - save_mean).
//   2. a finalize kernel, one warp per channel: sums the blocks' partials in double (lane-strided,
//      then a fixed __shfl_xor_sync tree) and derives the per-channel results (mean, inv_std,
//      moving statistics; or dgamma, dbeta).
//   3. an elementwise kernel: each block first puts the per-channel coefficients in shared memory,
//      then a grid-stride loop over the elements (the channel index is carried along the loop).
// No atomics; the partition into blocks depends only on (m, c), so every sum has a fixed order
// and results are bitwise reproducible run after run.
#include "kernels/simt/simt.h"
#include "kernels/batchnorm/batchnorm.h"

namespace lc::LC_KERNEL_NS {

constexpr int kBnWarps = 8;
constexpr int kBnThreads = 32 * kBnWarps;
constexpr int kBnMaxRowBlocks = 512;  // bounds the workspace and the finalize loop
constexpr int kBnMaxChannels = 2048;  // 4 coefficient arrays of c floats in shared memory (32 KiB)

// How the rows and channels are split over the reduction grid (computed on the host).
struct BnPlan {
  int ct;                       // channels per warp row: power of two, <= 32
  int rw;                       // rows per warp per step: 32 / ct
  int tiles;                    // channel tiles: ceil(c / ct) = gridDim.y
  int blocks;                   // row chunks = gridDim.x
  std::int64_t rows_per_block;  // rows per chunk (a multiple of kBnWarps * rw)
};

template <bool Grad>
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_reduce_kernel(std::int64_t m, int c, BnPlan p, const float* __restrict__ x,
                            const float* __restrict__ dy, const float* __restrict__ mean,
                            double* __restrict__ partials) {
  __shared__ double s_sum0[kBnWarps][32];
  __shared__ double s_sum1[kBnWarps][32];
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  const int ch = int(blockIdx.y) * p.ct + (lane & (p.ct - 1));
  float acc0 = 0.f, acc1 = 0.f;
  if (ch < c) {
    const float shift = Grad ? mean[ch] : x[ch];
    const std::int64_t begin = std::int64_t(blockIdx.x) * p.rows_per_block;
    const std::int64_t end = begin + p.rows_per_block < m ? begin + p.rows_per_block : m;
    const std::int64_t step = std::int64_t(kBnWarps) * p.rw;
    for (std::int64_t row = begin + warp * p.rw + lane / p.ct; row < end; row += step) {
      const float d = x[row * c + ch] - shift;
      if constexpr (Grad) {
        const float g = dy[row * c + ch];
        acc0 += g;
        acc1 += g * d;
      } else {
        acc0 += d;
        acc1 += d * d;
      }
    }
  }
  // Lanes l, l + ct, l + 2ct, ... hold the same channel: fold them onto lanes 0..ct-1.
  double t0 = acc0, t1 = acc1;
  for (int off = 16; off >= p.ct; off >>= 1) {
    t0 += __shfl_down_sync(0xffffffffu, t0, off);
    t1 += __shfl_down_sync(0xffffffffu, t1, off);
  }
  if (lane < p.ct) {
    s_sum0[warp][lane] = t0;
    s_sum1[warp][lane] = t1;
  }
  __syncthreads();
  const int t = int(threadIdx.x);
  if (t < p.ct && int(blockIdx.y) * p.ct + t < c) {
    double u0 = 0.0, u1 = 0.0;
    for (int w = 0; w < kBnWarps; ++w) {
      u0 += s_sum0[w][t];
      u1 += s_sum1[w][t];
    }
    double* out = partials + (std::int64_t(blockIdx.x) * c + int(blockIdx.y) * p.ct + t) * 2;
    out[0] = u0;
    out[1] = u1;
  }
}

// Sums channel ch's partials over the row blocks (one warp per channel, fixed order); the
// result is valid in lane 0.
__device__ __forceinline__ void batchnorm_sum_partials(const double* partials, int c, int blocks, int ch,
                                                       double& s0, double& s1) {
  const int lane = int(threadIdx.x) & 31;
  s0 = 0.0, s1 = 0.0;
  for (int b = lane; b < blocks; b += 32) {
    s0 += partials[(std::int64_t(b) * c + ch) * 2];
    s1 += partials[(std::int64_t(b) * c + ch) * 2 + 1];
  }
  for (int off = 16; off > 0; off >>= 1) {
    s0 += __shfl_xor_sync(0xffffffffu, s0, off);
    s1 += __shfl_xor_sync(0xffffffffu, s1, off);
  }
}

__global__ void __launch_bounds__(kBnThreads)
    batchnorm_stats_finalize_kernel(std::int64_t m, int c, int blocks, const double* __restrict__ partials,
                                    const float* __restrict__ x, float eps, float momentum,
                                    float* __restrict__ save_mean, float* __restrict__ save_inv_std,
                                    float* __restrict__ moving_mean, float* __restrict__ moving_var) {
  const int ch = int(blockIdx.x) * kBnWarps + (int(threadIdx.x) >> 5);
  if (ch >= c) return;  // the whole warp: ch is the same for its 32 lanes
  double s0, s1;
  batchnorm_sum_partials(partials, c, blocks, ch, s0, s1);
  if ((threadIdx.x & 31) != 0) return;
  const double md = double(m);
  const double dmean = s0 / md;                  // mean - K
  double var = s1 / md - dmean * dmean;          // biased
  if (var < 0.0) var = 0.0;
  const double mean = double(x[ch]) + dmean;
  const double inv_std = 1.0 / sqrt(var + double(eps));
  save_mean[ch] = float(mean);
  save_inv_std[ch] = float(inv_std);
  if (moving_mean) {
    const double mom = momentum;
    const double var_unbiased = m > 1 ? var * md / double(m - 1) : var;
    moving_mean[ch] = float(mom * double(moving_mean[ch]) + (1.0 - mom) * mean);
    moving_var[ch] = float(mom * double(moving_var[ch]) + (1.0 - mom) * var_unbiased);
  }
}

__global__ void __launch_bounds__(kBnThreads)
    batchnorm_grad_finalize_kernel(int c, int blocks, const double* __restrict__ partials,
                                   const float* __restrict__ save_inv_std, float* __restrict__ dgamma,
                                   float* __restrict__ dbeta) {
  const int ch = int(blockIdx.x) * kBnWarps + (int(threadIdx.x) >> 5);
  if (ch >= c) return;
  double s0, s1;
  batchnorm_sum_partials(partials, c, blocks, ch, s0, s1);
  if ((threadIdx.x & 31) != 0) return;
  dbeta[ch] = float(s0);
  dgamma[ch] = float(s1 * double(save_inv_std[ch]));
}

// Grid-stride loop over the `total` elements of a [..., c] tensor: f(i, channel of i), the channel
// advanced incrementally (no division per element).
template <class F>
__device__ __forceinline__ void for_each_element(std::int64_t total, int c, F f) {
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int ch = int(i % c);
  const int ch_step = int(stride % c);
  for (; i < total; i += stride) {
    f(i, ch);
    ch += ch_step;
    if (ch >= c) ch -= c;
  }
}

// y = (x - mean) * scale + beta, scale = gamma * inv_std (training: inv_std given) or
// gamma / sqrt(var + eps) (inference: inv_std == nullptr, var given).
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_fwd_apply_kernel(std::int64_t total, int c, const float* __restrict__ x,
                               const float* __restrict__ mean, const float* __restrict__ gamma,
                               const float* __restrict__ inv_std, const float* __restrict__ var, float eps,
                               const float* __restrict__ beta, float* __restrict__ y) {
  float* s = simt::dynamic_shared<float>();  // [mean | scale | beta], c each
  for (int i = int(threadIdx.x); i < c; i += int(blockDim.x)) {
    const float is = inv_std ? inv_std[i] : 1.0f / sqrtf(var[i] + eps);
    s[i] = mean[i];
    s[c + i] = gamma[i] * is;
    s[2 * c + i] = beta[i];
  }
  __syncthreads();
  for_each_element(total, c, [&](std::int64_t i, int ch) { y[i] = (x[i] - s[ch]) * s[c + ch] + s[2 * c + ch]; });
}

// dx = k * (dy - b - (x - mean) * e), k = gamma * inv_std, b = dbeta / m, e = inv_std * dgamma / m.
__global__ void __launch_bounds__(kBnThreads)
    batchnorm_bwd_apply_kernel(std::int64_t total, int c, std::int64_t m, const float* __restrict__ x,
                               const float* __restrict__ dy, const float* __restrict__ gamma,
                               const float* __restrict__ mean, const float* __restrict__ inv_std,
                               const float* __restrict__ dgamma, const float* __restrict__ dbeta,
                               float* __restrict__ dx) {
  float* s = simt::dynamic_shared<float>();  // [mean | k | b | e], c each
  for (int i = int(threadIdx.x); i < c; i += int(blockDim.x)) {
    const double is = inv_std[i];
    s[i] = mean[i];
    s[c + i] = float(double(gamma[i]) * is);
    s[2 * c + i] = float(double(dbeta[i]) / double(m));
    s[3 * c + i] = float(is * double(dgamma[i]) / double(m));
  }
  __syncthreads();
  for_each_element(total, c, [&](std::int64_t i, int ch) {
    dx[i] = s[c + ch] * (dy[i] - s[2 * c + ch] - (x[i] - s[ch]) * s[3 * c + ch]);
  });
}

namespace {

void check_args(const BatchNormArgs& a, const char* who, bool training) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
  LC_CHECK(a.epsilon > 0.f, who, ": epsilon must be > 0, got ", a.epsilon);
  LC_CHECK(a.momentum >= 0.f && a.momentum <= 1.f, who, ": momentum must be in [0, 1], got ", a.momentum);
  LC_CHECK(a.c <= kBnMaxChannels, who, ": at most ", kBnMaxChannels, " channels on this backend, got ", a.c);
  if (training) LC_CHECK(a.m() >= 1 || a.c == 0, who, ": training needs n*h*w >= 1");
}

BnPlan plan_for(const BatchNormArgs& a) {
  BnPlan p{};
  int ct = 1;
  while (ct < a.c && ct < 32) ct *= 2;
  p.ct = ct;
  p.rw = 32 / ct;
  p.tiles = (a.c + ct - 1) / ct;
  const std::int64_t m = a.m() > 0 ? a.m() : 1;
  const std::int64_t rows_per_step = std::int64_t(kBnWarps) * p.rw;
  const std::int64_t min_rows = rows_per_step * 8;  // at least 8 rows per thread
  std::int64_t blocks = (m + min_rows - 1) / min_rows;
  if (blocks > kBnMaxRowBlocks) blocks = kBnMaxRowBlocks;
  std::int64_t rows = (m + blocks - 1) / blocks;
  rows = (rows + rows_per_step - 1) / rows_per_step * rows_per_step;
  p.rows_per_block = rows;
  p.blocks = int((m + rows - 1) / rows);
  return p;
}

double* partials_of(const BatchNormArgs& a, const Workspace& ws, const char* who) {
  const std::size_t need = batchnorm_workspace_bytes(a);
  LC_CHECK(ws.bytes >= need && ws.ptr != nullptr, who, ": workspace of ", need, " bytes needed, got ", ws.bytes);
  LC_CHECK(reinterpret_cast<std::uintptr_t>(ws.ptr) % alignof(double) == 0, who,
           ": workspace must be 8-byte aligned");
  return static_cast<double*>(ws.ptr);
}

unsigned apply_grid(std::int64_t total) {
  const std::int64_t blocks = (total + kBnThreads - 1) / kBnThreads;
  return unsigned(blocks < 1024 ? blocks : 1024);
}

unsigned finalize_grid(int c) { return unsigned((c + kBnWarps - 1) / kBnWarps); }

}  // namespace

std::size_t batchnorm_workspace_bytes(const BatchNormArgs& a) {
  if (a.c <= 0 || a.m() <= 0) return 0;
  const BnPlan p = plan_for(a);
  return std::size_t(p.blocks) * std::size_t(a.c) * 2 * sizeof(double);
}

void batchnorm_forward_training(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                float* y, float* moving_mean, float* moving_var, float* save_mean,
                                float* save_inv_std, Workspace ws, stream_t stream) {
  const char* who = "batchnorm_forward_training";
  check_args(a, who, true);
  LC_CHECK((moving_mean == nullptr) == (moving_var == nullptr), who,
           ": moving_mean and moving_var must both be given or both be null");
  if (a.c == 0) return;
  const BnPlan p = plan_for(a);
  double* partials = partials_of(a, ws, who);
  const std::int64_t m = a.m();
  simt::launch(batchnorm_reduce_kernel<false>, dim3(unsigned(p.blocks), unsigned(p.tiles)), dim3(kBnThreads), 0,
               stream, m, a.c, p, x, nullptr, nullptr, partials);
  simt::launch(batchnorm_stats_finalize_kernel, dim3(finalize_grid(a.c)), dim3(kBnThreads), 0, stream, m, a.c,
               p.blocks, partials, x, a.epsilon, a.momentum, save_mean, save_inv_std, moving_mean, moving_var);
  simt::launch(batchnorm_fwd_apply_kernel, dim3(apply_grid(a.elements())), dim3(kBnThreads),
               3 * std::size_t(a.c) * sizeof(float), stream, a.elements(), a.c, x, save_mean, gamma, save_inv_std,
               nullptr, a.epsilon, beta, y);
}

void batchnorm_forward_inference(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                 const float* moving_mean, const float* moving_var, float* y, stream_t stream) {
  check_args(a, "batchnorm_forward_inference", false);
  if (a.elements() == 0) return;
  simt::launch(batchnorm_fwd_apply_kernel, dim3(apply_grid(a.elements())), dim3(kBnThreads),
               3 * std::size_t(a.c) * sizeof(float), stream, a.elements(), a.c, x, moving_mean, gamma, nullptr,
               moving_var, a.epsilon, beta, y);
}

void batchnorm_backward(const BatchNormArgs& a, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_inv_std, float* dx, float* dgamma, float* dbeta,
                        Workspace ws, stream_t stream) {
  const char* who = "batchnorm_backward";
  check_args(a, who, true);
  if (a.c == 0) return;
  const BnPlan p = plan_for(a);
  double* partials = partials_of(a, ws, who);
  const std::int64_t m = a.m();
  simt::launch(batchnorm_reduce_kernel<true>, dim3(unsigned(p.blocks), unsigned(p.tiles)), dim3(kBnThreads), 0,
               stream, m, a.c, p, x, dy, save_mean, partials);
  simt::launch(batchnorm_grad_finalize_kernel, dim3(finalize_grid(a.c)), dim3(kBnThreads), 0, stream, a.c,
               p.blocks, partials, save_inv_std, dgamma, dbeta);
  simt::launch(batchnorm_bwd_apply_kernel, dim3(apply_grid(a.elements())), dim3(kBnThreads),
               4 * std::size_t(a.c) * sizeof(float), stream, a.elements(), a.c, m, x, dy, gamma, save_mean,
               save_inv_std, dgamma, dbeta, dx);
}

}  // namespace lc::LC_KERNEL_NS

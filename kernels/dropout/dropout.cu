// Dropout CUDA kernels (contract: dropout.h). Flat elementwise kernels, grid-stride over groups
// of 4 elements: one Philox4x32-10 call gives the 4 mask words of a group. The step is read from
// device memory (so a captured graph sees each step's value); threshold and scale come from the
// contract's host/device helpers, computed once on the host per launch.
#include "kernels/simt/simt.h"
#include "kernels/dropout/dropout.h"

namespace lc::LC_KERNEL_NS {

// y[i] = keep(i) ? x[i] * scale : 0 (identity: y[i] = x[i]). Used for forward (x, y) and
// backward (dy, dx): the mask depends only on (seed, stream, step, i).
__global__ void dropout_apply_kernel(std::int64_t n, std::uint64_t seed, std::uint32_t stream, const std::int64_t* step,
                                     std::uint32_t threshold, float scale, int identity, const float* x, float* y) {
  const std::int64_t groups = (n + 3) / 4;
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  const std::int64_t s = identity ? 0 : *step;
  for (std::int64_t g = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const std::int64_t i0 = g * 4;
    const int cnt = n - i0 < 4 ? int(n - i0) : 4;
    if (identity) {
      for (int q = 0; q < cnt; ++q) y[i0 + q] = x[i0 + q];
      continue;
    }
    const Philox4x32 r = philox4x32_10(
        Philox4x32{{std::uint32_t(g), std::uint32_t(std::uint64_t(g) >> 32), std::uint32_t(std::uint64_t(s)), stream}},
        std::uint32_t(seed), std::uint32_t(seed >> 32));
    for (int q = 0; q < cnt; ++q) y[i0 + q] = r.v[q] >= threshold ? x[i0 + q] * scale : 0.f;
  }
}

namespace {

void launch_dropout(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y, stream_t stream,
                    const char* what) {
  LC_CHECK(a.n >= 0, what, ": negative size ", a.n);
  LC_CHECK(a.rate >= 0.f && a.rate < 1.f, what, ": rate must be in [0, 1), got ", a.rate);
  LC_CHECK(step || !a.training, what, ": step pointer is null");
  if (a.n == 0 || (!a.training && x == y)) return;
  const std::int64_t groups = (a.n + 3) / 4;
  const int threads = 256;
  const std::int64_t blocks = (groups + threads - 1) / threads;
  // At most 1024 blocks (1M elements per pass; 262144 threads fill an H100), grid-stride beyond.
  simt::launch_flat(dropout_apply_kernel, dim3(unsigned(blocks < 1024 ? blocks : 1024)), dim3(threads), 0, stream,
                    a.n, a.seed, a.stream, step, dropout_threshold(a.rate), dropout_scale(a.rate),
                    a.training ? 0 : 1, x, y);
}

}  // namespace

void dropout_forward(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y, stream_t stream) {
  launch_dropout(a, step, x, y, stream, "dropout_forward");
}

void dropout_backward(const DropoutArgs& a, const std::int64_t* step, const float* dy, float* dx, stream_t stream) {
  launch_dropout(a, step, dy, dx, stream, "dropout_backward");
}

}  // namespace lc::LC_KERNEL_NS

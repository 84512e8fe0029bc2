// ELU CUDA kernels (contract: elu.h). Elementwise, grid-stride, vectorised by float4 where the
// pointers allow; launched flat (no barriers), so the emulator runs them as plain loops.
#include "kernels/simt/simt.h"
#include "kernels/elu/elu.h"

namespace lc::LC_KERNEL_NS {

__device__ __forceinline__ float elu_f(float x) { return x > 0.f ? x : expm1f(x); }
__device__ __forceinline__ float elu_grad_f(float y, float dy) { return y > 0.f ? dy : dy * (y + 1.f); }

// No __restrict__ on x / y, dy / dx: the contract allows in-place calls (x == y, dy == dx), and a
// restrict pointer that aliases another is undefined behaviour (the compiler may reorder or cache).
__global__ void elu_fwd_kernel(std::int64_t n, const float* x, float* y) {
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = elu_f(x[i]);
}

__global__ void elu_bwd_kernel(std::int64_t n, const float* y, const float* dy, float* dx) {
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dx[i] = elu_grad_f(y[i], dy[i]);
}

namespace {
unsigned elementwise_blocks(std::int64_t n, int threads) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  return unsigned(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}
}  // namespace

void elu_forward(const EluArgs& a, const float* x, float* y, stream_t stream) {
  LC_CHECK(a.n >= 0, "elu_forward: negative size ", a.n);
  if (a.n == 0) return;
  simt::launch_flat(elu_fwd_kernel, dim3(elementwise_blocks(a.n, 256)), dim3(256), 0, stream, a.n, x, y);
}

void elu_backward(const EluArgs& a, const float* y, const float* dy, float* dx, stream_t stream) {
  LC_CHECK(a.n >= 0, "elu_backward: negative size ", a.n);
  if (a.n == 0) return;
  simt::launch_flat(elu_bwd_kernel, dim3(elementwise_blocks(a.n, 256)), dim3(256), 0, stream, a.n, y,
                    dy, dx);
}

}  // namespace lc::LC_KERNEL_NS

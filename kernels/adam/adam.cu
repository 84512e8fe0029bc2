// Adam CUDA kernel (contract: adam.h): one fused launch over the whole parameter arena. Thread 0
// of each block reads the step count from device memory and computes the bias-corrected step
// size lr_t for its block (shared memory); the block then updates its grid-stride share of
// elements. The LAST block to finish, found with a ticket from the device counter
// AdamState::blocks_done (the threadFenceReduction pattern: fence, atomicAdd, the holder of the
// last ticket fences again), stores step + 1 and resets the counter. No block reads the step
// after taking its ticket, so the store never races with a read; all arithmetic is per element:
// deterministic. Nothing comes from the host but the constants, so the launch can be captured in
// a CUDA graph and replayed.
#include "kernels/simt/simt.h"
#include "kernels/adam/adam.h"

namespace lc::LC_KERNEL_NS {

__global__ void adam_update_kernel(std::int64_t n, float lr, float beta1, float beta2, float epsilon,
                                   float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                   float* __restrict__ v, AdamState* state) {
  __shared__ float s_lr_t;
  std::int64_t t = 0;  // meaningful in thread 0
  if (threadIdx.x == 0) {
    t = state->step + 1;
    const double lr_t =
        double(lr) * sqrt(1.0 - pow(double(beta2), double(t))) / (1.0 - pow(double(beta1), double(t)));
    s_lr_t = float(lr_t);
  }
  __syncthreads();
  const float lr_t = s_lr_t;
  const float c1 = 1.f - beta1, c2 = 1.f - beta2;
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float gi = g[i];
    float mi = m[i], vi = v[i];
    mi += (gi - mi) * c1;
    vi += (gi * gi - vi) * c2;
    p[i] -= lr_t * mi / (sqrtf(vi) + epsilon);
    m[i] = mi;
    v[i] = vi;
  }
  if (threadIdx.x == 0) {
    __threadfence();  // this block's read of state->step is complete before its ticket
    const unsigned ticket = atomicAdd(&state->blocks_done, 1u);
    if (ticket == gridDim.x - 1) {
      __threadfence();  // every other block's read happened before this store
      state->step = t;
      state->blocks_done = 0;
    }
  }
}

void adam_update(const AdamArgs& a, float* params, const float* grads, float* m, float* v, AdamState* state,
                 stream_t stream) {
  LC_CHECK(a.n > 0, "adam_update: no parameters (n=", a.n, ")");
  LC_CHECK(state, "adam_update: state pointer is null");
  LC_CHECK(a.beta1 >= 0.f && a.beta1 < 1.f && a.beta2 >= 0.f && a.beta2 < 1.f && a.epsilon >= 0.f,
           "adam_update: bad hyperparameters beta1=", a.beta1, " beta2=", a.beta2, " epsilon=", a.epsilon);
  const int threads = 256;
  const std::int64_t blocks = (a.n + threads - 1) / threads;
  simt::launch(adam_update_kernel, dim3(unsigned(blocks < 512 ? blocks : 512)), dim3(threads), 0, stream, a.n, a.lr,
               a.beta1, a.beta2, a.epsilon, params, grads, m, v, state);
}

}  // namespace lc::LC_KERNEL_NS

// Adam, the contract: Keras' Adam (tf.keras.optimizers.Adam in TF2 / Keras 2, the legacy
// optimizer_v2 and its ResourceApplyAdam kernel, and Keras 3 alike), whose epsilon is the paper's
// "epsilon hat" (Kingma & Ba, the formula just before section 2.1), i.e. added to the
// UNcorrected sqrt(v):
//     t     = state.step + 1                          (state.step: steps completed; Keras `iterations`)
//     lr_t  = lr * sqrt(1 - beta2^t) / (1 - beta1^t)  (computed in double, rounded to float once)
//     m    += (g - m) * (1 - beta1)                   (= beta1 m + (1 - beta1) g; Keras' form)
//     v    += (g*g - v) * (1 - beta2)                 (= beta2 v + (1 - beta2) g^2)
//     p    -= lr_t * m / (sqrt(v) + epsilon)
//     state.step = t
// docs/MODEL.md: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7 (the defaults below). No weight decay,
// no amsgrad, no gradient clipping.
//
// ONE call updates ALL trainable parameters: params, grads, m, v are each one contiguous buffer of
// n floats (the runtime lays every parameter out in one arena, in the same order in all four).
// m and v start at 0 and state at all-zero bytes. The step count lives in DEVICE memory
// (AdamState, on the op's device) and the call reads and advances it there, so the bias
// correction is never a host argument: a CUDA graph that captured adam_update replays correctly
// step after step (lr and betas are constants of the capture). Dropout reads the same
// AdamState::step as its per-step key (kernels/dropout/dropout.h).
// Deterministic: elementwise, no reductions.
//
// Implementations: ref = double arithmetic, rounded to float when stored; cpu = OpenMP loop in
// float; sim/cuda = one fused kernel (adam.cu): thread 0 of each block reads step and computes
// lr_t, and the last block to finish (ticket from a device counter) stores step + 1; cudnn = the
// cuda kernel (cuDNN has no optimizer).
// Depends on: kernels/common/impls.h.
#pragma once

#include <cstdint>

#include "kernels/common/impls.h"

namespace lc {

struct AdamArgs {
  std::int64_t n = 0;       // parameters (floats) in the arena
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-7f;
};

// Optimizer state in device memory; all-zero bytes = a fresh optimizer.
struct AdamState {
  std::int64_t step = 0;            // optimizer steps completed (checkpointed as Keras' `iterations`)
  std::uint32_t blocks_done = 0;    // cuda/sim kernel bookkeeping: 0 between calls; never touch
  std::uint32_t reserved = 0;
};

}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  void adam_update(const AdamArgs& a, float* params, const float* grads, float* m, float* v, AdamState* state,
                   stream_t stream);
)

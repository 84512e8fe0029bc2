// Batch normalization, per channel over the n*h*w positions of an NHWC float32 tensor: the
// contract (docs/MODEL.md: Keras BatchNormalization(axis=-1), epsilon 1e-3, momentum 0.99).
// Depends on: kernels/common/impls.h.
//
// x, y, dy, dx: n x h x w x c. gamma, beta, moving_mean, moving_var, save_mean, save_inv_std,
// dgamma, dbeta: [c]. m = n*h*w, the number of values each channel's statistics are taken over.
//
// Training forward (batch statistics), per channel:
//   mean    = (1/m) sum x
//   var     = (1/m) sum (x - mean)^2                 biased: this normalizes
//   inv_std = 1 / sqrt(var + epsilon)                epsilon INSIDE the square root
//   y       = gamma * (x - mean) * inv_std + beta
//   save_mean = mean, save_inv_std = inv_std         (for the backward; cuDNN's "saved inverse
//                                                     variance" is exactly this inv_std)
//   moving_mean = momentum * moving_mean + (1 - momentum) * mean
//   moving_var  = momentum * moving_var  + (1 - momentum) * var_unbiased,
//                 var_unbiased = var * m / (m - 1)   (var itself when m = 1)
//   The unbiased variance in the moving average is what TensorFlow's fused batch norm (which
//   Keras uses on 4-d inputs), cuDNN and PyTorch do; normalization uses the biased one.
//   moving_mean and moving_var are updated in place; pass both as nullptr to skip the update.
//   Requires m >= 1.
// Inference forward (moving statistics):
//   y = gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta. Any m >= 0.
// Backward (training mode; the statistics depend on x), with xhat = (x - save_mean) * save_inv_std:
//   dbeta  = sum dy
//   dgamma = sum dy * xhat
//   dx     = gamma * save_inv_std / m * (m * dy - dbeta - xhat * dgamma)
//   dgamma and dbeta are written, not accumulated. Reads x, dy, gamma, save_mean, save_inv_std
//   (every implementation, cuDNN included). Requires m >= 1.
//
// Every implementation reads and writes exactly the pointers above; outputs never alias inputs.
// Workspace: the sim and cuda implementations need batchnorm_workspace_bytes(a) bytes of scratch
// on the device (per-block partial sums, a few KiB), aligned to 8 bytes, for the training
// forward and the backward; the others need 0 (ws may then be empty). The value depends only on
// the args, so a caller can allocate it once per layer.
// Determinism: on a given backend and device, the same inputs give bitwise the same outputs on
// every run: no atomics; every sum has a fixed order that depends only on the shape.
// Limits: epsilon > 0 (and >= CUDNN_BN_MIN_EPSILON on cudnn), 0 <= momentum <= 1; on sim and
// cuda c <= 2048 (per-channel coefficients live in shared memory); on cudnn n*h*w*c < 2^31.
// The cudnn backend runs cudnnBatchNormalization{ForwardTraining,ForwardInference,Backward}
// (CUDNN_BATCHNORM_SPATIAL, NHWC descriptors, exponentialAverageFactor = 1 - momentum), except a
// training forward with m = 1, where cuDNN's m / (m - 1) is undefined: that one runs the cuda
// kernels (and needs their workspace, which batchnorm_workspace_bytes reports).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/impls.h"

namespace lc {
struct BatchNormArgs {
  int n = 0, h = 0, w = 0, c = 0;  // x shape, NHWC
  float epsilon = 1e-3f;           // Keras default
  float momentum = 0.99f;          // Keras default: moving = momentum * moving + (1 - momentum) * batch
  std::int64_t m() const { return std::int64_t(n) * h * w; }
  std::int64_t elements() const { return m() * c; }
};
}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  std::size_t batchnorm_workspace_bytes(const BatchNormArgs& a);
  void batchnorm_forward_training(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                  float* y, float* moving_mean, float* moving_var, float* save_mean,
                                  float* save_inv_std, Workspace ws, stream_t stream);
  void batchnorm_forward_inference(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                   const float* moving_mean, const float* moving_var, float* y, stream_t stream);
  void batchnorm_backward(const BatchNormArgs& a, const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_inv_std, float* dx, float* dgamma,
                          float* dbeta, Workspace ws, stream_t stream);
)

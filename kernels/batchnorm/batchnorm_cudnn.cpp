// Batch normalization on the cudnn backend (contract: batchnorm.h): cudnnBatchNormalization
// ForwardTraining / ForwardInference / Backward, CUDNN_BATCHNORM_SPATIAL (per channel over
// N*H*W), NHWC descriptors, the [c] parameter descriptor derived by cudnnDeriveBNTensorDescriptor.
// What cuDNN computes, and why it matches the contract:
//   - normalization uses the biased batch variance, epsilon inside the square root;
//   - resultRunningVariance is averaged with the UNBIASED batch variance (m / (m - 1)), like
//     TensorFlow's fused kernel and PyTorch; for m = 1 that factor is undefined, so a training
//     forward with m = 1 runs the cuda kernels instead (documented in batchnorm.h);
//   - running = factor * batch + (1 - factor) * running, so factor = 1 - momentum;
//   - resultSaveInvVariance is 1 / sqrt(var + epsilon), i.e. the contract's inv_std, and the
//     backward takes it (with the saved mean) back, with the same epsilon;
//   - epsilon must be >= CUDNN_BN_MIN_EPSILON (0.0 in cuDNN 9, 1e-5 in older releases).
// Depends on: kernels/common/cudnn_context.h, the cuda implementation (m = 1 case).
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/common/cudnn_context.h"

namespace lc::cudnn {
namespace {

void check_args(const BatchNormArgs& a, const char* who, bool training) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
  LC_CHECK(a.epsilon > 0.f && double(a.epsilon) >= CUDNN_BN_MIN_EPSILON, who,
           " (cudnn): epsilon must be > 0 and >= CUDNN_BN_MIN_EPSILON (", CUDNN_BN_MIN_EPSILON, "), got ",
           a.epsilon);
  LC_CHECK(a.momentum >= 0.f && a.momentum <= 1.f, who, ": momentum must be in [0, 1], got ", a.momentum);
  LC_CHECK(a.elements() <= INT32_MAX, who, " (cudnn): tensor too large for a 4-d cuDNN descriptor: ",
           a.elements(), " elements");
  if (training) LC_CHECK(a.m() >= 1 || a.c == 0, who, ": training needs n*h*w >= 1");
}

// The x/y descriptor and the derived 1 x c x 1 x 1 parameter descriptor.
struct BnDescs {
  TensorDesc x, param;
  explicit BnDescs(const BatchNormArgs& a) {
    x.set_nhwc(a.n, a.h, a.w, a.c);
    LC_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(param.d, x.d, CUDNN_BATCHNORM_SPATIAL));
  }
};

}  // namespace

std::size_t batchnorm_workspace_bytes(const BatchNormArgs& a) {
  return a.m() == 1 ? lc::cuda::batchnorm_workspace_bytes(a) : 0;
}

void batchnorm_forward_training(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                float* y, float* moving_mean, float* moving_var, float* save_mean,
                                float* save_inv_std, Workspace ws, stream_t stream) {
  check_args(a, "batchnorm_forward_training", true);
  LC_CHECK((moving_mean == nullptr) == (moving_var == nullptr),
           "batchnorm_forward_training: moving_mean and moving_var must both be given or both be null");
  if (a.c == 0) return;
  if (a.m() == 1) {
    lc::cuda::batchnorm_forward_training(a, x, gamma, beta, y, moving_mean, moving_var, save_mean, save_inv_std,
                                         ws, stream);
    return;
  }
  BnDescs d(a);
  const float one = 1.f, zero = 0.f;
  LC_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      handle(stream), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.x.d, x, d.x.d, y, d.param.d, gamma, beta,
      1.0 - double(a.momentum), moving_mean, moving_var, double(a.epsilon), save_mean, save_inv_std));
}

void batchnorm_forward_inference(const BatchNormArgs& a, const float* x, const float* gamma, const float* beta,
                                 const float* moving_mean, const float* moving_var, float* y, stream_t stream) {
  check_args(a, "batchnorm_forward_inference", false);
  if (a.elements() == 0) return;
  BnDescs d(a);
  const float one = 1.f, zero = 0.f;
  LC_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(handle(stream), CUDNN_BATCHNORM_SPATIAL, &one, &zero,
                                                         d.x.d, x, d.x.d, y, d.param.d, gamma, beta, moving_mean,
                                                         moving_var, double(a.epsilon)));
}

void batchnorm_backward(const BatchNormArgs& a, const float* x, const float* dy, const float* gamma,
                        const float* save_mean, const float* save_inv_std, float* dx, float* dgamma, float* dbeta,
                        Workspace, stream_t stream) {
  check_args(a, "batchnorm_backward", true);
  if (a.c == 0) return;
  BnDescs d(a);
  const float one = 1.f, zero = 0.f;
  LC_CUDNN_CHECK(cudnnBatchNormalizationBackward(handle(stream), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero,
                                                 d.x.d, x, d.x.d, dy, d.x.d, dx, d.param.d, gamma, dgamma, dbeta,
                                                 double(a.epsilon), save_mean, save_inv_std));
}

}  // namespace lc::cudnn

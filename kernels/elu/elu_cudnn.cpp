// ELU on the cudnn backend (contract: elu.h). Forward is cudnnActivationForward (CUDNN_ACTIVATION_ELU,
// coef 1, CUDNN_PROPAGATE_NAN: the contract says NaN in gives NaN out, and the arena's NaN
// poisoning relies on it). Backward uses the custom kernel: cudnnActivationBackward wants the
// forward input x, which this contract does not keep (backward reads y so that the forward can
// run in place).
#include "kernels/common/cudnn_context.h"
#include "kernels/elu/elu.h"

namespace lc::cudnn {

void elu_forward(const EluArgs& a, const float* x, float* y, stream_t stream) {
  LC_CHECK(a.n >= 0 && a.n <= INT32_MAX, "elu_forward (cudnn): size out of range ", a.n);
  if (a.n == 0) return;
  cudnnActivationDescriptor_t act;
  LC_CUDNN_CHECK(cudnnCreateActivationDescriptor(&act));
  TensorDesc desc;
  desc.set_nhwc(1, 1, 1, int(a.n));
  const float one = 1.f, zero = 0.f;
  cudnnStatus_t st = cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_ELU, CUDNN_PROPAGATE_NAN, 1.0);
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnActivationForward(handle(stream), act, &one, desc.d, x, &zero, desc.d, y);
  cudnnDestroyActivationDescriptor(act);
  LC_CUDNN_CHECK(st);
}

void elu_backward(const EluArgs& a, const float* y, const float* dy, float* dx, stream_t stream) {
  lc::cuda::elu_backward(a, y, dy, dx, stream);
}

}  // namespace lc::cudnn

// Max-pool 2x2 / 2 on the cudnn backend (contract: maxpool.h): cudnnPoolingForward / Backward
// with CUDNN_POOLING_MAX_DETERMINISTIC and CUDNN_PROPAGATE_NAN on NHWC descriptors, window 2x2,
// no padding, stride 2 (cuDNN's output size 1 + (h - 2) / 2 = floor(h / 2), as the contract says).
// cuDNN has no argmax: the forward refuses one, the backward reads x and y instead.
// Depends on: kernels/common/cudnn_context.h, the CUDA runtime (cudaMemsetAsync).
#include <cuda_runtime.h>

#include "kernels/common/cudnn_context.h"
#include "kernels/maxpool/maxpool.h"

namespace lc::cudnn {
namespace {

void check_args(const MaxPoolArgs& a, const char* who) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
  LC_CHECK(a.in_elements() <= INT32_MAX, who, " (cudnn): tensor too large for a 4-d cuDNN descriptor: ",
           a.in_elements(), " elements");
}

struct PoolingDesc {
  cudnnPoolingDescriptor_t d = nullptr;
  PoolingDesc() {
    LC_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d));
    const cudnnStatus_t st =
        cudnnSetPooling2dDescriptor(d, CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_PROPAGATE_NAN, 2, 2, 0, 0, 2, 2);
    if (st != CUDNN_STATUS_SUCCESS) cudnnDestroyPoolingDescriptor(d);
    LC_CUDNN_CHECK(st);
  }
  ~PoolingDesc() { cudnnDestroyPoolingDescriptor(d); }
  PoolingDesc(const PoolingDesc&) = delete;
  PoolingDesc& operator=(const PoolingDesc&) = delete;
};

}  // namespace

void maxpool_forward(const MaxPoolArgs& a, const float* x, float* y, std::uint8_t* argmax, stream_t stream) {
  check_args(a, "maxpool_forward");
  LC_CHECK(argmax == nullptr,
           "maxpool_forward (cudnn): cuDNN pooling has no argmax output; pass argmax = nullptr (the cudnn "
           "backward reads x and y)");
  if (a.out_elements() == 0) return;
  PoolingDesc pool;
  TensorDesc xd, yd;
  xd.set_nhwc(a.n, a.h, a.w, a.c);
  yd.set_nhwc(a.n, a.out_h(), a.out_w(), a.c);
  const float one = 1.f, zero = 0.f;
  LC_CUDNN_CHECK(cudnnPoolingForward(handle(stream), pool.d, &one, xd.d, x, &zero, yd.d, y));
}

void maxpool_backward(const MaxPoolArgs& a, const float* x, const float* y, const std::uint8_t* argmax,
                      const float* dy, float* dx, stream_t stream) {
  check_args(a, "maxpool_backward");
  LC_CHECK(argmax == nullptr, "maxpool_backward (cudnn): the cudnn backend has no argmax; pass nullptr");
  if (a.in_elements() == 0) return;
  if (a.out_elements() == 0) {  // nothing pooled: dx is all zeros (no cuDNN call on empty tensors)
    LC_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * std::size_t(a.in_elements()), stream));
    return;
  }
  LC_CHECK(x && y, "maxpool_backward (cudnn): cudnnPoolingBackward needs x and y");
  // An odd last row / column lies in no window; cuDNN's documentation does not say whether such
  // an element is written (as 0) or left alone with beta = 0, so zero dx first in that case
  // (never in the model, whose pooled sizes are even).
  if (a.h % 2 || a.w % 2)
    LC_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * std::size_t(a.in_elements()), stream));
  PoolingDesc pool;
  TensorDesc xd, yd;
  xd.set_nhwc(a.n, a.h, a.w, a.c);
  yd.set_nhwc(a.n, a.out_h(), a.out_w(), a.c);
  const float one = 1.f, zero = 0.f;
  LC_CUDNN_CHECK(cudnnPoolingBackward(handle(stream), pool.d, &one, yd.d, y, yd.d, dy, xd.d, x, &zero, xd.d, dx));
}

}  // namespace lc::cudnn

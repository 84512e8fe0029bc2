// Dropout on the cudnn backend (contract: dropout.h): the custom cuda kernel. cudnnDropoutForward
// draws its mask from its own generator state, so its masks could never match the other backends
// bit for bit, and its backward needs the stored reserve space this contract avoids.
#include "kernels/dropout/dropout.h"

namespace lc::cudnn {

void dropout_forward(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y, stream_t stream) {
  lc::cuda::dropout_forward(a, step, x, y, stream);
}

void dropout_backward(const DropoutArgs& a, const std::int64_t* step, const float* dy, float* dx, stream_t stream) {
  lc::cuda::dropout_backward(a, step, dy, dx, stream);
}

}  // namespace lc::cudnn

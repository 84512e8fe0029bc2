// Adam on the cudnn backend (contract: adam.h): the custom cuda kernel; cuDNN and cuBLAS have no
// optimizer.
#include "kernels/adam/adam.h"

namespace lc::cudnn {

void adam_update(const AdamArgs& a, float* params, const float* grads, float* m, float* v, AdamState* state,
                 stream_t stream) {
  lc::cuda::adam_update(a, params, grads, m, v, state, stream);
}

}  // namespace lc::cudnn

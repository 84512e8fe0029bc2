// Softmax cross-entropy on the cudnn backend (contract: softmax_ce.h). cuDNN has no
// cross-entropy: softmax_ce is the custom cuda kernel. softmax_predict's probabilities are
// cudnnSoftmaxForward (CUDNN_SOFTMAX_ACCURATE: max subtracted; MODE_INSTANCE over the classes of
// each row, the logits viewed as NHWC [n][1][1][classes]); its argmax is the cuda kernel, and so
// are in-place probabilities (probs == logits), which cuDNN does not document as supported.
#include <climits>

#include "kernels/common/cudnn_context.h"
#include "kernels/softmax_ce/softmax_ce.h"

namespace lc::cudnn {

void softmax_ce(const SoftmaxCeArgs& a, const float* logits, const std::int32_t* labels, float* loss, float* dlogits,
                std::int32_t* pred, SoftmaxCeTotals* totals, stream_t stream) {
  lc::cuda::softmax_ce(a, logits, labels, loss, dlogits, pred, totals, stream);
}

void softmax_predict(const SoftmaxCeArgs& a, const float* logits, float* probs, std::int32_t* pred, stream_t stream) {
  LC_CHECK(a.n >= 0 && a.n <= INT_MAX && a.classes > 0, "softmax_predict (cudnn): bad shape n=", a.n,
           " classes=", a.classes);
  if (a.n == 0) return;
  if (probs == logits) {
    lc::cuda::softmax_predict(a, logits, probs, pred, stream);
    return;
  }
  if (pred) lc::cuda::softmax_predict(a, logits, nullptr, pred, stream);
  if (probs) {
    TensorDesc d;
    d.set_nhwc(int(a.n), 1, 1, a.classes);
    const float one = 1.f, zero = 0.f;
    LC_CUDNN_CHECK(cudnnSoftmaxForward(handle(stream), CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.d,
                                       logits, &zero, d.d, probs));
  }
}

}  // namespace lc::cudnn

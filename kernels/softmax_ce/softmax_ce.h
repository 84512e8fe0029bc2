// Softmax + sparse categorical cross-entropy (Keras' loss on a softmax output, computed fused
// from the logits), accuracy, and the inference softmax. The contract.
//
// Training / validation: softmax_ce(a, logits [n][classes], labels [n] int32, ...):
//   per row r (z = logits[r], y = labels[r]):
//     mx = max_j z_j;  s = sum_j exp(z_j - mx)                   (stable: max subtracted)
//     loss_r = log(s) - (z_y - mx)                               (= logsumexp(z) - z_y)
//     pred_r = argmax_j z_j, ties -> the lowest index            (compares the float logits as given)
//     dlogits[r][j] = (exp(z_j - mx) / s - [j == y]) / n         (gradient of the batch MEAN loss)
//   outputs (each may be nullptr: not written):
//     loss     float[1]: the batch mean, sum_r loss_r / n (overwritten)
//     dlogits  [n][classes] (overwritten; may alias logits: computed in place)
//     pred     int32[n] (overwritten)
//     totals   SoftmaxCeTotals[1] in the op's device memory, ADDED TO:
//                loss_sum += sum_r loss_r (double), samples += n,
//                correct += #{r : pred_r == y_r}, invalid_labels += #{r : y_r outside [0, classes)}
//              so training and validation metrics accumulate on the device across steps with no
//              host round trip: zero the struct (all-zero bytes) at epoch start, read it at epoch
//              end: mean loss = loss_sum / samples (Keras' sample-weighted mean of batch losses),
//              accuracy = correct / samples.
//   Label out of range (y < 0 or y >= classes): the row's loss is 0, its dlogits row is 0, it is
//   not correct, and totals.invalid_labels counts it. The trainer checks invalid_labels == 0 when
//   it reads the totals (epoch end) and fails with an error otherwise; the data loader also
//   rejects such labels when it builds a data set. NaN or infinite logits give NaN loss/gradient
//   for their row; the predicted class of a row with NaN is then unspecified (but in range).
//   Deterministic: one block (n up to ~1e5 rows), rows assigned to warps by index, per-warp sums
//   in row order, the warps' sums added in warp order, all in double. No atomics.
//
// Inference: softmax_predict(a, logits, probs, pred): probs[r][j] = exp(z_j - mx) / s and/or
//   pred_r (as above); either may be nullptr. Many blocks (a warp per row): batches up to 16384+
//   rows. probs may alias logits.
//
// Implementations: ref = double loops; cpu = float loops, OpenMP over rows in inference;
// sim/cuda = warp-per-row kernels (softmax_ce.cu); cudnn = softmax_predict's probabilities by
// cudnnSoftmaxForward (ACCURATE, INSTANCE), argmax and the fused loss by the cuda kernels (cuDNN
// has no cross-entropy).
// Depends on: kernels/common/impls.h.
#pragma once

#include <cstdint>

#include "kernels/common/impls.h"

namespace lc {

struct SoftmaxCeArgs {
  std::int64_t n = 0;  // rows (batch)
  int classes = 0;     // columns
};

// Device-side running totals (see above). All-zero bytes = empty.
struct SoftmaxCeTotals {
  double loss_sum = 0;               // sum of per-sample losses
  std::int64_t samples = 0;          // rows seen
  std::int64_t correct = 0;          // rows with argmax == label
  std::int64_t invalid_labels = 0;   // rows whose label was outside [0, classes)
};

}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  void softmax_ce(const SoftmaxCeArgs& a, const float* logits, const std::int32_t* labels, float* loss,
                  float* dlogits, std::int32_t* pred, SoftmaxCeTotals* totals, stream_t stream);
  void softmax_predict(const SoftmaxCeArgs& a, const float* logits, float* probs, std::int32_t* pred,
                       stream_t stream);
)

// Softmax cross-entropy on the host for the cpu backend (contract: softmax_ce.h): float per row
// (like the kernels), the batch sums in double in row order; inference rows in parallel (OpenMP).
#include <cmath>

#include "kernels/softmax_ce/softmax_ce.h"

namespace lc::cpu {

namespace {
struct Row {
  float mx = 0, sum = 0;
  int arg = 0;
};
Row row_stats(const float* z, int classes) {
  Row s;
  s.mx = z[0];
  for (int j = 1; j < classes; ++j)
    if (z[j] > s.mx) s.mx = z[j], s.arg = j;
  for (int j = 0; j < classes; ++j) s.sum += std::exp(z[j] - s.mx);
  return s;
}
void check_args(const SoftmaxCeArgs& a, const char* what) {
  LC_CHECK(a.n >= 0 && a.classes > 0, what, ": bad shape n=", a.n, " classes=", a.classes);
}
}  // namespace

void softmax_ce(const SoftmaxCeArgs& a, const float* logits, const std::int32_t* labels, float* loss, float* dlogits,
                std::int32_t* pred, SoftmaxCeTotals* totals, stream_t) {
  check_args(a, "softmax_ce (cpu)");
  if (a.n == 0) return;
  const float inv_n = 1.f / float(a.n);
  double total = 0;
  std::int64_t correct = 0, invalid = 0;
  for (std::int64_t r = 0; r < a.n; ++r) {
    const float* z = logits + r * a.classes;
    const Row s = row_stats(z, a.classes);
    const int y = labels[r];
    const bool valid = y >= 0 && y < a.classes;
    if (valid) total += double(std::log(s.sum) - (z[y] - s.mx));
    if (pred) pred[r] = s.arg;
    correct += valid && s.arg == y;
    invalid += !valid;
    if (dlogits) {
      // Each element is read before it is written: dlogits may alias logits (z[y] used above).
      float* d = dlogits + r * a.classes;
      for (int j = 0; j < a.classes; ++j)
        d[j] = valid ? (std::exp(z[j] - s.mx) / s.sum - (j == y ? 1.f : 0.f)) * inv_n : 0.f;
    }
  }
  if (loss) *loss = float(total / double(a.n));
  if (totals) {
    totals->loss_sum += total;
    totals->samples += a.n;
    totals->correct += correct;
    totals->invalid_labels += invalid;
  }
}

void softmax_predict(const SoftmaxCeArgs& a, const float* logits, float* probs, std::int32_t* pred, stream_t) {
  check_args(a, "softmax_predict (cpu)");
#pragma omp parallel for if (a.n * a.classes > 16384) schedule(static)
  for (std::int64_t r = 0; r < a.n; ++r) {
    const float* z = logits + r * a.classes;
    const Row s = row_stats(z, a.classes);
    if (pred) pred[r] = s.arg;
    if (probs) {
      float* p = probs + r * a.classes;
      for (int j = 0; j < a.classes; ++j) p[j] = std::exp(z[j] - s.mx) / s.sum;
    }
  }
}

}  // namespace lc::cpu

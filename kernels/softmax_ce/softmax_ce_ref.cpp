// Softmax cross-entropy reference (contract: softmax_ce.h): every row in double, sums in row order.
#include <cmath>
#include <vector>

#include "kernels/softmax_ce/softmax_ce.h"

namespace lc::ref {

namespace {
struct Row {
  double mx = 0, sum = 0;
  int arg = 0;
};
Row row_stats(const float* z, int classes) {
  Row s;
  s.mx = z[0];
  for (int j = 1; j < classes; ++j)
    if (double(z[j]) > s.mx) s.mx = z[j], s.arg = j;
  for (int j = 0; j < classes; ++j) s.sum += std::exp(double(z[j]) - s.mx);
  return s;
}
}  // namespace

void softmax_ce(const SoftmaxCeArgs& a, const float* logits, const std::int32_t* labels, float* loss, float* dlogits,
                std::int32_t* pred, SoftmaxCeTotals* totals, stream_t) {
  LC_CHECK(a.n >= 0 && a.classes > 0, "softmax_ce (ref): bad shape");
  if (a.n == 0) return;
  double total = 0;
  std::int64_t correct = 0, invalid = 0;
  for (std::int64_t r = 0; r < a.n; ++r) {
    const float* z = logits + r * a.classes;
    const Row s = row_stats(z, a.classes);
    const int y = labels[r];
    const bool valid = y >= 0 && y < a.classes;
    if (valid) total += std::log(s.sum) - (double(z[y]) - s.mx);
    if (pred) pred[r] = s.arg;
    correct += valid && s.arg == y;
    invalid += !valid;
    if (dlogits) {
      // Computed into a temporary first: dlogits may alias logits.
      std::vector<double> d(a.classes, 0.0);
      if (valid)
        for (int j = 0; j < a.classes; ++j)
          d[j] = (std::exp(double(z[j]) - s.mx) / s.sum - (j == y ? 1.0 : 0.0)) / double(a.n);
      for (int j = 0; j < a.classes; ++j) dlogits[r * a.classes + j] = float(d[j]);
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
  LC_CHECK(a.n >= 0 && a.classes > 0, "softmax_predict (ref): bad shape");
  for (std::int64_t r = 0; r < a.n; ++r) {
    const float* z = logits + r * a.classes;
    const Row s = row_stats(z, a.classes);
    if (pred) pred[r] = s.arg;
    if (probs) {
      std::vector<double> p(a.classes);
      for (int j = 0; j < a.classes; ++j) p[j] = std::exp(double(z[j]) - s.mx) / s.sum;
      for (int j = 0; j < a.classes; ++j) probs[r * a.classes + j] = float(p[j]);
    }
  }
}

}  // namespace lc::ref

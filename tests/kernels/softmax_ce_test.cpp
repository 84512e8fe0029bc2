// Softmax cross-entropy: every implementation against the reference (batch loss, dlogits, argmax,
// device totals accumulated over several calls, in-place dlogits), the inference softmax, label
// out of range, ties, huge logits, and the reference's gradient against finite differences.
#include <cmath>
#include <ostream>
#include <string>

#include "kernels/softmax_ce/softmax_ce.h"
#include "tests/support/gradcheck.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

// Tolerances. The kernels compute a row in float: max, expf (a few ulp on the GPU), a float sum
// of `classes` terms, logf; the reference in double. Per-row loss values are O(1..10), so their
// float error is a few 1e-7 absolute; the batch mean and the totals' double sums inherit that:
// 1e-5 relative + 1e-6 absolute is ~10x the worst case. Probabilities carry ~4 ulp of relative
// error (exp, sum, divide): 1e-5 relative, plus 1e-7 absolute for p - 1 near the label where the
// subtraction cancels; dlogits are (p - onehot) / n, so the absolute part scales by 1 / n. The
// argmax compares the input floats themselves: it must match exactly.
constexpr Tolerance kLossTol{1e-6, 1e-5};
constexpr Tolerance kProbTol{1e-7, 1e-5};

void ce_on(BackendKind k, const SoftmaxCeArgs& a, const float* z, const std::int32_t* y, float* loss, float* dz,
           std::int32_t* pred, SoftmaxCeTotals* t, stream_t s) {
  LC_DISPATCH(k, softmax_ce, a, z, y, loss, dz, pred, t, s);
}
void predict_on(BackendKind k, const SoftmaxCeArgs& a, const float* z, float* p, std::int32_t* pred, stream_t s) {
  LC_DISPATCH(k, softmax_predict, a, z, p, pred, s);
}

std::vector<std::int32_t> random_labels(std::int64_t n, int classes, std::uint64_t seed) {
  auto u = random_floats(std::size_t(n), seed, 0.f, float(classes));
  std::vector<std::int32_t> y(n);
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::min(classes - 1, int(u[i]));
  return y;
}

bool near(double a, double e, Tolerance t) { return std::fabs(a - e) <= t.atol + t.rtol * std::fabs(e); }

struct CeCase {
  BackendKind kind;
  std::int64_t n;
  int classes;
};

void PrintTo(const CeCase& c, std::ostream* os) {
  *os << label_of(c.kind) << " n=" << c.n << " classes=" << c.classes;
}

class SoftmaxCeTest : public ::testing::TestWithParam<CeCase> {};

TEST_P(SoftmaxCeTest, LossGradientArgmaxAndTotalsMatchReference) {
  const auto [kind, n, classes] = GetParam();
  auto be = backend_or_skip(kind);
  if (!be) return;
  const std::string what = "n=" + std::to_string(n) + " classes=" + std::to_string(classes);
  SCOPED_TRACE(what);
  const SoftmaxCeArgs a{n, classes};
  const std::size_t nz = std::size_t(n) * classes;
  Guarded<float> gz(*be, nz), gdz(*be, nz), gloss(*be, 1);
  Guarded<std::int32_t> gy(*be, std::size_t(n)), gpred(*be, std::size_t(n));
  Guarded<SoftmaxCeTotals> gtot(*be, std::vector<SoftmaxCeTotals>(1));
  SoftmaxCeTotals ref_tot;

  // Three batches into the same device totals: they must accumulate, not be overwritten.
  for (int call = 0; call < 3; ++call) {
    const std::uint64_t seed = 100 * call + std::uint64_t(n) * 7 + classes;
    auto z = random_floats(nz, seed, -4.f, 4.f);
    auto y = random_labels(n, classes, seed + 1);
    float loss_ref = 0;
    std::vector<float> dz_ref(nz);
    std::vector<std::int32_t> pred_ref(n);
    ref::softmax_ce(a, z.data(), y.data(), &loss_ref, dz_ref.data(), pred_ref.data(), &ref_tot, nullptr);

    gz.upload(z);
    gy.upload(y);
    ce_on(kind, a, gz.get(), gy.get(), gloss.get(), gdz.get(), gpred.get(), gtot.get(), be->stream());
    const float loss = gloss.download()[0];
    EXPECT_TRUE(near(loss, loss_ref, kLossTol)) << "loss " << loss << " expected " << loss_ref << ", call " << call;
    EXPECT_TRUE(all_close(gdz.download(), dz_ref, Tolerance{kProbTol.atol / double(n), kProbTol.rtol},
                          "dlogits " + what));
    EXPECT_EQ(gpred.download(), pred_ref) << "argmax, call " << call;
    const SoftmaxCeTotals t = gtot.download()[0];
    EXPECT_TRUE(near(t.loss_sum, ref_tot.loss_sum, kLossTol)) << t.loss_sum << " vs " << ref_tot.loss_sum;
    EXPECT_EQ(t.samples, ref_tot.samples);
    EXPECT_EQ(t.samples, n * (call + 1));
    EXPECT_EQ(t.correct, ref_tot.correct);
    EXPECT_EQ(t.invalid_labels, 0);
  }
  EXPECT_TRUE(gz.guards_intact() && gdz.guards_intact() && gloss.guards_intact() && gpred.guards_intact() &&
              gtot.guards_intact())
      << "softmax_ce wrote outside an output, " << what;

  // Validation use: no gradient, no predictions, only the totals; then the gradient in place.
  auto z = random_floats(nz, 999 + n, -4.f, 4.f);
  auto y = random_labels(n, classes, 998 + n);
  std::vector<float> dz_ref(nz);
  ref::softmax_ce(a, z.data(), y.data(), nullptr, dz_ref.data(), nullptr, &ref_tot, nullptr);
  gz.upload(z);
  gy.upload(y);
  ce_on(kind, a, gz.get(), gy.get(), nullptr, nullptr, nullptr, gtot.get(), be->stream());
  const SoftmaxCeTotals t = gtot.download()[0];
  EXPECT_EQ(t.samples, 4 * n);
  EXPECT_EQ(t.correct, ref_tot.correct);
  EXPECT_TRUE(near(t.loss_sum, ref_tot.loss_sum, kLossTol));
  ce_on(kind, a, gz.get(), gy.get(), nullptr, gz.get(), nullptr, nullptr, be->stream());
  EXPECT_TRUE(all_close(gz.download(), dz_ref, Tolerance{kProbTol.atol / double(n), kProbTol.rtol},
                        "dlogits in place " + what));
}

class SoftmaxPredictTest : public ::testing::TestWithParam<CeCase> {};

TEST_P(SoftmaxPredictTest, MatchesReference) {
  const auto [kind, n, classes] = GetParam();
  auto be = backend_or_skip(kind);
  if (!be) return;
  const std::string what = "n=" + std::to_string(n) + " classes=" + std::to_string(classes);
  const SoftmaxCeArgs a{n, classes};
  const std::size_t nz = std::size_t(n) * classes;
  auto z = random_floats(nz, 555 + n, -6.f, 6.f);
  std::vector<float> p_ref(nz);
  std::vector<std::int32_t> pred_ref(n);
  ref::softmax_predict(a, z.data(), p_ref.data(), pred_ref.data(), nullptr);
  Guarded<float> gz(*be, z), gp(*be, nz);
  Guarded<std::int32_t> gpred(*be, std::size_t(n));
  predict_on(kind, a, gz.get(), gp.get(), gpred.get(), be->stream());
  EXPECT_TRUE(all_close(gp.download(), p_ref, kProbTol, "probabilities " + what));
  EXPECT_EQ(gpred.download(), pred_ref) << what;
  EXPECT_TRUE(gp.guards_intact() && gpred.guards_intact()) << what;
  // Probabilities only, in place over the logits.
  predict_on(kind, a, gz.get(), gz.get(), nullptr, be->stream());
  EXPECT_TRUE(all_close(gz.download(), p_ref, kProbTol, "probabilities in place " + what));
}

std::vector<CeCase> ce_cases(BackendKind k) {
  std::vector<CeCase> v;
  // The model (batch 16, 10 classes), batch 1, 21 classes, odd sizes, one class, more classes than
  // a warp has lanes, a validation-sized batch; on the GPU paths also 16384 rows (the single-block
  // kernel at the largest batch; the emulator runs that one block's warps serially: too slow).
  for (auto [n, c] : {std::pair<std::int64_t, int>{16, 10}, {1, 10}, {16, 21}, {7, 21}, {37, 3}, {3, 1},
                      {100, 64}, {5, 1000}, {1024, 10}})
    v.push_back({k, n, c});
  if (k != BackendKind::sim) v.push_back({k, 16384, 10});
  return v;
}

std::vector<CeCase> predict_cases(BackendKind k) {
  // As above, plus the largest inference batch: 16384 rows (the kernel's grid covers 8192 rows
  // per pass, so this takes two grid-stride passes); the emulator gets 9000 (also two passes).
  std::vector<CeCase> v;
  for (auto [n, c] : {std::pair<std::int64_t, int>{16, 10}, {1, 10}, {16, 21}, {7, 21}, {37, 3}, {3, 1},
                      {100, 64}, {5, 1000}, {1024, 10}})
    v.push_back({k, n, c});
  v.push_back({k, k == BackendKind::sim ? 9000 : 16384, 10});
  return v;
}

std::string case_name(const ::testing::TestParamInfo<CeCase>& info) {
  return "n" + std::to_string(info.param.n) + "_c" + std::to_string(info.param.classes);
}

LC_INSTANTIATE_PER_BACKEND_CASES(SoftmaxCeTest, ce_cases, case_name);
LC_INSTANTIATE_PER_BACKEND_CASES(SoftmaxPredictTest, predict_cases, case_name);

// Edge cases, with expected values worked out by hand (not by the reference).
class SoftmaxCeEdgeTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(SoftmaxCeEdgeTest, InvalidLabelsTiesAndHugeLogits) {
  const BackendKind kind = GetParam();
  auto be = backend_or_skip(kind);
  if (!be) return;
  const int c = 3;
  const std::int64_t n = 6;
  // Rows: equal logits (ties -> index 0, loss log 3); a tie between 1 and 2 (-> 1); huge logits
  // (loss 0 up to exp(-2000), softmax (0, 1, 0)); equal logits again; two out-of-range labels.
  const std::vector<float> z = {0.f, 0.f, 0.f,  1.f, 5.f, 5.f,  -1000.f, 1000.f, -1000.f,
                                2.f, 2.f, 2.f,  0.f, 1.f, 2.f,  3.f, 2.f, 1.f};
  const std::vector<std::int32_t> y = {2, 2, 1, 0, -1, 3};
  const double log3 = std::log(3.0);
  const double loss1 = std::log(std::exp(-4.0) + 2.0);  // logsumexp(1, 5, 5) - 5
  const double expect_sum = log3 + loss1 + 0.0 + log3;
  Guarded<float> gz(*be, z), gdz(*be, z.size()), gloss(*be, 1);
  Guarded<std::int32_t> gy(*be, y), gpred(*be, std::size_t(n));
  Guarded<SoftmaxCeTotals> gtot(*be, std::vector<SoftmaxCeTotals>(1));
  ce_on(kind, SoftmaxCeArgs{n, c}, gz.get(), gy.get(), gloss.get(), gdz.get(), gpred.get(), gtot.get(),
        be->stream());
  EXPECT_EQ(gpred.download(), (std::vector<std::int32_t>{0, 1, 1, 0, 2, 0}));
  EXPECT_NEAR(gloss.download()[0], expect_sum / 6.0, 1e-6);  // divided by n, invalid rows included
  const SoftmaxCeTotals t = gtot.download()[0];
  EXPECT_NEAR(t.loss_sum, expect_sum, 1e-5);
  EXPECT_EQ(t.samples, 6);
  EXPECT_EQ(t.correct, 2);  // row 2 (pred 1 == 1) and row 3 (pred 0 == 0)
  EXPECT_EQ(t.invalid_labels, 2);
  const auto dz = gdz.download();
  for (int j = 0; j < c; ++j) {
    EXPECT_NEAR(dz[0 * c + j], (1.0 / 3 - (j == 2)) / 6, 1e-7) << j;
    EXPECT_NEAR(dz[2 * c + j], 0.0, 1e-7) << j;  // softmax (0, 1, 0), label 1
    EXPECT_EQ(dz[4 * c + j], 0.f) << "invalid label row must have zero gradient";
    EXPECT_EQ(dz[5 * c + j], 0.f) << "invalid label row must have zero gradient";
  }
  for (float v : dz) EXPECT_TRUE(std::isfinite(v));
}

LC_INSTANTIATE_PER_BACKEND(SoftmaxCeEdgeTest);

// The reference's dlogits against central differences of its batch-mean loss. h = 1e-2: the
// truncation error h^2/6 * |L'''| (|L'''| <= 1/n here) is below 1e-5; the float loss (~1.5,
// ulp 1.2e-7) divided by 2h adds ~1e-5. 5e-5 bounds both; gradients are O(0.01..0.25).
TEST(RefSoftmaxCe, GradientMatchesFiniteDifferences) {
  const std::int64_t n = 4;
  const int c = 5;
  const SoftmaxCeArgs a{n, c};
  auto z = random_floats(n * c, 21, -2.f, 2.f);
  const std::vector<std::int32_t> y = {0, 4, 2, 2};
  std::vector<float> dz(n * c);
  float loss = 0;
  ref::softmax_ce(a, z.data(), y.data(), &loss, dz.data(), nullptr, nullptr, nullptr);
  GradCheckOptions o;
  o.h = 1e-2f;
  o.atol = 5e-5;
  check_gradient("dlogits", z, dz, [&] {
    float l = 0;
    ref::softmax_ce(a, z.data(), y.data(), &l, nullptr, nullptr, nullptr, nullptr);
    return double(l);
  }, o);
}

}  // namespace
}  // namespace lc::test

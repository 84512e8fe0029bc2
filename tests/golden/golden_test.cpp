// Golden whole-network test: the seed network (model/eurosat_cnn.json, 10 classes) with fixed
// weights on a fixed batch of 4, three training steps through the runtime's Network on every
// backend, against numbers an independent framework computed once in float64 (PyTorch, by
// tests/golden/make_golden.py; committed as tests/golden/eurosat_cnn_golden.bin, LCGOLDEN v1, read
// by tests/golden/golden_file.h). Compared: logits and loss of every step, every parameter gradient
// of step 1, batch-norm moving statistics after steps 1 and 3, every parameter after Adam steps 1
// and 3. Real dropout masks (kernels/dropout/dropout.h's Philox mask, reimplemented in numpy).
// Also the reader's own tests (CpuGoldenFile).
// Depends on: runtime/graph.h (Network), model/model_spec.h, tests/golden/golden_file.h,
// tests/support/testing.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "model/model_spec.h"
#include "runtime/graph.h"
#include "tests/golden/golden_file.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

// ---- Tolerances -------------------------------------------------------------------------------
// The reference is float64; every backend computes in float32 with its own summation orders.
// make_golden.py --calibrate measures how far a float32 computation (PyTorch's, CPU) lands from
// the reference on this file's data; the same measurement over seeds 1..30 ("30 seeds" below)
// gave the worst cases quoted. --calibrate also applies these tolerances to the float32 run (it
// passes) and to runs with eleven known bugs (biased moving variance, no Adam bias correction, a
// dropout mask that ignores the step, ...): every one fails. Keep the constants equal to TOL in
// make_golden.py.
//
// Step 1 is well conditioned (the generator's seed is chosen so that no max-pool window of step 1
// has its two largest inputs closer than 15x their float32 error), so it is compared tightly:
//   logits    |d| <= 2e-5 * max|ref|. float32 measured <= 2.4e-6 * max|ref| (30 seeds): 8x
//             margin for other summation orders (n-term dot products are off by ~sqrt(n) ulp).
//   loss      |d| <= 2 * the logits' tolerance: mean cross-entropy is 2-Lipschitz in the max norm
//             (|d(-z_y + logsumexp z)| <= |dz_y| + max|dz|), so this follows from the logits.
//   gradients |d| <= kappa * max|ref| per tensor, kappa = 1e-4: float32 measured 1.55e-5 *
//             max|ref| (worst tensor, this file's data): 6x margin. An element the reference has
//             exactly 0 must be exactly 0: the weights into units that every image of the batch
//             dropped; the dropout mask is bit-exact by contract and 0 * x sums are exact.
//   moving statistics  |d| <= 2e-6 * max|ref| per tensor: 0.99 * moving + 0.01 * batch statistic
//             rounds to a few ulp, and the batch statistic's own error (<= 1e-4 relative even for
//             a one-pass variance) enters at 1%; float32 measured <= 1.1e-7 * max|ref| (30 seeds).
//             The biased-variance bug (the batch variance must enter the moving variance with
//             Bessel's correction m/(m-1)) exceeds this 3.4x at L11 (m = 4*8*8).
//   parameters after Adam step 1, per element (derived, not measured): at t = 1 Keras' Adam moves
//             p by exactly lr * f(g), f(g) = g / (|g| + e'), e' = epsilon / sqrt(1 - beta2) =
//             3.16e-6, increasing in g. With |g - g_ref| <= D = kappa * max|g_ref| (what the
//             gradient check just established for this very run), |p1 - p1_ref| <= lr * (f(|g_ref|)
//             - f(|g_ref| - D)), plus float32 rounding: 2 ulp of p1 and 5e-9 (lr_t, the division,
//             and beta2 = 0.999f rather than 0.999 in e'). Elements with |g| >> D are held to
//             ~1e-8; elements with |g| <= D (sign not determined in float32) to ~2 lr. Exactly-zero
//             gradients leave p exactly.
// Steps 2 and 3 are not well conditioned, and no choice of data makes them so: Adam's first step
// moves every weight by about lr * sign(g), so elements with |g| near the float32 error move by a
// random +-lr, and with ~120k max-pool windows per step some winners flip under any float32
// error; the two runs then drift apart chaotically. Measured with float32 on 30 seeds (worst):
// logits 5.4e-4 * max|ref| at step 3, moving statistics 1.4e-5 * max|ref|, parameters after step 3
// median |d| 2.1e-7, 99th percentile 4.6e-5, 99.9th 1.6e-4. Tolerances, about 10x (another float32
// implementation may start from larger errors):
//   logits    |d| <= 5e-3 * max|ref|; loss 2x that (as above).
//   moving statistics after step 3  |d| <= 1e-4 * max|ref| per tensor (7x).
//   parameters after step 3  every element |d| <= 3 * 2 * 1.0036 * lr + 1e-6 (no gradient sequence
//             moves a parameter by more than 1.0036 lr per step for t <= 3, by Cauchy-Schwarz on
//             m / sqrt(v), so two runs cannot be further apart); over all 415,792 elements the
//             median |d| <= 2e-6 and the 99th percentile <= 5e-4. A wrong bias correction, a step
//             counter that does not advance, gradients accumulated across steps or a stale dropout
//             mask move most elements by 1e-4 or more.
constexpr double kLogits1 = 2e-5;
constexpr double kKappa = 1e-4;
constexpr double kState1 = 2e-6;
constexpr double kLogits23 = 5e-3;
constexpr double kState3 = 1e-4;
constexpr double kParam3Median = 2e-6;
constexpr double kParam3P99 = 5e-4;
constexpr double kAdamMaxUpdate = 1.0036;  // max |lr_t m / (sqrt(v) + eps)| / lr for t <= 3

std::string golden_path() { return std::string(LC_SOURCE_DIR) + "/tests/golden/eurosat_cnn_golden.bin"; }

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}
std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// The largest |d| / tolerance seen per check category, printed after the run (the margins).
using Margins = std::map<std::string, double>;

// |actual - expected| <= tol[i] for every element (tol per element), NaN/Inf failing. On failure,
// names `what`, the count, the worst element and the first few. Records the worst ratio under
// `category` in `margins`.
::testing::AssertionResult within(const std::vector<float>& actual, const std::vector<double>& expected,
                                  const std::vector<double>& tol, const std::string& what,
                                  Margins& margins, const std::string& category) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << what << ": " << actual.size() << " elements, expected " << expected.size();
  std::size_t bad = 0, worst_i = 0;
  double worst = -1;
  std::ostringstream first;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double d = std::fabs(double(actual[i]) - expected[i]);
    const double excess = std::isfinite(d) ? d / tol[i] : INFINITY;
    if (!(d <= tol[i])) {
      if (bad < 4) first << "\n  [" << i << "] " << actual[i] << " vs " << expected[i] << " (tol " << tol[i] << ")";
      ++bad;
    }
    if (excess > worst) worst = excess, worst_i = i;
  }
  margins[category] = std::max(margins[category], worst);
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << actual.size()
                                       << " elements outside tolerance; worst [" << worst_i << "] "
                                       << actual[worst_i] << " vs " << expected[worst_i] << " (" << worst
                                       << "x its tolerance)" << first.str();
}

::testing::AssertionResult within_atol(const std::vector<float>& actual, const std::vector<double>& expected,
                                       double atol, const std::string& what, Margins& margins,
                                       const std::string& category) {
  return within(actual, expected, std::vector<double>(expected.size(), atol), what, margins, category);
}

// Adam at t = 1 moves p by lr * f(g), f(g) = g / (|g| + e'): see the tolerance comment.
double adam1_shift(double g, double lr, double beta2, double eps) {
  const double e = eps / std::sqrt(1.0 - beta2);
  return lr * g / (std::fabs(g) + e);
}

class GoldenTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(GoldenTest, ThreeTrainingStepsMatchPyTorchFloat64) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const GoldenFile g = GoldenFile::load(golden_path());
  SCOPED_TRACE(g.text("info"));
  ASSERT_EQ(g.i32_scalar("config.dropout_enabled"), 1) << "the committed golden file must use real dropout masks";
  ASSERT_DOUBLE_EQ(g.f64_scalar("config.kappa"), kKappa) << "make_golden.py and this test disagree on kappa";
  const int classes = g.i32_scalar("config.classes");
  const auto input = g.f32("input");
  const auto labels = g.i32("labels");
  const int batch = int(labels.size());

  NetworkOptions opt;
  opt.batch = batch;
  opt.seed = std::uint64_t(g.i64_scalar("config.dropout_seed"));
  opt.cuda_graph = true;
  Network net(load_model_file(std::string(LC_SOURCE_DIR) + "/model/eurosat_cnn.json"), classes, *be, opt);
  ASSERT_EQ(net.parameter_count(), 415792);
  ASSERT_EQ(net.optimizer_step(), g.i64_scalar("config.first_step")) << "the dropout step key of step 1";

  // Every parameter and statistic from the file, and the file has no others.
  std::size_t init_records = 0;
  for (const auto& name : g.names()) init_records += name.rfind("init.", 0) == 0;
  ASSERT_EQ(init_records, net.params().size());
  for (const ParamView& p : net.params()) {
    const GoldenRecord& r = g.record("init." + p.name);
    ASSERT_EQ(r.dims, p.shape) << p.name;
    net.write(p.name, g.f32("init." + p.name));
  }
  ASSERT_EQ(std::int64_t(input.size()), net.input().numel());
  net.input().upload(input.data(), be->stream());
  net.labels().upload(labels.data(), be->stream());

  const double lr = opt.lr;
  Margins margins;
  for (int step = 1; step <= 3; ++step) {
    SCOPED_TRACE("training step " + std::to_string(step) + " on " + be->name());
    const std::string s = "step" + std::to_string(step);
    net.train_step();
    EXPECT_EQ(net.optimizer_step(), g.i64_scalar("config.first_step") + step);

    // Logits and loss of this step's forward.
    const auto ref_logits = g.f64(s + ".logits");
    const double logit_tol = (step == 1 ? kLogits1 : kLogits23) * max_abs(ref_logits);
    EXPECT_TRUE(within_atol(net.read_logits(), ref_logits, logit_tol, s + " logits", margins, s + " logits"));
    const double ref_loss = g.f64_scalar(s + ".loss");
    EXPECT_NEAR(net.last_loss(), ref_loss, 2 * logit_tol) << s << " loss";
    margins[s + " loss"] = std::fabs(net.last_loss() - ref_loss) / (2 * logit_tol);

    // Moving statistics after steps 1 and 3.
    if (step == 1 || step == 3) {
      for (const ParamView& p : net.params()) {
        if (p.trainable) continue;
        const auto ref = to_double(g.f32(s + "." + p.name));
        EXPECT_TRUE(within_atol(net.read(p.name), ref, (step == 1 ? kState1 : kState3) * max_abs(ref),
                                s + " " + p.name, margins, s + " moving statistics"));
      }
    }

    if (step == 1) {
      for (const ParamView& p : net.params()) {
        if (!p.trainable) continue;
        const auto gref = to_double(g.f32("step1.grad." + p.name));
        const double D = kKappa * max_abs(gref);
        const auto grad = net.read_grad(p.name);
        EXPECT_TRUE(within_atol(grad, gref, D, "step 1 gradient " + p.name, margins, "step1 gradients"));
        std::int64_t zeros = 0, nonzero_where_zero = 0;
        for (std::size_t i = 0; i < gref.size(); ++i)
          if (gref[i] == 0) ++zeros, nonzero_where_zero += grad[i] != 0.f;
        EXPECT_EQ(nonzero_where_zero, 0) << p.name << ": gradient not exactly 0 where every image dropped the unit ("
                                         << zeros << " such elements)";
        // Parameters after Adam step 1, per element.
        const auto p0 = to_double(g.f32("init." + p.name));
        const auto p1ref = to_double(g.f32("step1." + p.name));
        std::vector<double> tol(gref.size());
        for (std::size_t i = 0; i < gref.size(); ++i) {
          const double a = std::fabs(gref[i]);
          const double shift = gref[i] == 0 ? 0.0
              : adam1_shift(a, lr, opt.beta2, opt.epsilon) - adam1_shift(a - D, lr, opt.beta2, opt.epsilon);
          tol[i] = shift + std::ldexp(std::fabs(p1ref[i]), -22) + 5e-9;
        }
        // The file's own p1 must be p0 - lr f(g_ref) with the decimal constants (a check of the
        // file: float32 storage of p and g rounds by 2^-24 relative).
        for (std::size_t i = 0; i < gref.size(); i += 97)
          ASSERT_NEAR(p1ref[i], p0[i] - adam1_shift(gref[i], 1e-3, 0.999, 1e-7),
                      1e-6 * lr + std::ldexp(std::fabs(p0[i]), -22) + std::ldexp(std::fabs(p1ref[i]), -23))
              << p.name << " [" << i << "] in the golden file";
        EXPECT_TRUE(within(net.read(p.name), p1ref, tol, "parameters after Adam step 1: " + p.name, margins,
                           "step1 parameters"));
      }
    }

    if (step == 3) {
      std::vector<double> all;
      for (const ParamView& p : net.params()) {
        if (!p.trainable) continue;
        const auto ref = to_double(g.f32("step3." + p.name));
        const auto got = net.read(p.name);
        EXPECT_TRUE(within_atol(got, ref, 3 * 2 * kAdamMaxUpdate * lr + 1e-6, "parameters after step 3: " + p.name,
                                margins, "step3 parameters (bound)"));
        for (std::size_t i = 0; i < ref.size(); ++i) all.push_back(std::fabs(double(got[i]) - ref[i]));
      }
      ASSERT_EQ(std::int64_t(all.size()), 415792);
      const auto q = [&](double frac) {
        auto k = std::size_t(frac * double(all.size() - 1));
        std::nth_element(all.begin(), all.begin() + std::ptrdiff_t(k), all.end());
        return all[k];
      };
      const double median = q(0.5), p99 = q(0.99);
      EXPECT_LE(median, kParam3Median) << "median |p3 - p3_ref| over all parameters";
      EXPECT_LE(p99, kParam3P99) << "99th percentile of |p3 - p3_ref| over all parameters";
      margins["step3 parameters (median)"] = median / kParam3Median;
      margins["step3 parameters (99th percentile)"] = p99 / kParam3P99;
    }
  }
  // The margins, for whoever tunes a kernel: the worst |d| / tolerance per check (1 = at the limit).
  std::ostringstream os;
  os << "[golden " << be->name() << "] worst |d| / tolerance:";
  for (const auto& [what, r] : margins) os << "\n  " << what << ": " << r;
  std::printf("%s\n", os.str().c_str());
}

INSTANTIATE_TEST_SUITE_P(Sim, GoldenTest, ::testing::Values(BackendKind::sim));
INSTANTIATE_TEST_SUITE_P(Cpu, GoldenTest, ::testing::Values(BackendKind::cpu));
INSTANTIATE_TEST_SUITE_P(Cuda, GoldenTest, ::testing::Values(BackendKind::cuda));
INSTANTIATE_TEST_SUITE_P(Cudnn, GoldenTest, ::testing::Values(BackendKind::cudnn));

// ---- The reader -------------------------------------------------------------------------------

struct Bytes {
  std::vector<unsigned char> b;
  void u32(std::uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back((v >> (8 * i)) & 0xFF); }
  void i64(std::int64_t v) { for (int i = 0; i < 8; ++i) b.push_back((std::uint64_t(v) >> (8 * i)) & 0xFF); }
  void str(const std::string& s) { b.insert(b.end(), s.begin(), s.end()); }
  void record(const std::string& name, std::uint32_t dtype, std::vector<std::int64_t> dims, std::vector<unsigned char> data) {
    u32(std::uint32_t(name.size()));
    str(name);
    u32(dtype);
    u32(std::uint32_t(dims.size()));
    for (auto d : dims) i64(d);
    b.insert(b.end(), data.begin(), data.end());
  }
};

Bytes small_file() {
  Bytes f;
  f.str("LCGOLDEN");
  f.u32(1);
  f.u32(3);
  // f32 [2][2] = {1, -2, 0.5, 3}: little-endian IEEE bytes written out by hand.
  f.record("a.f32", 0, {2, 2}, {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0,
                                0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x40, 0x40});
  f.record("b.i64", 4, {}, {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});  // -2, a scalar
  f.record("c.text", 3, {2}, {'h', 'i'});
  return f;
}

TEST(CpuGoldenFile, ParsesRecordsInOrderWithTypesAndShapes) {
  const GoldenFile g = GoldenFile::parse(small_file().b, "small");
  EXPECT_EQ(g.names(), (std::vector<std::string>{"a.f32", "b.i64", "c.text"}));
  EXPECT_EQ(g.f32("a.f32"), (std::vector<float>{1.f, -2.f, 0.5f, 3.f}));
  EXPECT_EQ(g.record("a.f32").dims, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(g.i64_scalar("b.i64"), -2);
  EXPECT_EQ(g.text("c.text"), "hi");
  EXPECT_THROW(g.f64("a.f32"), Error);      // wrong dtype
  EXPECT_THROW(g.record("missing"), Error);  // absent
}

TEST(CpuGoldenFile, RejectsBadMagicVersionTruncationAndTrailingBytes) {
  auto bad_magic = small_file();
  bad_magic.b[0] = 'X';
  EXPECT_THROW(GoldenFile::parse(bad_magic.b, "m"), Error);
  auto bad_version = small_file();
  bad_version.b[8] = 2;
  EXPECT_THROW(GoldenFile::parse(bad_version.b, "v"), Error);
  auto truncated = small_file();
  truncated.b.pop_back();
  EXPECT_THROW(GoldenFile::parse(truncated.b, "t"), Error);
  auto trailing = small_file();
  trailing.b.push_back(0);
  EXPECT_THROW(GoldenFile::parse(trailing.b, "x"), Error);
  auto bad_dtype = small_file();
  bad_dtype.b[16 + 4 + 5] = 9;  // the first record's dtype
  EXPECT_THROW(GoldenFile::parse(bad_dtype.b, "d"), Error);
}

// The committed file: the records the golden test needs, with the model's shapes.
TEST(CpuGoldenFile, CommittedFileHasTheExpectedRecords) {
  const GoldenFile g = GoldenFile::load(golden_path());
  EXPECT_NE(g.text("info").find("real Philox masks"), std::string::npos) << g.text("info");
  EXPECT_EQ(g.record("input").dims, (std::vector<std::int64_t>{4, 64, 64, 3}));
  EXPECT_EQ(g.record("step1.logits").dims, (std::vector<std::int64_t>{4, 10}));
  EXPECT_EQ(g.record("init.L01.conv2d.kernel").dims, (std::vector<std::int64_t>{16, 5, 5, 3}));
  EXPECT_EQ(g.record("step1.grad.L15.dense.kernel").dims, (std::vector<std::int64_t>{2048, 128}));
  std::int64_t trainable = 0;
  for (const auto& n : g.names())
    if (n.rfind("step1.grad.", 0) == 0) trainable += g.record(n).numel();
  EXPECT_EQ(trainable, 415792);
}

}  // namespace
}  // namespace lc::test

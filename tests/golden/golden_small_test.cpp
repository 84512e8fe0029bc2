// The second golden test: what the seed-network golden test (golden_test.cpp) does not check, on
// a small network (tests/golden/small_cnn_golden.bin, made by make_golden_small.py with PyTorch in
// float64): an odd batch (3), Adam's m and v after steps 1 and 2, the whole state after step 2
// (gradients, parameters, moving statistics), and the inference forward (batch norm with the
// moving statistics) after two steps, through eval_batch on the training network and through an
// inference-only network's predict.
// Tolerances (max |d| per tensor, relative to the tensor's max |ref|). make_golden_small.py prints
// how far a float32 run (PyTorch's) lands from the float64 reference on this file's data; the
// constants below are those measured numbers times 10 or more (quoted above them). Every max-pool
// window of steps 1 and 2 has its two largest inputs over 1000 float32 errors apart (printed by
// the generator), so no backend can pick another winner. Moments: m is a sum of gradients, v of squared gradients, so they carry the
// gradients' relative error (v twice it). Parameters after Adam: at t = 1 and 2 Adam moves each
// parameter by about lr * m / sqrt(v), a ratio of the gradients, so a parameter is off by at most
// about lr times the gradients' relative error where |g| is well above float32 noise; where |g|
// is near that noise the step's sign is undetermined, which the absolute bound 2 * 2 * lr covers
// (every element), while the median and 99th percentile must stay small.
// Depends on: runtime/graph.h, model/model_spec.h, tests/golden/golden_file.h, tests/support/testing.h.
#include <algorithm>
#include <cmath>
#include <string>

#include "model/model_spec.h"
#include "runtime/graph.h"
#include "tests/golden/golden_file.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

// float32 (PyTorch) measured against the reference, max|d| / max|ref| over steps 1 and 2 (worst
// tensor): logits 6.8e-7, gradients 2.7e-6, m 2.7e-6, v 4.3e-6, moving statistics 6.9e-8,
// inference logits 1.5e-7; parameters max |d| 8.4e-8 (absolute). Tolerances:
constexpr double kLogits = 1e-5;       // logits of steps 1 and 2 and inference; loss 2x (2-Lipschitz)
constexpr double kGrad = 3e-5;         // gradients of steps 1 and 2, and m; v 2x
constexpr double kStats = 1e-6;        // moving statistics after steps 1 and 2
constexpr double kParamMedian = 1e-6;  // |p - p_ref| over all parameters after steps 1 and 2
constexpr double kParamP99 = 1e-5;

std::string golden_path() { return std::string(LC_SOURCE_DIR) + "/tests/golden/small_cnn_golden.bin"; }

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}
std::vector<double> as_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

::testing::AssertionResult close(const std::vector<float>& got, const std::vector<double>& want, double rel,
                                 const std::string& what) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": size " << got.size();
  const double tol = rel * max_abs(want);
  std::size_t bad = 0, worst_i = 0;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - want[i]);
    if (!(d <= tol)) ++bad;
    if (!(d <= worst)) worst = d, worst_i = i;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << got.size() << " elements beyond "
                                       << tol << "; worst [" << worst_i << "] " << got[worst_i] << " vs "
                                       << want[worst_i];
}

class GoldenSmallTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(GoldenSmallTest, TwoStepsAdamStateAndInferenceMatchPyTorchFloat64) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const GoldenFile g = GoldenFile::load(golden_path());
  SCOPED_TRACE(g.text("info"));
  const ModelSpec spec = parse_model_json(g.text("model_json"), "small golden model");
  const int classes = g.i32_scalar("config.classes");
  const auto input = g.f32("input");
  const auto labels = g.i32("labels");
  const int batch = int(labels.size());
  ASSERT_EQ(batch % 2, 1) << "the point of this file is an odd batch";
  NetworkOptions opt;
  opt.batch = batch;
  Network net(spec, classes, *be, opt);
  for (const ParamView& p : net.params()) {
    ASSERT_EQ(g.record("init." + p.name).dims, p.shape) << p.name;
    net.write(p.name, g.f32("init." + p.name));
  }
  net.input().upload(input.data(), be->stream());
  net.labels().upload(labels.data(), be->stream());

  const double lr = opt.lr;
  for (int step = 1; step <= 2; ++step) {
    const std::string s = "step" + std::to_string(step);
    SCOPED_TRACE(s + " on " + be->name());
    net.train_step();
    const auto ref_logits = g.f64(s + ".logits");
    EXPECT_TRUE(close(net.read_logits(), ref_logits, kLogits, s + " logits"));
    EXPECT_NEAR(net.last_loss(), g.f64_scalar(s + ".loss"), 2 * kLogits * max_abs(ref_logits)) << s << " loss";
    std::vector<double> param_d;
    for (const ParamView& p : net.params()) {
      const auto ref = as_double(g.f32(s + "." + p.name));
      if (!p.trainable) {
        EXPECT_TRUE(close(net.read(p.name), ref, kStats, s + " " + p.name));
        continue;
      }
      EXPECT_TRUE(close(net.read_grad(p.name), as_double(g.f32(s + ".grad." + p.name)), kGrad, s + " gradient " + p.name));
      std::vector<float> m, v;
      net.read_adam(p.name, m, v);
      EXPECT_TRUE(close(m, as_double(g.f32(s + ".m." + p.name)), kGrad, s + " Adam m " + p.name));
      EXPECT_TRUE(close(v, as_double(g.f32(s + ".v." + p.name)), 2 * kGrad, s + " Adam v " + p.name));
      const auto got = net.read(p.name);
      for (std::size_t i = 0; i < got.size(); ++i) {
        const double d = std::fabs(double(got[i]) - ref[i]);
        EXPECT_LE(d, 2 * step * lr) << s << " " << p.name << "[" << i << "]";  // Adam's bound per step
        param_d.push_back(d);
      }
    }
    std::sort(param_d.begin(), param_d.end());
    EXPECT_LE(param_d[param_d.size() / 2], kParamMedian) << s << ": median |p - p_ref|";
    EXPECT_LE(param_d[param_d.size() * 99 / 100], kParamP99) << s << ": 99th percentile of |p - p_ref|";
  }

  // Inference forward with the weights after step 2: eval_batch on the training network ...
  const auto ref_infer = g.f64("infer.logits");
  net.eval_batch(batch);
  EXPECT_TRUE(close(net.read_logits(), ref_infer, kLogits, "inference logits (eval_batch)"));
  // ... and an inference-only network's predict (probabilities and classes).
  NetworkOptions io;
  io.batch = batch;
  io.training = false;
  Network inf(spec, classes, *be, io);
  for (const ParamView& p : inf.params()) inf.write(p.name, net.read(p.name));
  Device& dev = be->device();
  float* dp = static_cast<float*>(dev.alloc(std::size_t(batch * classes) * 4));
  std::int32_t* dt = static_cast<std::int32_t*>(dev.alloc(std::size_t(batch) * 4));
  inf.predict(net.input().data<float>(), batch, dp, dt);
  std::vector<float> probs(std::size_t(batch * classes));
  std::vector<std::int32_t> top(static_cast<std::size_t>(batch));
  dev.copy_d2h(probs.data(), dp, probs.size() * 4, be->stream());
  dev.copy_d2h(top.data(), dt, top.size() * 4, be->stream());
  be->synchronize();
  dev.free(dp);
  dev.free(dt);
  for (int r = 0; r < batch; ++r) {
    const double* z = &ref_infer[std::size_t(r * classes)];
    const double mx = *std::max_element(z, z + classes);
    double sum = 0;
    for (int k = 0; k < classes; ++k) sum += std::exp(z[k] - mx);
    int best = 0;
    for (int k = 0; k < classes; ++k) {
      EXPECT_NEAR(probs[std::size_t(r * classes + k)], std::exp(z[k] - mx) / sum, 1e-5) << "row " << r << " class " << k;
      if (z[k] > z[best]) best = k;
    }
    EXPECT_EQ(top[std::size_t(r)], best) << "row " << r;
  }
}

LC_INSTANTIATE_PER_BACKEND(GoldenSmallTest);

}  // namespace
}  // namespace lc::test

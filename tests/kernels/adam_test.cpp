// Adam: every implementation, three steps from a fresh state and one step resumed from a stored
// step count, against Adam written out independently here in double precision (the textbook
// form with Keras' epsilon-hat placement); the device step counter; determinism; guard regions.
#include <cmath>
#include <cstring>
#include <ostream>
#include <string>

#include "kernels/adam/adam.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

// Tolerances against the double-precision model. The implementations store p, m, v in float
// and compute each step in float, so their results differ from the double model by rounding
// errors that cancellation can make large RELATIVE to the result (m = 0.9 m + 0.1 g with
// opposite signs), but never large relative to the magnitudes involved. The model therefore
// carries a first-order bound on each element's float error, step by step (u = 2^-24):
//   m = b1 m' + c1 g:       e_m = b1 e_m' + u (|m| + 2 c1 (|g| + |m'|))
//   v = b2 v' + c2 g^2:     e_v = b2 e_v' + u (|v| + c2 (3 g^2 + 2 |v'|))
//   p -= a m / (sqrt v + eps), U = a |m| / (sqrt v + eps):
//                           e_p = e_p' + u |p| + 6 u U + a e_m / (sqrt v + eps)
//                                 + U e_v / (2 sqrt v (sqrt v + eps))
// (6 u: lr_t, sqrt, add, divide, multiply, subtract), and an element passes when
// |actual - model| <= 2 e (twice the first-order bound: room for second-order terms). A wrong
// formula (epsilon inside the bias correction, a missing bias correction, a wrong beta) moves
// elements by far more: the update itself is ~1e-3 and e_p ~1e-10.
constexpr double kU = 1.0 / (1 << 24);
constexpr double kMargin = 2.0;

void adam_on(BackendKind k, const AdamArgs& a, float* p, const float* g, float* m, float* v, AdamState* st,
             stream_t s) {
  LC_DISPATCH(k, adam_update, a, p, g, m, v, st, s);
}

// Adam as in the paper's section-2 efficient form (Kingma & Ba; Keras' epsilon is this epsilon
// hat), in double: the truth for the test, written without looking at the implementations, with
// the error bounds described above.
struct DoubleAdam {
  std::vector<double> p, m, v;
  std::int64_t t = 0;
  std::vector<double> ep, em, ev;
  explicit DoubleAdam(const std::vector<float>& p0)
      : p(p0.begin(), p0.end()), m(p0.size()), v(p0.size()), ep(p0.size()), em(p0.size()), ev(p0.size()) {}
  void step(const std::vector<float>& grad, const AdamArgs& a) {
    ++t;
    const double b1 = a.beta1, b2 = a.beta2, c1 = 1.0 - b1, c2 = 1.0 - b2, eps = a.epsilon;
    const double alpha = double(a.lr) * std::sqrt(1.0 - std::pow(b2, double(t))) / (1.0 - std::pow(b1, double(t)));
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double g = grad[i], m_old = m[i], v_old = v[i];
      m[i] = b1 * m_old + c1 * g;
      v[i] = b2 * v_old + c2 * g * g;
      const double den = std::sqrt(v[i]) + eps;
      p[i] -= alpha * m[i] / den;
      em[i] = b1 * em[i] + kU * (std::fabs(m[i]) + 2 * c1 * (std::fabs(g) + std::fabs(m_old)));
      ev[i] = b2 * ev[i] + kU * (v[i] + c2 * (3 * g * g + 2 * v_old));
      const double u_mag = alpha * std::fabs(m[i]) / den;
      ep[i] += kU * std::fabs(p[i]) + 6 * kU * u_mag + alpha * em[i] / den +
               (v[i] > 0 ? u_mag * ev[i] / (2 * std::sqrt(v[i]) * den) : 0.0);
    }
  }
};

// Every element within kMargin times its error bound of the model.
::testing::AssertionResult within(const std::vector<float>& actual, const std::vector<double>& model,
                                  const std::vector<double>& err, const std::string& what) {
  std::size_t bad = 0;
  std::string first;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double d = std::fabs(double(actual[i]) - model[i]);
    if (!(d <= kMargin * err[i] + 1e-30)) {
      if (bad < 5)
        first += "\n  [" + std::to_string(i) + "] actual " + std::to_string(actual[i]) + " model " +
                 std::to_string(model[i]) + " bound " + std::to_string(kMargin * err[i]);
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << actual.size() << " elements" << first;
}

// Gradients with some exact zeros and some tiny values (where sqrt(v) is comparable to epsilon).
std::vector<float> gradients(std::int64_t n, std::uint64_t seed) {
  auto g = random_floats(std::size_t(n), seed, -1.f, 1.f);
  for (std::int64_t i = 0; i < n; i += 7) g[i] = 0.f;
  for (std::int64_t i = 3; i < n; i += 11) g[i] *= 1e-6f;
  return g;
}

struct AdamCase {
  BackendKind kind;
  std::int64_t n;
};

void PrintTo(const AdamCase& c, std::ostream* os) { *os << label_of(c.kind) << " n=" << c.n; }

class AdamTest : public ::testing::TestWithParam<AdamCase> {};

TEST_P(AdamTest, MatchesDoublePrecisionAdam) {
  const auto [kind, n] = GetParam();
  auto be = backend_or_skip(kind);
  if (!be) return;
  const std::string what = "n=" + std::to_string(n);
  SCOPED_TRACE(what);
  const AdamArgs a{n};  // docs/MODEL.md defaults: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7
  ASSERT_EQ(a.lr, 1e-3f);
  ASSERT_EQ(a.beta1, 0.9f);
  ASSERT_EQ(a.beta2, 0.999f);
  ASSERT_EQ(a.epsilon, 1e-7f);
  const auto p0 = random_floats(std::size_t(n), 41 + n, -1.f, 1.f);
  DoubleAdam truth(p0);

  Guarded<float> gp(*be, p0), gg(*be, std::size_t(n)), gm(*be, std::vector<float>(n, 0.f)),
      gv(*be, std::vector<float>(n, 0.f));
  Guarded<AdamState> gst(*be, std::vector<AdamState>(1));
  std::vector<std::vector<float>> grads;
  for (int s = 1; s <= 3; ++s) {
    grads.push_back(gradients(n, 1000 * s + n));
    gg.upload(grads.back());
    adam_on(kind, a, gp.get(), gg.get(), gm.get(), gv.get(), gst.get(), be->stream());
    truth.step(grads.back(), a);
    const std::string at = what + " step " + std::to_string(s);
    EXPECT_TRUE(within(gp.download(), truth.p, truth.ep, "params " + at));
    EXPECT_TRUE(within(gm.download(), truth.m, truth.em, "m " + at));
    EXPECT_TRUE(within(gv.download(), truth.v, truth.ev, "v " + at));
    const AdamState st = gst.download()[0];
    EXPECT_EQ(st.step, s) << "the step count in device memory";
    EXPECT_EQ(st.blocks_done, 0u);
  }
  EXPECT_TRUE(gp.guards_intact() && gm.guards_intact() && gv.guards_intact() && gst.guards_intact())
      << "adam wrote outside its buffers, " << what;

  // Resumed from a checkpoint at step 100: t = 101 comes from the stored count.
  AdamState resumed;
  resumed.step = 100;
  gst.upload({resumed});
  truth.t = 100;
  const auto g4 = gradients(n, 4000 + n);
  gg.upload(g4);
  adam_on(kind, a, gp.get(), gg.get(), gm.get(), gv.get(), gst.get(), be->stream());
  truth.step(g4, a);
  EXPECT_TRUE(within(gp.download(), truth.p, truth.ep, "params after resume " + what));
  EXPECT_EQ(gst.download()[0].step, 101);

  // Deterministic: the same three steps again give the same bits.
  const auto first = gp.download();
  gp.upload(p0);
  gm.upload(std::vector<float>(n, 0.f));
  gv.upload(std::vector<float>(n, 0.f));
  gst.upload({AdamState{}});
  for (const auto& g : grads) {
    gg.upload(g);
    adam_on(kind, a, gp.get(), gg.get(), gm.get(), gv.get(), gst.get(), be->stream());
  }
  gst.upload({resumed});
  gg.upload(g4);
  adam_on(kind, a, gp.get(), gg.get(), gm.get(), gv.get(), gst.get(), be->stream());
  const auto second = gp.download();
  EXPECT_EQ(0, std::memcmp(first.data(), second.data(), first.size() * sizeof(float))) << "not deterministic";
}

std::vector<AdamCase> cases(BackendKind k) {
  // The model's 415,792 trainable parameters (10 classes) in one arena, the 21-class variant, and
  // awkward sizes (one parameter, fewer than a block, just over a block, more than one grid-stride
  // pass of the kernel).
  std::vector<AdamCase> v;
  for (std::int64_t n : {415792, 416563, 1, 7, 257, 4097}) v.push_back({k, n});
  if (k != BackendKind::sim) v.push_back({k, 1000003});
  return v;
}

std::string case_name(const ::testing::TestParamInfo<AdamCase>& info) { return "n" + std::to_string(info.param.n); }

LC_INSTANTIATE_PER_BACKEND_CASES(AdamTest, cases, case_name);

// The reference implementation against the same double model (it is the truth for nothing else
// here, but the runtime's golden tests use it).
TEST(RefAdam, MatchesDoublePrecisionAdam) {
  const std::int64_t n = 1001;
  const AdamArgs a{n};
  auto p = random_floats(n, 77);
  DoubleAdam truth(p);
  std::vector<float> m(n, 0.f), v(n, 0.f);
  AdamState st;
  for (int s = 0; s < 3; ++s) {
    const auto g = gradients(n, 500 + s);
    ref::adam_update(a, p.data(), g.data(), m.data(), v.data(), &st, nullptr);
    truth.step(g, a);
  }
  EXPECT_TRUE(within(p, truth.p, truth.ep, "ref params"));
  EXPECT_TRUE(within(m, truth.m, truth.em, "ref m"));
  EXPECT_TRUE(within(v, truth.v, truth.ev, "ref v"));
  EXPECT_EQ(st.step, 3);
}

}  // namespace
}  // namespace lc::test

// Dense layer: every implementation against the reference (forward with and without the fused
// ELU, the three backward products), guard regions, run-to-run determinism, and the reference's
// analytic gradients (through the ELU epilogue, as the runtime composes them) against finite
// differences.
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <string>

#include "kernels/dense/dense.h"
#include "kernels/elu/elu.h"
#include "tests/support/gradcheck.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

// Tolerance. Every output is a float sum of K products (K = in for y, out for dx, n for dW and
// db). Rounding errors of a float sum of K terms have random signs; their total stays below
// c * sqrt(K) * 2^-24 * S, where S = sum_k |a_k b_k| is the sum of the magnitudes (computed by the
// reference on |x|, |W|, |b|, |dy|). c = 8 leaves a wide margin for any summation order (tiled,
// split-K, BLAS blocking) and for FMA contraction, yet a single missing or doubled term (about
// S / K) exceeds it for every K >= 4 (at K = 2048 by 20x). ELU is 1-Lipschitz, so the bound
// carries through the epilogue; 2e-7 absolute covers expm1f's few ulp near -1.
constexpr double kSumC = 8.0;
constexpr double kEps = 1.0 / (1 << 24);
constexpr double kAbs = 2e-7;

std::vector<float> abs_of(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = std::fabs(v[i]);
  return r;
}

::testing::AssertionResult within_bounds(const std::vector<float>& actual, const std::vector<float>& expected,
                                         const std::vector<float>& mag, std::int64_t k, const std::string& what) {
  std::size_t bad = 0;
  std::string first;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double tol = kSumC * std::sqrt(double(k > 0 ? k : 1)) * kEps * mag[i] + kAbs;
    const double err = std::fabs(double(actual[i]) - double(expected[i]));
    if (!std::isfinite(actual[i]) || !(err <= tol)) {
      if (bad < 5)
        first += "\n  [" + std::to_string(i) + "] actual " + std::to_string(actual[i]) + " expected " +
                 std::to_string(expected[i]) + " tol " + std::to_string(tol);
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << actual.size() << " differ" << first;
}

// Bitwise equality (memcmp is not allowed on the null data() of empty vectors).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void forward_on(BackendKind k, const DenseArgs& a, const float* x, const float* w, const float* b, float* y,
                stream_t s) {
  LC_DISPATCH(k, dense_forward, a, x, w, b, y, s);
}
void backward_on(BackendKind k, const DenseArgs& a, const float* x, const float* w, const float* dy, float* dx,
                 float* dw, float* db, stream_t s) {
  LC_DISPATCH(k, dense_backward, a, x, w, dy, dx, dw, db, s);
}

struct DenseCase {
  BackendKind kind;
  std::int64_t n;
  int in, out;
  bool elu;
  bool bias;
};

std::string describe(const DenseCase& c) {
  return "n=" + std::to_string(c.n) + " in=" + std::to_string(c.in) + " out=" + std::to_string(c.out) +
         (c.elu ? " elu" : "") + (c.bias ? "" : " no-bias");
}

void PrintTo(const DenseCase& c, std::ostream* os) { *os << label_of(c.kind) << " " << describe(c); }

class DenseTest : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseTest, ForwardAndBackwardMatchReference) {
  const DenseCase c = GetParam();
  auto be = backend_or_skip(c.kind);
  if (!be) return;
  const std::string what = describe(c);
  const DenseArgs a{c.n, c.in, c.out, c.elu ? DenseActivation::elu : DenseActivation::none};
  const std::uint64_t seed = std::uint64_t(c.n) * 1000003u + std::uint64_t(c.in) * 1009u + std::uint64_t(c.out);
  SCOPED_TRACE(what + " seed " + std::to_string(seed));
  const float glorot = std::sqrt(6.f / float(c.in + c.out));
  auto x = random_floats(std::size_t(c.n) * c.in, seed + 1);
  auto w = random_floats(std::size_t(c.in) * c.out, seed + 2, -glorot, glorot);
  auto b = random_floats(std::size_t(c.out), seed + 3, -0.5f, 0.5f);
  auto dy = random_floats(std::size_t(c.n) * c.out, seed + 4);
  const float* bref = c.bias ? b.data() : nullptr;

  // Reference results, and the magnitude sums S (the reference on absolute values, no ELU).
  std::vector<float> y_ref(c.n * c.out), dx_ref(c.n * c.in), dw_ref(std::size_t(c.in) * c.out), db_ref(c.out);
  ref::dense_forward(a, x.data(), w.data(), bref, y_ref.data(), nullptr);
  ref::dense_backward(a, x.data(), w.data(), dy.data(), dx_ref.data(), dw_ref.data(), db_ref.data(), nullptr);
  const DenseArgs lin{c.n, c.in, c.out, DenseActivation::none};
  const auto ax = abs_of(x), aw = abs_of(w), ab = abs_of(b), ady = abs_of(dy);
  std::vector<float> y_mag(c.n * c.out), dx_mag(c.n * c.in), dw_mag(std::size_t(c.in) * c.out), db_mag(c.out);
  ref::dense_forward(lin, ax.data(), aw.data(), c.bias ? ab.data() : nullptr, y_mag.data(), nullptr);
  ref::dense_backward(lin, ax.data(), aw.data(), ady.data(), dx_mag.data(), dw_mag.data(), db_mag.data(), nullptr);

  Guarded<float> gx(*be, x), gw(*be, w), gb(*be, b), gdy(*be, dy);
  Guarded<float> gy(*be, y_ref.size()), gdx(*be, dx_ref.size()), gdw(*be, dw_ref.size()), gdb(*be, db_ref.size());
  forward_on(c.kind, a, gx.get(), gw.get(), c.bias ? gb.get() : nullptr, gy.get(), be->stream());
  const auto y = gy.download();
  EXPECT_TRUE(within_bounds(y, y_ref, y_mag, c.in, "forward " + what));
  backward_on(c.kind, a, gx.get(), gw.get(), gdy.get(), gdx.get(), gdw.get(), gdb.get(), be->stream());
  const auto dx = gdx.download(), dw = gdw.download(), db = gdb.download();
  EXPECT_TRUE(within_bounds(dx, dx_ref, dx_mag, c.out, "backward dx " + what));
  EXPECT_TRUE(within_bounds(dw, dw_ref, dw_mag, c.n, "backward dW " + what));
  EXPECT_TRUE(within_bounds(db, db_ref, db_mag, c.n, "backward db " + what));
  EXPECT_TRUE(gy.guards_intact() && gdx.guards_intact() && gdw.guards_intact() && gdb.guards_intact())
      << "dense wrote outside an output, " << what;

  // Deterministic: a second run gives the same bits (into re-poisoned outputs, so a second call
  // that writes nothing fails). dx = nullptr skips dx and nothing else.
  gy.poison();
  forward_on(c.kind, a, gx.get(), gw.get(), c.bias ? gb.get() : nullptr, gy.get(), be->stream());
  Guarded<float> gdw2(*be, dw_ref.size()), gdb2(*be, db_ref.size());
  backward_on(c.kind, a, gx.get(), gw.get(), gdy.get(), nullptr, gdw2.get(), gdb2.get(), be->stream());
  const auto y2 = gy.download(), dw2 = gdw2.download(), db2 = gdb2.download();
  EXPECT_TRUE(same_bits(y, y2)) << "forward not deterministic, " << what;
  EXPECT_TRUE(same_bits(dw, dw2)) << "dW not deterministic, " << what;
  EXPECT_TRUE(same_bits(db, db2)) << "db not deterministic, " << what;
  EXPECT_TRUE(gdw2.guards_intact() && gdb2.guards_intact()) << what;
}

// dense.h: a NaN in row r of x gives NaN in all of row r of y, also through the ELU epilogue
// (fails where an implementation clamps NaN, as cuDNN's CUDNN_NOT_PROPAGATE_NAN does); other rows
// stay finite.
TEST_P(DenseTest, NanInARowPropagatesThroughBiasAndElu) {
  const DenseCase c = GetParam();
  if (c.n < 2) GTEST_SKIP() << "needs two rows (one with a NaN, one without)";
  auto be = backend_or_skip(c.kind);
  if (!be) return;
  const DenseArgs a{c.n, c.in, c.out, c.elu ? DenseActivation::elu : DenseActivation::none};
  auto x = random_floats(std::size_t(c.n) * c.in, 71);
  const auto w = random_floats(std::size_t(c.in) * c.out, 72), b = random_floats(std::size_t(c.out), 73);
  x[std::size_t(c.in) * 1 + std::size_t(c.in) / 2] = std::numeric_limits<float>::quiet_NaN();  // row 1
  Guarded<float> gx(*be, x), gw(*be, w), gb(*be, b), gy(*be, std::size_t(c.n) * c.out);
  forward_on(c.kind, a, gx.get(), gw.get(), c.bias ? gb.get() : nullptr, gy.get(), be->stream());
  const auto y = gy.download();
  for (int o = 0; o < c.out; ++o) {
    EXPECT_TRUE(std::isnan(y[std::size_t(c.out) + o])) << describe(c) << ": y[1][" << o << "] = " << y[c.out + o];
    EXPECT_TRUE(std::isfinite(y[o])) << describe(c) << ": y[0][" << o << "] = " << y[o];
  }
}

std::vector<DenseCase> cases(BackendKind k) {
  std::vector<DenseCase> v = {
      // The model at batch 16: 2048 -> 128 (ELU), 128 -> 64 (ELU), 64 -> 10 classes.
      {k, 16, 2048, 128, true, true},
      {k, 16, 128, 64, true, true},
      {k, 16, 64, 10, false, true},
      // Awkward: batch 1, tiny and odd sizes, 21 classes, no bias, the small/large tile switch
      // (n = 32 / 33), partial tiles everywhere, an empty batch.
      {k, 1, 2048, 128, true, true},
      {k, 1, 7, 3, false, true},
      {k, 3, 1, 1, true, true},
      {k, 5, 33, 17, true, false},
      {k, 16, 64, 21, false, true},
      {k, 32, 50, 70, true, true},
      {k, 33, 65, 21, false, true},
      {k, 70, 100, 10, true, true},
      {k, 0, 9, 5, true, true},
  };
  // The first dense layer at a segmentation batch (1024 rows). The emulator gets 48 rows: the
  // same kernel configuration (more than 32 rows) with a partial row tile, in a fraction of the time.
  v.push_back({k, k == BackendKind::sim ? 48 : 1024, 2048, 128, true, true});
  return v;
}

std::string case_name(const ::testing::TestParamInfo<DenseCase>& info) {
  const DenseCase& c = info.param;
  return "n" + std::to_string(c.n) + "_in" + std::to_string(c.in) + "_out" + std::to_string(c.out) +
         (c.elu ? "_elu" : "") + (c.bias ? "" : "_nobias");
}

LC_INSTANTIATE_PER_BACKEND_CASES(DenseTest, cases, case_name);

// The reference's analytic gradients against central differences of the reference forward, for
// L = sum_{r,o} R[r][o] * elu(x W + b)[r][o], with the gradient composed as the runtime does it:
// dz = elu_backward(y, R), then dense_backward(x, W, dz). ELU (alpha 1) has a continuous first
// derivative, so no point needs skipping. h = 1e-2: the truncation error h^2/6 * |L'''| is below
// 1e-5 here; y is rounded to float (|L| ~ 5, so ~1e-6) and divided by 2h: ~1e-4 at worst. 5e-4
// bounds both while a wrong index or a missing term (gradients are O(0.1..1)) is far larger.
TEST(RefDense, GradientMatchesFiniteDifferences) {
  const std::int64_t n = 3;
  const int in = 5, out = 4;
  const DenseArgs a{n, in, out, DenseActivation::elu};
  auto x = random_floats(n * in, 11, -1.5f, 1.5f);
  auto w = random_floats(in * out, 12, -1.f, 1.f);
  auto b = random_floats(out, 13, -0.5f, 0.5f);
  auto r = random_floats(n * out, 14, -1.f, 1.f);

  auto loss = [&](const std::vector<float>& xv, const std::vector<float>& wv, const std::vector<float>& bv) {
    std::vector<float> y(n * out);
    ref::dense_forward(a, xv.data(), wv.data(), bv.data(), y.data(), nullptr);
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += double(r[i]) * y[i];
    return s;
  };
  std::vector<float> y(n * out), dz(n * out), dx(n * in), dw(in * out), db(out);
  ref::dense_forward(a, x.data(), w.data(), b.data(), y.data(), nullptr);
  ref::elu_backward(EluArgs{n * out}, y.data(), r.data(), dz.data(), nullptr);
  ref::dense_backward(a, x.data(), w.data(), dz.data(), dx.data(), dw.data(), db.data(), nullptr);

  GradCheckOptions o;
  o.h = 1e-2f;
  o.atol = 5e-4;
  auto l = [&] { return loss(x, w, b); };
  check_gradient("dx", x, dx, l, o);
  check_gradient("dW", w, dw, l, o);
  check_gradient("db", b, db, l, o);
}

}  // namespace
}  // namespace lc::test

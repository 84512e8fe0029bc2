// ELU: every implementation against the reference, guard regions, in-place use, and the
// reference's analytic gradient against finite differences.
#include <cmath>
#include <limits>

#include "kernels/elu/elu.h"
#include "tests/support/gradcheck.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

// Tolerances: expm1f on the GPU and in libm are within a few ulp; the reference rounds a
// double result once. 1e-6 absolute covers the ulp of values near -1.
constexpr Tolerance kTol{1e-6, 1e-6};

void elu_forward_on(BackendKind k, const EluArgs& a, const float* x, float* y, stream_t s) {
  LC_DISPATCH(k, elu_forward, a, x, y, s);
}
void elu_backward_on(BackendKind k, const EluArgs& a, const float* y, const float* dy, float* dx, stream_t s) {
  LC_DISPATCH(k, elu_backward, a, y, dy, dx, s);
}

struct EluCase {
  BackendKind kind;
  std::int64_t n;
};

class EluTest : public ::testing::TestWithParam<EluCase> {};

TEST_P(EluTest, ForwardAndBackwardMatchReference) {
  const auto [kind, n] = GetParam();
  auto be = backend_or_skip(kind);
  if (!be) return;
  EluArgs a{n};
  auto x = random_floats(n, 1000 + n, -4.f, 4.f);
  auto dy = random_floats(n, 2000 + n);
  std::vector<float> y_ref(n), dx_ref(n);
  ref::elu_forward(a, x.data(), y_ref.data(), nullptr);
  ref::elu_backward(a, y_ref.data(), dy.data(), dx_ref.data(), nullptr);

  Guarded<float> gx(*be, x), gy(*be, n), gdy(*be, dy), gdx(*be, n);
  elu_forward_on(kind, a, gx.get(), gy.get(), be->stream());
  EXPECT_TRUE(all_close(gy.download(), y_ref, kTol, "elu forward n=" + std::to_string(n)));
  elu_backward_on(kind, a, gy.get(), gdy.get(), gdx.get(), be->stream());
  EXPECT_TRUE(all_close(gdx.download(), dx_ref, kTol, "elu backward n=" + std::to_string(n)));
  EXPECT_TRUE(gy.guards_intact() && gdx.guards_intact()) << "elu wrote outside its output, n=" << n;

  // In place: x and y the same buffer, dy and dx the same buffer.
  elu_forward_on(kind, a, gx.get(), gx.get(), be->stream());
  EXPECT_TRUE(all_close(gx.download(), y_ref, kTol, "elu forward in place"));
  elu_backward_on(kind, a, gx.get(), gdy.get(), gdy.get(), be->stream());
  EXPECT_TRUE(all_close(gdy.download(), dx_ref, kTol, "elu backward in place"));
}

// NaN in, NaN out (elu.h), forward and backward; +-inf follow the formula (inf, -1; dx as the
// formula gives). Fails where an implementation clamps NaN (cuDNN's CUDNN_NOT_PROPAGATE_NAN).
TEST_P(EluTest, NanPropagates) {
  const auto [kind, n] = GetParam();
  if (n < 4) GTEST_SKIP() << "needs 4 elements for NaN, +inf, -inf and a finite value";
  auto be = backend_or_skip(kind);
  if (!be) return;
  const EluArgs a{n};
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto x = random_floats(n, 3000 + n, -4.f, 4.f);
  auto dy = random_floats(n, 4000 + n);
  x[0] = nan, x[1] = inf, x[2] = -inf;
  dy[n - 1] = nan;
  Guarded<float> gx(*be, x), gy(*be, n), gdy(*be, dy), gdx(*be, n);
  elu_forward_on(kind, a, gx.get(), gy.get(), be->stream());
  const auto y = gy.download();
  EXPECT_TRUE(std::isnan(y[0])) << "elu forward of NaN gave " << y[0];
  EXPECT_EQ(y[1], inf);
  EXPECT_EQ(y[2], -1.f);
  elu_backward_on(kind, a, gy.get(), gdy.get(), gdx.get(), be->stream());
  const auto dx = gdx.download();
  EXPECT_TRUE(std::isnan(dx[0])) << "elu backward with y NaN gave " << dx[0];
  EXPECT_TRUE(std::isnan(dx[n - 1])) << "elu backward with dy NaN gave " << dx[n - 1];
  EXPECT_EQ(dx[1], dy[1]);
}

std::vector<EluCase> cases(BackendKind k) {
  // The model's activation sizes at batch 16 (conv outputs) and awkward ones.
  std::vector<EluCase> v;
  for (std::int64_t n : {1, 3, 1023, 16 * 64 * 64 * 16, 16 * 32 * 32 * 32, 16 * 8 * 8 * 128, 16 * 128, 7 * 5 * 3})
    v.push_back({k, n});
  return v;
}

std::string case_name(const ::testing::TestParamInfo<EluCase>& info) {
  return "n" + std::to_string(info.param.n);
}

LC_INSTANTIATE_PER_BACKEND_CASES(EluTest, cases, case_name);

// The reference's analytic gradient against central differences of the reference forward,
// away from the kink at 0. h = 1e-2: truncation error h^2/6 * max|f'''| <= 2e-5, float rounding
// of y (|y| <= 3) over 2h <= 1.2e-5, so 1e-4 is a safe bound.
TEST(RefElu, GradientMatchesFiniteDifferences) {
  const std::int64_t n = 257;
  const float h = 1e-2f;
  auto x = random_floats(n, 7, -3.f, 3.f);
  std::vector<float> y(n), dx(n), ones(n, 1.f);
  ref::elu_forward(EluArgs{n}, x.data(), y.data(), nullptr);
  ref::elu_backward(EluArgs{n}, y.data(), ones.data(), dx.data(), nullptr);
  // L = sum(elu(x)): dL/dx_i = elu'(x_i). Entries within 2h of the kink at 0 are skipped.
  std::vector<std::size_t> away;
  for (std::int64_t i = 0; i < n; ++i)
    if (std::fabs(x[std::size_t(i)]) >= 2 * h) away.push_back(std::size_t(i));
  ASSERT_GT(away.size(), std::size_t(n / 2));
  auto loss = [&] {
    std::vector<float> ys(n);
    ref::elu_forward(EluArgs{n}, x.data(), ys.data(), nullptr);
    double l = 0;
    for (float v : ys) l += v;
    return l;
  };
  GradCheckOptions o;
  o.h = h;
  o.atol = 1e-4;
  check_gradient("dx", x, dx, loss, o, away);
}

}  // namespace
}  // namespace lc::test

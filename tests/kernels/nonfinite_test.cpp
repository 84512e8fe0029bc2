// NaN and Inf propagation through the training ops, on every backend: a non-finite input must
// show up as non-finite exactly in the outputs that depend on it (and nowhere else), never be
// silently dropped or turned into a number. The expected patterns are written out here from the
// ops' definitions (receptive fields, rows, channels), not taken from the reference.
//   dense     NaN in x row r: y row r all NaN; +Inf in x[r][i] (no activation): y[r][o] = +-Inf
//             with the sign of W[i][o]; NaN in dy[r][o]: dx row r, dW column o and db[o] NaN.
//   conv2d    NaN in x at (n, i, j): y NaN at (n, i', j', every k) with |i' - i| <= r/2,
//             |j' - j| <= s/2, finite elsewhere.
//   batchnorm NaN in one element of channel c (training): y, save_mean, moving mean and variance
//             of channel c NaN; the other channels finite.
//   adam      NaN gradient at i: parameter, m and v at i NaN; +Inf gradient at j: parameter at j
//             not finite; every other parameter finite.
//   softmax-CE NaN logit in row r: the loss NaN, dlogits row r NaN, other rows finite.
// Depends on: kernels (dense, conv2d, batchnorm, adam, softmax_ce), tests/support/testing.h.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/adam/adam.h"
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/dense/dense.h"
#include "kernels/softmax_ce/softmax_ce.h"
#include "runtime/backend.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

class NonFiniteTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(NonFiniteTest, Dense) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const int n = 3, in = 6, out = 5;
  auto x = random_floats(n * in, 1), w = random_floats(in * out, 2), b = random_floats(out, 3);
  auto dy = random_floats(n * out, 4);
  for (float& v : w)
    if (v == 0.f) v = 0.5f;
  x[std::size_t(0 * in + 2)] = kNaN;  // row 0
  x[std::size_t(2 * in + 4)] = kInf;  // row 2, input 4
  dy[std::size_t(1 * out + 3)] = kNaN;  // row 1, output 3
  const DenseArgs a{n, in, out, DenseActivation::none};
  Guarded<float> gx(*be, x), gw(*be, w), gb(*be, b), gdy(*be, dy), gy(*be, std::size_t(n * out)),
      gdx(*be, std::size_t(n * in)), gdw(*be, std::size_t(in * out)), gdb(*be, std::size_t(out));
  const BackendKind k = GetParam();
  const stream_t s = be->stream();
  [&] { LC_DISPATCH(k, dense_forward, a, gx.get(), gw.get(), gb.get(), gy.get(), s); }();
  const auto y = gy.download();
  for (int o = 0; o < out; ++o) {
    EXPECT_TRUE(std::isnan(y[std::size_t(o)])) << "y[0][" << o << "]";
    EXPECT_TRUE(std::isfinite(y[std::size_t(out + o)])) << "y[1][" << o << "]";
    const float want = w[std::size_t(4 * out + o)] > 0 ? kInf : -kInf;
    EXPECT_EQ(y[std::size_t(2 * out + o)], want) << "y[2][" << o << "]";
  }
  x[std::size_t(0 * in + 2)] = 0.5f, x[std::size_t(2 * in + 4)] = 0.25f;  // backward from finite x
  gx.upload(x);
  [&] { LC_DISPATCH(k, dense_backward, a, gx.get(), gw.get(), gdy.get(), gdx.get(), gdw.get(), gdb.get(), s); }();
  const auto dx = gdx.download(), dw = gdw.download(), db = gdb.download();
  for (int r = 0; r < n; ++r)
    for (int i = 0; i < in; ++i)
      EXPECT_EQ(std::isnan(dx[std::size_t(r * in + i)]), r == 1) << "dx[" << r << "][" << i << "]";
  for (int i = 0; i < in; ++i)
    for (int o = 0; o < out; ++o)
      EXPECT_EQ(std::isnan(dw[std::size_t(i * out + o)]), o == 3) << "dW[" << i << "][" << o << "]";
  for (int o = 0; o < out; ++o) EXPECT_EQ(std::isnan(db[std::size_t(o)]), o == 3) << "db[" << o << "]";
  for (float v : dx) EXPECT_FALSE(std::isinf(v));
}

TEST_P(NonFiniteTest, Conv2d) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  Conv2dArgs a;
  a.n = 2, a.h = 7, a.w = 9, a.c = 3, a.k = 4, a.r = 3, a.s = 5;
  auto x = random_floats(std::size_t(a.n * a.h * a.w * a.c), 5);
  const auto wt = random_floats(std::size_t(a.k * a.r * a.s * a.c), 6), b = random_floats(std::size_t(a.k), 7);
  const int n0 = 1, i0 = 3, j0 = 1, c0 = 2;
  x[std::size_t(((n0 * a.h + i0) * a.w + j0) * a.c + c0)] = kNaN;
  const BackendKind k = GetParam();
  const std::size_t wsb = [&]() -> std::size_t { LC_DISPATCH(k, conv2d_workspace_bytes, a); }();
  Guarded<float> gx(*be, x), gwt(*be, wt), gb(*be, b), gy(*be, std::size_t(a.n * a.h * a.w * a.k));
  Guarded<unsigned char> gws(*be, wsb);
  const Workspace ws{wsb ? gws.get() : nullptr, wsb};
  const stream_t s = be->stream();
  [&] { LC_DISPATCH(k, conv2d_forward, a, gx.get(), gwt.get(), gb.get(), gy.get(), ws, s); }();
  const auto y = gy.download();
  for (int n = 0; n < a.n; ++n)
    for (int i = 0; i < a.h; ++i)
      for (int j = 0; j < a.w; ++j)
        for (int q = 0; q < a.k; ++q) {
          const bool reached = n == n0 && std::abs(i - i0) <= a.r / 2 && std::abs(j - j0) <= a.s / 2;
          const float v = y[std::size_t(((n * a.h + i) * a.w + j) * a.k + q)];
          EXPECT_EQ(std::isnan(v), reached) << "y(" << n << "," << i << "," << j << "," << q << ") = " << v;
          if (!reached) {
            EXPECT_TRUE(std::isfinite(v));
          }
        }
}

TEST_P(NonFiniteTest, BatchNormTraining) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  BatchNormArgs a;
  a.n = 2, a.h = 3, a.w = 4, a.c = 5;
  auto x = random_floats(std::size_t(a.elements()), 8);
  const int c0 = 3;
  x[std::size_t(7 * a.c + c0)] = kNaN;
  const auto gamma = random_floats(5, 9, 0.5f, 1.5f), beta = random_floats(5, 10);
  const std::vector<float> mm0(5, 0.1f), mv0(5, 1.2f);
  const BackendKind k = GetParam();
  const std::size_t wsb = [&]() -> std::size_t { LC_DISPATCH(k, batchnorm_workspace_bytes, a); }();
  Guarded<float> gx(*be, x), gg(*be, gamma), gbt(*be, beta), gmm(*be, mm0), gmv(*be, mv0),
      gy(*be, x.size()), gsm(*be, 5), gsis(*be, 5);
  Guarded<unsigned char> gws(*be, wsb);
  const Workspace ws{wsb ? gws.get() : nullptr, wsb};
  const stream_t s = be->stream();
  [&] {
    LC_DISPATCH(k, batchnorm_forward_training, a, gx.get(), gg.get(), gbt.get(), gy.get(), gmm.get(), gmv.get(),
                gsm.get(), gsis.get(), ws, s);
  }();
  const auto y = gy.download(), sm = gsm.download(), mm = gmm.download(), mv = gmv.download();
  for (std::size_t i = 0; i < y.size(); ++i)
    EXPECT_EQ(std::isnan(y[i]), int(i % 5) == c0) << "y[" << i << "] = " << y[i];
  for (int ch = 0; ch < 5; ++ch) {
    EXPECT_EQ(std::isnan(sm[std::size_t(ch)]), ch == c0) << "save_mean[" << ch << "]";
    EXPECT_EQ(std::isnan(mm[std::size_t(ch)]), ch == c0) << "moving_mean[" << ch << "]";
    EXPECT_EQ(std::isnan(mv[std::size_t(ch)]), ch == c0) << "moving_var[" << ch << "]";
  }
}

TEST_P(NonFiniteTest, Adam) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const std::int64_t n = 1000;
  const auto p0 = random_floats(std::size_t(n), 11);
  auto g = random_floats(std::size_t(n), 12);
  g[17] = kNaN;
  g[600] = kInf;
  const std::vector<float> zeros(std::size_t(n), 0.f);
  Guarded<float> gp(*be, p0), gg(*be, g), gm(*be, zeros), gv(*be, zeros);
  Guarded<AdamState> gst(*be, std::vector<AdamState>(1));
  AdamArgs a;
  a.n = n;
  const BackendKind k = GetParam();
  const stream_t s = be->stream();
  [&] { LC_DISPATCH(k, adam_update, a, gp.get(), gg.get(), gm.get(), gv.get(), gst.get(), s); }();
  const auto p = gp.download(), m = gm.download(), v = gv.download();
  EXPECT_TRUE(std::isnan(p[17]) && std::isnan(m[17]) && std::isnan(v[17])) << p[17] << " " << m[17] << " " << v[17];
  EXPECT_FALSE(std::isfinite(p[600])) << p[600];
  for (std::size_t i = 0; i < p.size(); ++i)
    if (i != 17 && i != 600) {
      ASSERT_TRUE(std::isfinite(p[i]) && std::isfinite(m[i]) && std::isfinite(v[i])) << i;
    }
}

TEST_P(NonFiniteTest, SoftmaxCrossEntropy) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const std::int64_t n = 4;
  const int classes = 6;
  auto z = random_floats(std::size_t(n * classes), 13, -2.f, 2.f);
  z[std::size_t(2 * classes + 1)] = kNaN;
  const std::vector<std::int32_t> labels = {0, 5, 3, 2};
  Guarded<float> gz(*be, z), gdz(*be, z.size()), gloss(*be, 1);
  Guarded<std::int32_t> gl(*be, labels), gpred(*be, std::size_t(n));
  const SoftmaxCeArgs a{n, classes};
  const BackendKind k = GetParam();
  const stream_t s = be->stream();
  [&] { LC_DISPATCH(k, softmax_ce, a, gz.get(), gl.get(), gloss.get(), gdz.get(), gpred.get(), nullptr, s); }();
  EXPECT_TRUE(std::isnan(gloss.download()[0])) << "the loss of a batch with a NaN logit";
  const auto dz = gdz.download();
  for (std::size_t i = 0; i < dz.size(); ++i)
    EXPECT_EQ(std::isnan(dz[i]), i / classes == 2) << "dlogits[" << i << "] = " << dz[i];
}

LC_INSTANTIATE_PER_BACKEND(NonFiniteTest);

// The poison pattern of Guarded (tests/support/testing.h) reads as no number: NaN as float and
// double, and an unwritten output therefore fails every comparison.
TEST(CpuTestSupport, PoisonIsNotANumber) {
  Backend be(BackendKind::cpu);
  Guarded<float> f(be, 5);
  for (float v : f.download()) EXPECT_TRUE(std::isnan(v));
  Guarded<double> d(be, 3);
  for (double v : d.download()) EXPECT_TRUE(std::isnan(v));
  Guarded<std::int32_t> i(be, 2);
  for (std::int32_t v : i.download()) EXPECT_GT(v, 1 << 30);
  f.upload({1, 2, 3, 4, 5});
  f.poison();
  for (float v : f.download()) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(f.guards_intact() && d.guards_intact() && i.guards_intact());
  EXPECT_FALSE(all_close(f.download(), std::vector<float>(5, 0.f), Tolerance{1e-3, 0}));
}

}  // namespace
}  // namespace lc::test

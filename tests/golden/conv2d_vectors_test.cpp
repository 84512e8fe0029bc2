// Conv2d on every backend against vectors from an independent implementation (PyTorch float64,
// tests/golden/make_conv2d_vectors.py, committed as tests/golden/conv2d_vectors.bin): non-square
// (3x5, 5x3, 1x7), 1x1 and 7x7 filters, one larger than its image. Forward (linear and with the
// fused ELU), backward data and backward weights. The kernel tests compare with lc::ref; these
// catch a padding or layout convention that the reference and the kernels share.
// Tolerance, per element: float32 summation of T products in any order is off by at most
// T * 2^-24 * (the sum of the products' magnitudes), which the generator stores (mag_*); the test
// allows twice that plus 1e-7 (T = r*s*c forward, k*r*s for dx, n*h*w for dw and db). The fused
// ELU adds expm1f's error: 4 ulp of the result. A shifted window or swapped padding is off by
// O(1) relative to these.
// Depends on: kernels/conv2d/conv2d.h, tests/golden/golden_file.h, tests/support/testing.h.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kernels/conv2d/conv2d.h"
#include "tests/golden/golden_file.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

std::string vectors_path() { return std::string(LC_SOURCE_DIR) + "/tests/golden/conv2d_vectors.bin"; }

::testing::AssertionResult near_all(const std::vector<float>& got, const std::vector<double>& want,
                                    const std::vector<double>& mag, double terms, bool elu, const std::string& what) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": size " << got.size();
  std::size_t bad = 0;
  std::string first;
  for (std::size_t i = 0; i < got.size(); ++i) {
    double tol = 2 * terms * std::ldexp(1.0, -24) * mag[i] + 1e-7;
    if (elu) tol += 4 * std::ldexp(std::fabs(want[i]), -23);
    const double d = std::fabs(double(got[i]) - want[i]);
    if (!(d <= tol)) {
      if (bad < 4) first += "\n  [" + std::to_string(i) + "] " + std::to_string(got[i]) + " vs " + std::to_string(want[i]);
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << got.size() << " elements off" << first;
}

class Conv2dVectorsTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(Conv2dVectorsTest, MatchPyTorchFloat64) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const BackendKind kind = GetParam();
  const GoldenFile g = GoldenFile::load(vectors_path());
  const int cases = g.i32_scalar("config.cases");
  ASSERT_GE(cases, 6);
  Device& dev = be->device();
  const stream_t s = be->stream();
  for (int i = 0; i < cases; ++i) {
    const std::string p = "case" + std::to_string(i);
    const auto sh = g.i32(p + ".shape");
    Conv2dArgs a;
    a.n = sh[0], a.h = sh[1], a.w = sh[2], a.c = sh[3], a.k = sh[4], a.r = sh[5], a.s = sh[6];
    const std::string what = label_of(kind) + " " + p + " " + std::to_string(a.r) + "x" + std::to_string(a.s) +
                             " filter on " + std::to_string(a.h) + "x" + std::to_string(a.w);
    SCOPED_TRACE(what);
    const auto x = g.f32(p + ".x"), w = g.f32(p + ".w"), b = g.f32(p + ".b"), dy = g.f32(p + ".dy");
    Guarded<float> gx(dev, s, x), gw(dev, s, w), gb(dev, s, b), gdy(dev, s, dy), gy(dev, s, dy.size()),
        gdx(dev, s, x.size()), gdw(dev, s, w.size()), gdb(dev, s, b.size());
    auto ws_for = [&](const Conv2dArgs& args) -> std::size_t { LC_DISPATCH(kind, conv2d_workspace_bytes, args); };
    Conv2dArgs ae = a;
    ae.fuse_elu = true;
    const std::size_t wsb = std::max(ws_for(a), ws_for(ae));
    Guarded<unsigned char> gws(dev, s, wsb);
    const Workspace ws{wsb ? gws.get() : nullptr, wsb};

    [&] { LC_DISPATCH(kind, conv2d_forward, a, gx.get(), gw.get(), gb.get(), gy.get(), ws, s); }();
    const double t_fwd = double(a.r) * a.s * a.c + 1;
    EXPECT_TRUE(near_all(gy.download(), g.f64(p + ".z"), g.f64(p + ".mag_z"), t_fwd, false, what + " forward"));
    gy.poison();
    [&] { LC_DISPATCH(kind, conv2d_forward, ae, gx.get(), gw.get(), gb.get(), gy.get(), ws, s); }();
    EXPECT_TRUE(near_all(gy.download(), g.f64(p + ".y_elu"), g.f64(p + ".mag_z"), t_fwd, true, what + " forward elu"));
    [&] { LC_DISPATCH(kind, conv2d_backward_data, a, gdy.get(), gw.get(), gdx.get(), ws, s); }();
    EXPECT_TRUE(near_all(gdx.download(), g.f64(p + ".dx"), g.f64(p + ".mag_dx"), double(a.k) * a.r * a.s, false,
                         what + " backward data"));
    [&] { LC_DISPATCH(kind, conv2d_backward_weights, a, gx.get(), gdy.get(), gdw.get(), gdb.get(), ws, s); }();
    const double t_w = double(a.n) * a.h * a.w;
    EXPECT_TRUE(near_all(gdw.download(), g.f64(p + ".dw"), g.f64(p + ".mag_dw"), t_w, false, what + " dw"));
    EXPECT_TRUE(near_all(gdb.download(), g.f64(p + ".db"), g.f64(p + ".mag_db"), t_w, false, what + " db"));
    EXPECT_TRUE(gy.guards_intact() && gdx.guards_intact() && gdw.guards_intact() && gdb.guards_intact() &&
                gws.guards_intact())
        << what << ": wrote outside an output";
  }
}

LC_INSTANTIATE_PER_BACKEND(Conv2dVectorsTest);

// The reference itself against the same vectors (it is the truth of the kernel tests).
TEST(RefConv2dVectors, MatchPyTorchFloat64) {
  const GoldenFile g = GoldenFile::load(vectors_path());
  for (int i = 0; i < g.i32_scalar("config.cases"); ++i) {
    const std::string p = "case" + std::to_string(i);
    const auto sh = g.i32(p + ".shape");
    Conv2dArgs a;
    a.n = sh[0], a.h = sh[1], a.w = sh[2], a.c = sh[3], a.k = sh[4], a.r = sh[5], a.s = sh[6];
    const auto x = g.f32(p + ".x"), w = g.f32(p + ".w"), b = g.f32(p + ".b"), dy = g.f32(p + ".dy");
    std::vector<float> z(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
    ref::conv2d_forward(a, x.data(), w.data(), b.data(), z.data(), {}, nullptr);
    ref::conv2d_backward_data(a, dy.data(), w.data(), dx.data(), {}, nullptr);
    ref::conv2d_backward_weights(a, x.data(), dy.data(), dw.data(), db.data(), {}, nullptr);
    const double t_fwd = double(a.r) * a.s * a.c + 1, t_w = double(a.n) * a.h * a.w;
    EXPECT_TRUE(near_all(z, g.f64(p + ".z"), g.f64(p + ".mag_z"), t_fwd, false, p + " ref forward"));
    EXPECT_TRUE(near_all(dx, g.f64(p + ".dx"), g.f64(p + ".mag_dx"), double(a.k) * a.r * a.s, false, p + " ref dx"));
    EXPECT_TRUE(near_all(dw, g.f64(p + ".dw"), g.f64(p + ".mag_dw"), t_w, false, p + " ref dw"));
    EXPECT_TRUE(near_all(db, g.f64(p + ".db"), g.f64(p + ".mag_db"), t_w, false, p + " ref db"));
  }
}

}  // namespace
}  // namespace lc::test

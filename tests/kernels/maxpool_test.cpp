// Max-pool 2x2 / 2 (kernels/maxpool/maxpool.h): every backend against the reference over the
// model's shapes and awkward ones (odd h/w, 1x1, c = 3, batch 1), guard regions, dx fully written;
// the tie / NaN rule against hand-written expectations; the reference's gradient against finite
// differences. Depends on: tests/support/testing.h.
//
// Tolerances (one table: max-pool selects and copies, it computes nothing):
//   y, dx        exact (atol 0, rtol 0)   y is one of the inputs, dx is dy or 0
//   argmax       exact                    an index
//   ref FD grad  1e-6 absolute            y copies x, so the difference quotient is exact up to
//                                         the double rounding of (L+ - L-) / (x+ - x-)
// cuDNN may give a tied window's gradient to another element (CUDNN_POOLING_MAX_DETERMINISTIC
// does not promise which): the Cudnn instantiation runs on tie-free data only, and the tie
// tests are instantiated for Sim, Cpu and Cuda (plus the forward values, which ties cannot
// change, for Cudnn).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

#include "kernels/maxpool/maxpool.h"
#include "model/bench_cases.h"
#include "model/model_spec.h"
#include "tests/support/gradcheck.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

constexpr Tolerance kExact{0.0, 0.0};

void fwd_on(BackendKind k, const MaxPoolArgs& a, const float* x, float* y, std::uint8_t* am, stream_t s) {
  LC_DISPATCH(k, maxpool_forward, a, x, y, am, s);
}
void bwd_on(BackendKind k, const MaxPoolArgs& a, const float* x, const float* y, const std::uint8_t* am,
            const float* dy, float* dx, stream_t s) {
  LC_DISPATCH(k, maxpool_backward, a, x, y, am, dy, dx, s);
}

std::string shape_str(const MaxPoolArgs& a) {
  return std::to_string(a.n) + "x" + std::to_string(a.h) + "x" + std::to_string(a.w) + "x" + std::to_string(a.c);
}

// n distinct floats (multiples of 1/1024, so neighbours differ by >= 1/1024), shuffled: no window
// has a tie.
std::vector<float> distinct_floats(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = (double(i) - double(n) / 2) / 1024.0;
  std::mt19937_64 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

// Values from {-1, 0, 1} (ties everywhere), with some -0.0, +inf and NaN mixed in.
std::vector<float> tie_heavy_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(0, 39);
  std::vector<float> v(n);
  for (auto& x : v) {
    const int r = pick(rng);
    x = r == 0 ? std::numeric_limits<float>::quiet_NaN() : r == 1 ? -0.0f : r == 2 ? INFINITY : float(r % 3 - 1);
  }
  return v;
}

::testing::AssertionResult bytes_equal(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& e,
                                       const std::string& what) {
  if (a.size() != e.size()) return ::testing::AssertionFailure() << what << ": size " << a.size() << " != " << e.size();
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != e[i] && bad++ == 0) first = i;
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << a.size() << " differ; first ["
                                       << first << "] " << int(a[first]) << " expected " << int(e[first]);
}

struct PoolCase {
  BackendKind kind;
  int n, h, w, c;
};
void PrintTo(const PoolCase& p, std::ostream* os) {
  *os << label_of(p.kind) << " " << p.n << "x" << p.h << "x" << p.w << "x" << p.c;
}

std::string case_name(const ::testing::TestParamInfo<PoolCase>& info) {
  const auto& p = info.param;
  return "n" + std::to_string(p.n) + "_" + std::to_string(p.h) + "x" + std::to_string(p.w) + "x" +
         std::to_string(p.c);
}

// Runs one backend on x against the reference: y, argmax (custom backends), dx through both
// backward modes (custom) or through x and y (cudnn). dx starts as NaN to prove it is fully written.
void check_against_reference(BackendKind kind, Backend& be, const MaxPoolArgs& a, const std::vector<float>& x,
                             std::uint64_t seed) {
  const std::string what = label_of(kind) + " maxpool " + shape_str(a) + " seed " + std::to_string(seed);
  const std::size_t nin = std::size_t(a.in_elements()), nout = std::size_t(a.out_elements());
  const auto dy = random_floats(nout, seed + 1);
  std::vector<float> y_ref(nout), dx_ref(nin), dx_ref2(nin);
  std::vector<std::uint8_t> am_ref(nout);
  ref::maxpool_forward(a, x.data(), y_ref.data(), am_ref.data(), nullptr);
  ref::maxpool_backward(a, nullptr, nullptr, am_ref.data(), dy.data(), dx_ref.data(), nullptr);
  ref::maxpool_backward(a, x.data(), nullptr, nullptr, dy.data(), dx_ref2.data(), nullptr);
  ASSERT_TRUE(all_close(dx_ref2, dx_ref, kExact, "ref: recomputed winner vs saved argmax, " + what));

  const stream_t s = be.stream();
  const std::vector<float> nan_in(nin, std::numeric_limits<float>::quiet_NaN());
  Guarded<float> gx(be, x), gy(be, nout), gdy(be, dy), gdx(be, nin);
  Guarded<std::uint8_t> gam(be, nout);
  if (kind != BackendKind::cudnn) {
    fwd_on(kind, a, gx.get(), gy.get(), gam.get(), s);
    EXPECT_TRUE(all_close(gy.download(), y_ref, kExact, what + " forward y"));
    EXPECT_TRUE(bytes_equal(gam.download(), am_ref, what + " forward argmax"));
    // argmax is optional.
    Guarded<float> gy2(be, nout);
    fwd_on(kind, a, gx.get(), gy2.get(), nullptr, s);
    EXPECT_TRUE(all_close(gy2.download(), y_ref, kExact, what + " forward y without argmax"));
    EXPECT_TRUE(gy2.guards_intact()) << what;
    // Backward from the saved argmax (x and y not given).
    gdx.upload(nan_in);
    bwd_on(kind, a, nullptr, nullptr, gam.get(), gdy.get(), gdx.get(), s);
    EXPECT_TRUE(all_close(gdx.download(), dx_ref, kExact, what + " backward from argmax"));
    // Backward recomputing the winner from x.
    gdx.upload(nan_in);
    bwd_on(kind, a, gx.get(), gy.get(), nullptr, gdy.get(), gdx.get(), s);
    EXPECT_TRUE(all_close(gdx.download(), dx_ref, kExact, what + " backward from x"));
  } else {
    fwd_on(kind, a, gx.get(), gy.get(), nullptr, s);
    EXPECT_TRUE(all_close(gy.download(), y_ref, kExact, what + " forward y"));
    gdx.upload(nan_in);
    bwd_on(kind, a, gx.get(), gy.get(), nullptr, gdy.get(), gdx.get(), s);
    EXPECT_TRUE(all_close(gdx.download(), dx_ref, kExact, what + " backward (x, y)"));
  }
  EXPECT_TRUE(gy.guards_intact() && gam.guards_intact() && gdx.guards_intact()) << what << ": wrote outside an output";
  EXPECT_TRUE(gx.guards_intact() && gdy.guards_intact()) << what << ": wrote outside an input";
}

class MaxPoolTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(MaxPoolTest, MatchesReferenceOnTieFreeData) {
  const auto p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  const MaxPoolArgs a{p.n, p.h, p.w, p.c};
  const std::uint64_t seed = 100 + std::uint64_t(a.in_elements());
  check_against_reference(p.kind, *be, a, distinct_floats(std::size_t(a.in_elements()), seed), seed);
}

std::vector<PoolCase> pool_cases(BackendKind k) {
  // The batch-norm / conv input shapes of the model (brief), the model's real pool inputs at the
  // training batch, 16 (taken from `landcover bench`'s case table, model/bench_cases.h), and
  // awkward ones: odd h / w (the dropped row / column), h or w of 1 (empty output, dx all zeros),
  // c = 1, 3, c % 4 == 0 with odd sizes (the float4 path's edges), batch 1. The emulator gets
  // batch 2 on shapes above 300k elements (its speed, not correctness, is the reason).
  std::vector<std::array<int, 4>> shapes = {{16, 64, 64, 3}, {16, 32, 32, 16}, {16, 16, 16, 32}, {16, 8, 8, 64},
                                            {16, 4, 4, 128}, {1, 64, 64, 16},  {1, 5, 7, 3},      {1, 1, 1, 1},
                                            {3, 7, 5, 8},    {2, 2, 3, 1},     {1, 3, 1, 4},      {2, 9, 9, 12},
                                            {1, 2, 2, 5}};
  const auto layers = infer_layers(parse_model_json(default_model_json(), "built-in model"), 10);
  for (const bench::OpCase& b : bench::model_cases(layers, 16, trainable_parameter_count(layers)))
    if (b.op == "maxpool_forward") shapes.push_back({b.n, b.h, b.w, b.c});
  std::vector<PoolCase> v;
  for (const auto& s : shapes) {
    PoolCase c{k, s[0], s[1], s[2], s[3]};
    if (k == BackendKind::sim && std::int64_t(c.n) * c.h * c.w * c.c > 300000) c.n = 2;
    v.push_back(c);
  }
  return v;
}

LC_INSTANTIATE_PER_BACKEND_CASES(MaxPoolTest, pool_cases, case_name);

// Ties, -0/+0, infinities and NaN everywhere: the custom backends must pick exactly the
// reference's winner (checked against hand-written expectations in the window tests below).
class MaxPoolTiesTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(MaxPoolTiesTest, FirstMaximumAndFirstNanWin) {
  const auto p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  const MaxPoolArgs a{p.n, p.h, p.w, p.c};
  const std::uint64_t seed = 900 + std::uint64_t(a.in_elements());
  check_against_reference(p.kind, *be, a, tie_heavy_floats(std::size_t(a.in_elements()), seed), seed);
}

std::vector<PoolCase> tie_cases(BackendKind k) {
  return {{k, 2, 6, 7, 5}, {k, 1, 8, 8, 8}, {k, 3, 5, 5, 3}, {k, 4, 16, 16, 16}};
}

// No cudnn: cuDNN may give a tied window's gradient to another element (see the top of the file).
INSTANTIATE_TEST_SUITE_P(Sim, MaxPoolTiesTest, ::testing::ValuesIn(tie_cases(BackendKind::sim)), case_name);
INSTANTIATE_TEST_SUITE_P(Cpu, MaxPoolTiesTest, ::testing::ValuesIn(tie_cases(BackendKind::cpu)), case_name);
INSTANTIATE_TEST_SUITE_P(Cuda, MaxPoolTiesTest, ::testing::ValuesIn(tie_cases(BackendKind::cuda)), case_name);

// Hand-written windows (values in window order k = 0..3) and the winner the contract names.
struct Window {
  float v[4];
  int k;
};
const float kNan = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();
const Window kWindows[] = {
    {{1, 1, 1, 1}, 0},         {{0, 2, 2, 1}, 1},          {{0, 1, 2, 2}, 2},       {{3, 1, 3, 3}, 0},
    {{-1, -1, 5, 5}, 2},       {{kNan, 1, 2, 3}, 0},       {{1, kNan, kNan, 3}, 1}, {{1, 2, 3, kNan}, 3},
    {{-0.f, 0.f, 0.f, 0.f}, 0}, {{-kInf, -kInf, -kInf, -kInf}, 0}, {{-2, -1, -1, -3}, 1}, {{kInf, kInf, 1, kNan}, 3},
    {{5, 4, 3, 2}, 0},
};

// x for one window per channel, shape 1 x 2 x 2 x channels (channels <= 13).
std::vector<float> window_input(int channels) {
  std::vector<float> x(std::size_t(4 * channels));
  for (int ch = 0; ch < channels; ++ch)
    for (int k = 0; k < 4; ++k) x[std::size_t((k / 2 * 2 + k % 2) * channels + ch)] = kWindows[ch].v[k];
  return x;
}

TEST(RefMaxPool, HandWrittenWindows) {
  const int ch_count = int(std::size(kWindows));
  const MaxPoolArgs a{1, 2, 2, ch_count};
  const auto x = window_input(ch_count);
  std::vector<float> y(ch_count), dy(ch_count), dx(4 * ch_count);
  std::vector<std::uint8_t> am(ch_count);
  ref::maxpool_forward(a, x.data(), y.data(), am.data(), nullptr);
  for (int ch = 0; ch < ch_count; ++ch) dy[ch] = float(ch + 1);
  ref::maxpool_backward(a, x.data(), y.data(), nullptr, dy.data(), dx.data(), nullptr);
  for (int ch = 0; ch < ch_count; ++ch) {
    const Window& w = kWindows[ch];
    EXPECT_EQ(int(am[ch]), w.k) << "window " << ch;
    const float want = w.v[w.k];
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(y[ch])) << "window " << ch;
    else
      EXPECT_EQ(std::memcmp(&y[ch], &want, sizeof(float)), 0) << "window " << ch << ": y " << y[ch];
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(dx[std::size_t(k * ch_count + ch)], k == w.k ? float(ch + 1) : 0.f) << "window " << ch << " k " << k;
  }
}

struct WindowCase {
  BackendKind kind;
  int channels;  // 12: the float4 path; 13: the scalar path
};
void PrintTo(const WindowCase& p, std::ostream* os) { *os << label_of(p.kind) << " c=" << p.channels; }

class MaxPoolWindowsTest : public ::testing::TestWithParam<WindowCase> {};

TEST_P(MaxPoolWindowsTest, HandWrittenWindows) {
  const auto p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  const MaxPoolArgs a{1, 2, 2, p.channels};
  const auto x = window_input(p.channels);
  std::vector<float> y_want(p.channels), dy(p.channels), dx_want(4 * p.channels, 0.f);
  std::vector<std::uint8_t> am_want(p.channels);
  for (int ch = 0; ch < p.channels; ++ch) {
    const Window& w = kWindows[ch];
    y_want[ch] = w.v[w.k];
    am_want[ch] = std::uint8_t(w.k);
    dy[ch] = float(ch + 1);
    dx_want[std::size_t(w.k * p.channels + ch)] = dy[ch];
  }
  Guarded<float> gx(*be, x), gy(*be, std::size_t(p.channels)), gdy(*be, dy), gdx(*be, 4 * std::size_t(p.channels));
  Guarded<std::uint8_t> gam(*be, std::size_t(p.channels));
  const std::string what = label_of(p.kind) + " windows c=" + std::to_string(p.channels);
  if (p.kind == BackendKind::cudnn) {  // forward values only: ties do not change the maximum
    fwd_on(p.kind, a, gx.get(), gy.get(), nullptr, be->stream());
    EXPECT_TRUE(all_close(gy.download(), y_want, kExact, what + " y"));
    return;
  }
  fwd_on(p.kind, a, gx.get(), gy.get(), gam.get(), be->stream());
  EXPECT_TRUE(all_close(gy.download(), y_want, kExact, what + " y"));
  EXPECT_TRUE(bytes_equal(gam.download(), am_want, what + " argmax"));
  bwd_on(p.kind, a, nullptr, nullptr, gam.get(), gdy.get(), gdx.get(), be->stream());
  EXPECT_TRUE(all_close(gdx.download(), dx_want, kExact, what + " dx from argmax"));
  gdx.poison();  // the second backward must write dx itself
  bwd_on(p.kind, a, gx.get(), gy.get(), nullptr, gdy.get(), gdx.get(), be->stream());
  EXPECT_TRUE(all_close(gdx.download(), dx_want, kExact, what + " dx from x"));
  EXPECT_TRUE(gy.guards_intact() && gam.guards_intact() && gdx.guards_intact()) << what;
}

std::vector<WindowCase> window_cases(BackendKind k) { return {{k, 12}, {k, 13}}; }
std::string window_name(const ::testing::TestParamInfo<WindowCase>& info) {
  return "c" + std::to_string(info.param.channels);
}

LC_INSTANTIATE_PER_BACKEND_CASES(MaxPoolWindowsTest, window_cases, window_name);

// The cudnn backend has no argmax and says so instead of ignoring the pointer.
TEST(CudnnMaxPool, RefusesArgmax) {
  auto be = backend_or_skip(BackendKind::cudnn);
  if (!be) return;
  const MaxPoolArgs a{1, 2, 2, 1};
  Guarded<float> gx(*be, 4), gy(*be, 1);
  Guarded<std::uint8_t> gam(*be, 1);
  EXPECT_THROW(fwd_on(BackendKind::cudnn, a, gx.get(), gy.get(), gam.get(), be->stream()), lc::Error);
}

// The reference's analytic gradient of L = sum(w * y) against central differences, on tie-free
// data (neighbouring values differ by >= 1/1024 > 2h, so no perturbation changes a winner). Covers
// the dropped odd row and column (their derivative is 0).
TEST(RefMaxPool, GradientMatchesFiniteDifferences) {
  const MaxPoolArgs a{2, 5, 7, 3};
  const std::size_t nin = std::size_t(a.in_elements()), nout = std::size_t(a.out_elements());
  const float h = 1e-4f;
  auto x = distinct_floats(nin, 77);
  const auto w = random_floats(nout, 78);
  std::vector<float> y(nout), dx(nin);
  std::vector<std::uint8_t> am(nout);
  ref::maxpool_forward(a, x.data(), y.data(), am.data(), nullptr);
  ref::maxpool_backward(a, nullptr, nullptr, am.data(), w.data(), dx.data(), nullptr);
  auto loss = [&](const std::vector<float>& xs) {
    std::vector<float> ys(nout);
    ref::maxpool_forward(a, xs.data(), ys.data(), nullptr, nullptr);
    double l = 0;
    for (std::size_t o = 0; o < nout; ++o) l += double(w[o]) * ys[o];
    return l;
  };
  GradCheckOptions o;
  o.h = h;
  o.atol = 1e-6;
  const GradCheckStats st = check_gradient("dx", x, dx, [&] { return loss(x); }, o);
  EXPECT_EQ(st.checked, int(nin));
  int nonzero = 0;
  for (float v : dx) nonzero += v != 0.f;
  EXPECT_EQ(nonzero, int(nout)) << "one element per window receives the gradient";
}

}  // namespace
}  // namespace lc::test

namespace lc::test {
namespace {

// Issue 14, row 13: which element of a tied or NaN window cuDNN's CUDNN_POOLING_MAX_DETERMINISTIC
// backward gives the gradient to, against the contract's first-maximum / first-NaN rule. The
// contract leaves that to cuDNN (maxpool.h), so a difference is printed (one line per window),
// not failed; what must hold is that exactly one element per window receives dy, unchanged.
TEST(CudnnMaxPool, TieAndNanWinnersAgainstTheFirstMaximumRule) {
  auto be = backend_or_skip(BackendKind::cudnn);
  if (!be) return;
  const int ch_count = int(std::size(kWindows));
  const MaxPoolArgs a{1, 2, 2, ch_count};
  const auto x = window_input(ch_count);
  std::vector<float> dy(static_cast<std::size_t>(ch_count));
  for (int ch = 0; ch < ch_count; ++ch) dy[std::size_t(ch)] = float(ch + 1);
  Guarded<float> gx(*be, x), gy(*be, std::size_t(ch_count)), gdy(*be, dy), gdx(*be, 4 * std::size_t(ch_count));
  fwd_on(BackendKind::cudnn, a, gx.get(), gy.get(), nullptr, be->stream());
  bwd_on(BackendKind::cudnn, a, gx.get(), gy.get(), nullptr, gdy.get(), gdx.get(), be->stream());
  const auto dx = gdx.download();
  int differ = 0;
  for (int ch = 0; ch < ch_count; ++ch) {
    int got = -1, receivers = 0;
    for (int k = 0; k < 4; ++k) {
      const float v = dx[std::size_t(k * ch_count + ch)];
      if (v == 0.f) continue;
      ++receivers, got = k;
      EXPECT_EQ(v, dy[std::size_t(ch)]) << "window " << ch << " k " << k;
    }
    EXPECT_EQ(receivers, 1) << "window " << ch << ": " << receivers << " elements received the gradient";
    if (got != kWindows[ch].k) {
      ++differ;
      std::printf("cudnn max-pool window %d (%g %g %g %g): gradient to k=%d, the contract's rule says k=%d\n", ch,
                  kWindows[ch].v[0], kWindows[ch].v[1], kWindows[ch].v[2], kWindows[ch].v[3], got, kWindows[ch].k);
    }
  }
  std::printf("cudnn max-pool: %d of %d hand-written tie/NaN windows differ from the first-maximum rule\n", differ,
              ch_count);
  RecordProperty("windows_differing_from_first_max", differ);
}

}  // namespace
}  // namespace lc::test

// Conv2d: every implementation (sim and cuda in every version, cpu, cudnn) against the reference
// on the model's layers and awkward shapes: forward with and without the fused ELU, dx, dw, db;
// guard regions around outputs and the workspace; dw/db bitwise reproducible run to run;
// misaligned buffers (the scalar paths of the float4 kernels); argument checks; and the
// reference's gradients against finite differences.
// Depends on: kernels/conv2d/conv2d.h, kernels/elu/elu.h, tests/support/testing.h.
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>
#include <tuple>

#include "kernels/conv2d/conv2d.h"
#include "kernels/elu/elu.h"
#include "tests/support/gradcheck.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

struct Shape {
  int n, h, w, c, k, r, s;
  std::int64_t x_size() const { return std::int64_t(n) * h * w * c; }
  std::int64_t y_size() const { return std::int64_t(n) * h * w * k; }
  std::int64_t w_size() const { return std::int64_t(k) * r * s * c; }
  std::string str() const {
    std::ostringstream os;
    os << n << "x" << h << "x" << w << "x" << c << "_k" << k << "_" << r << "x" << s;
    return os.str();
  }
  auto key() const { return std::make_tuple(n, h, w, c, k, r, s); }
};

Conv2dArgs args_of(const Shape& sh, int version, bool elu = false) {
  Conv2dArgs a;
  a.n = sh.n, a.h = sh.h, a.w = sh.w, a.c = sh.c, a.k = sh.k, a.r = sh.r, a.s = sh.s;
  a.fuse_elu = elu;
  a.version = version;
  return a;
}

// Dispatch to a backend's implementation.
std::size_t ws_on(BackendKind k, const Conv2dArgs& a) { LC_DISPATCH(k, conv2d_workspace_bytes, a); }
void fwd_on(BackendKind k, const Conv2dArgs& a, const float* x, const float* w, const float* b, float* y,
            Workspace ws, stream_t s) {
  LC_DISPATCH(k, conv2d_forward, a, x, w, b, y, ws, s);
}
void bwd_data_on(BackendKind k, const Conv2dArgs& a, const float* dz, const float* w, float* dx, Workspace ws,
                 stream_t s) {
  LC_DISPATCH(k, conv2d_backward_data, a, dz, w, dx, ws, s);
}
void bwd_w_on(BackendKind k, const Conv2dArgs& a, const float* x, const float* dz, float* dw, float* db, Workspace ws,
              stream_t s) {
  LC_DISPATCH(k, conv2d_backward_weights, a, x, dz, dw, db, ws, s);
}

std::vector<float> abs_of(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = std::fabs(v[i]);
  return r;
}

// Inputs and the reference's outputs for one shape, plus the magnitudes of every output: the
// same sums over the absolute values of their terms (the reference run on |inputs|), which
// scale the tolerances.
struct Ref {
  std::vector<float> x, wt, b, dz;
  std::vector<float> y, y_elu, dx, dw, db;
  std::vector<float> my, mdx, mdw, mdb;
};

const Ref& reference(const Shape& sh) {
  static std::map<decltype(sh.key()), Ref> cache;
  auto it = cache.find(sh.key());
  if (it != cache.end()) return it->second;
  Ref R;
  const std::uint64_t seed = 1000003ull * sh.n + 10007ull * sh.h + 1009ull * sh.w + 101ull * sh.c + 11ull * sh.k +
                             3ull * sh.r + sh.s;
  // Weights scaled like Glorot so that pre-activations are O(1) and the ELU's both branches occur.
  const float ws = std::sqrt(3.f / float(sh.r * sh.s * sh.c));
  R.x = random_floats(sh.x_size(), seed);
  R.wt = random_floats(sh.w_size(), seed + 1, -ws, ws);
  R.b = random_floats(sh.k, seed + 2, -0.5f, 0.5f);
  R.dz = random_floats(sh.y_size(), seed + 3);
  const Conv2dArgs a = args_of(sh, 0), ae = args_of(sh, 0, true);
  R.y.resize(sh.y_size()), R.y_elu.resize(sh.y_size()), R.dx.resize(sh.x_size());
  R.dw.resize(sh.w_size()), R.db.resize(sh.k);
  ref::conv2d_forward(a, R.x.data(), R.wt.data(), R.b.data(), R.y.data(), {}, nullptr);
  ref::conv2d_forward(ae, R.x.data(), R.wt.data(), R.b.data(), R.y_elu.data(), {}, nullptr);
  ref::conv2d_backward_data(a, R.dz.data(), R.wt.data(), R.dx.data(), {}, nullptr);
  ref::conv2d_backward_weights(a, R.x.data(), R.dz.data(), R.dw.data(), R.db.data(), {}, nullptr);
  const auto ax = abs_of(R.x), aw = abs_of(R.wt), ab = abs_of(R.b), adz = abs_of(R.dz);
  R.my.resize(sh.y_size()), R.mdx.resize(sh.x_size()), R.mdw.resize(sh.w_size()), R.mdb.resize(sh.k);
  ref::conv2d_forward(a, ax.data(), aw.data(), ab.data(), R.my.data(), {}, nullptr);
  ref::conv2d_backward_data(a, adz.data(), aw.data(), R.mdx.data(), {}, nullptr);
  ref::conv2d_backward_weights(a, ax.data(), adz.data(), R.mdw.data(), R.mdb.data(), {}, nullptr);
  return cache.emplace(sh.key(), std::move(R)).first->second;
}

// Tolerance. Each output is a float32 sum of L products (forward L = r*s*c + 1 with the bias,
// dx L = r*s*k, dw/db L = n*h*w, up to 576 and 65,536 terms here), summed in an order that
// differs per implementation (serial, tiled, split-K, BLAS blocking; FMA contraction). Every
// rounding error is at most u = 2^-24 of a partial sum, and every partial sum is at most mag,
// the sum of the terms' absolute values; with random-sign errors the total has a standard
// deviation below sqrt(L / 12) * u * mag, so 4 * sqrt(L) * u * mag is more than 13 standard
// deviations, yet far below the error of a missing or doubled term (|term| ~ mag / L) for the
// shapes here. cuDNN may pick Winograd or FFT algorithms, whose transforms add rounding
// steps: 16x more. The ELU output adds expm1f's error: 4 ulp of the result (|elu'| <= 1, so
// the sum's error does not grow). Non-finite values always fail.
constexpr double kU = 1.0 / 16777216.0;

double tol_factor(BackendKind k) { return k == BackendKind::cudnn ? 64.0 : 4.0; }

::testing::AssertionResult close_scaled(const std::vector<float>& actual, const std::vector<float>& expected,
                                        const std::vector<float>& mag, double terms, double factor, double rtol,
                                        const std::string& what) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << what << ": size " << actual.size() << " != " << expected.size();
  const double scale = factor * std::sqrt(terms) * kU;
  std::size_t bad = 0;
  std::ostringstream first;
  double worst = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    const double err = std::fabs(a - e);
    const double tol = scale * mag[i] + rtol * std::fabs(e) + 1e-30;
    if (!std::isfinite(a) || !(err <= tol)) {
      if (bad < 5) first << "\n  [" << i << "] actual " << a << " expected " << e << " tol " << tol;
      ++bad;
    }
    if (std::isfinite(err) && mag[i] > 0) worst = std::max(worst, err / (std::sqrt(terms) * kU * mag[i]));
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << actual.size()
                                       << " elements out of tolerance (worst error " << worst
                                       << " sqrt(L)*u*mag)" << first.str();
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct ConvCase {
  BackendKind kind;
  Shape sh;
  int version;
};

std::string case_name(const ::testing::TestParamInfo<ConvCase>& info) {
  return info.param.sh.str() + "_v" + std::to_string(info.param.version);
}

class Conv2dTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dTest, MatchesReference) {
  const ConvCase cs = GetParam();
  auto be = backend_or_skip(cs.kind);
  if (!be) return;
  const Shape& sh = cs.sh;
  const Ref& R = reference(sh);
  const std::string tag = std::string(backend_name(cs.kind)) + " " + sh.str() + " v" + std::to_string(cs.version);
  Device& dev = be->device();
  const stream_t st = be->stream();
  const double f = tol_factor(cs.kind);
  const double l_fwd = sh.r * sh.s * sh.c + 1, l_dx = sh.r * sh.s * sh.k, l_dw = double(sh.n) * sh.h * sh.w;

  Conv2dArgs a = args_of(sh, cs.version);
  const std::size_t wsb = ws_on(cs.kind, a);
  Guarded<unsigned char> ws(*be, wsb);
  const Workspace W{ws.get(), wsb};
  Guarded<float> x(*be, R.x), wt(*be, R.wt), b(*be, R.b), dz(*be, R.dz);
  Guarded<float> y(*be, sh.y_size()), dx(*be, sh.x_size()), dw(*be, sh.w_size()), db(*be, sh.k);

  fwd_on(cs.kind, a, x.get(), wt.get(), b.get(), y.get(), W, st);
  EXPECT_TRUE(close_scaled(y.download(), R.y, R.my, l_fwd, f, 0, tag + " forward"));
  a.fuse_elu = true;
  fwd_on(cs.kind, a, x.get(), wt.get(), b.get(), y.get(), W, st);
  EXPECT_TRUE(close_scaled(y.download(), R.y_elu, R.my, l_fwd, f, 4 * kU, tag + " forward+elu"));
  a.fuse_elu = false;

  bwd_data_on(cs.kind, a, dz.get(), wt.get(), dx.get(), W, st);
  EXPECT_TRUE(close_scaled(dx.download(), R.dx, R.mdx, l_dx, f, 0, tag + " dx"));

  bwd_w_on(cs.kind, a, x.get(), dz.get(), dw.get(), db.get(), W, st);
  const auto dw1 = dw.download(), db1 = db.download();
  EXPECT_TRUE(close_scaled(dw1, R.dw, R.mdw, l_dw, f, 0, tag + " dw"));
  EXPECT_TRUE(close_scaled(db1, R.db, R.mdb, l_dw, f, 0, tag + " db"));

  auto check_guards = [&]() {
    EXPECT_TRUE(y.guards_intact()) << tag << ": forward wrote outside y";
    EXPECT_TRUE(dx.guards_intact()) << tag << ": backward data wrote outside dx";
    EXPECT_TRUE(dw.guards_intact() && db.guards_intact()) << tag << ": backward weights wrote outside dw/db";
    EXPECT_TRUE(ws.guards_intact()) << tag << ": wrote outside the workspace of conv2d_workspace_bytes";
    EXPECT_TRUE(x.guards_intact() && wt.guards_intact() && b.guards_intact() && dz.guards_intact())
        << tag << ": wrote around an input";
  };
  // The rest runs dw three more times: in the emulator, only for shapes up to 8192 pixels.
  if (cs.kind == BackendKind::sim && l_dw > 8192) return check_guards();

  // Reproducible: a second run, with the workspace and outputs poisoned (NaN) first, gives the
  // same bits.
  dev.memset(ws.get(), 0xFF, wsb, st);
  dev.memset(dw.get(), 0xFF, dw.size() * sizeof(float), st);
  dev.memset(db.get(), 0xFF, db.size() * sizeof(float), st);
  bwd_w_on(cs.kind, a, x.get(), dz.get(), dw.get(), db.get(), W, st);
  EXPECT_TRUE(bitwise_equal(dw.download(), dw1)) << tag << ": dw differs between two runs";
  EXPECT_TRUE(bitwise_equal(db.download(), db1)) << tag << ": db differs between two runs";

  // One gradient at a time: the other pointer null.
  dev.memset(dw.get(), 0xFF, dw.size() * sizeof(float), st);
  dev.memset(db.get(), 0xFF, db.size() * sizeof(float), st);
  bwd_w_on(cs.kind, a, x.get(), dz.get(), nullptr, db.get(), W, st);
  EXPECT_TRUE(close_scaled(db.download(), R.db, R.mdb, l_dw, f, 0, tag + " db alone"));
  bwd_w_on(cs.kind, a, x.get(), dz.get(), dw.get(), nullptr, W, st);
  EXPECT_TRUE(close_scaled(dw.download(), R.dw, R.mdw, l_dw, f, 0, tag + " dw alone"));

  check_guards();
}

// The float4 paths need 16-byte aligned buffers; offset by one float they must fall back to
// scalar loads and stores and still be right.
class Conv2dMisaligned : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dMisaligned, MatchesReference) {
  const ConvCase cs = GetParam();
  auto be = backend_or_skip(cs.kind);
  if (!be) return;
  const Shape& sh = cs.sh;
  const Ref& R = reference(sh);
  const std::string tag = std::string(backend_name(cs.kind)) + " " + sh.str() + " v" + std::to_string(cs.version);
  const stream_t st = be->stream();
  const double f = tol_factor(cs.kind);
  const Conv2dArgs a = args_of(sh, cs.version, true);
  const std::size_t wsb = ws_on(cs.kind, a);
  Guarded<unsigned char> ws(*be, wsb + 4);
  const Workspace W{ws.get() + 4, wsb};  // misaligned workspace too (the transposed filter of dx)
  auto shifted = [&](const std::vector<float>& v) {
    std::vector<float> s(v.size() + 1, 0.f);
    std::copy(v.begin(), v.end(), s.begin() + 1);
    return s;
  };
  Guarded<float> x(*be, shifted(R.x)), wt(*be, shifted(R.wt)), b(*be, shifted(R.b)), dz(*be, shifted(R.dz));
  Guarded<float> y(*be, sh.y_size() + 1), dx(*be, sh.x_size() + 1), dw(*be, sh.w_size() + 1), db(*be, sh.k + 1);
  fwd_on(cs.kind, a, x.get() + 1, wt.get() + 1, b.get() + 1, y.get() + 1, W, st);
  bwd_data_on(cs.kind, a, dz.get() + 1, wt.get() + 1, dx.get() + 1, W, st);
  bwd_w_on(cs.kind, a, x.get() + 1, dz.get() + 1, dw.get() + 1, db.get() + 1, W, st);
  auto drop1 = [](std::vector<float> v) { return std::vector<float>(v.begin() + 1, v.end()); };
  EXPECT_TRUE(close_scaled(drop1(y.download()), R.y_elu, R.my, sh.r * sh.s * sh.c + 1, f, 4 * kU, tag + " forward+elu"));
  EXPECT_TRUE(close_scaled(drop1(dx.download()), R.dx, R.mdx, sh.r * sh.s * sh.k, f, 0, tag + " dx"));
  EXPECT_TRUE(close_scaled(drop1(dw.download()), R.dw, R.mdw, double(sh.n) * sh.h * sh.w, f, 0, tag + " dw"));
  EXPECT_TRUE(close_scaled(drop1(db.download()), R.db, R.mdb, double(sh.n) * sh.h * sh.w, f, 0, tag + " db"));
  EXPECT_TRUE(y.guards_intact() && dx.guards_intact() && dw.guards_intact() && db.guards_intact() &&
              ws.guards_intact())
      << tag << ": wrote outside a buffer";
}

// The model's convolutions (docs/MODEL.md) at batch n; the first layer separately so the emulator
// can run it at batch 1.
std::vector<Shape> model_shapes(int n_first, int n) {
  return {{n_first, 64, 64, 3, 16, 5, 5}, {n, 32, 32, 16, 32, 3, 3}, {n, 32, 32, 32, 32, 3, 3},
          {n, 16, 16, 32, 64, 3, 3},      {n, 16, 16, 64, 64, 3, 3}, {n, 8, 8, 64, 128, 3, 3}};
}

// Awkward shapes: odd sizes and channel counts, batch 1, 1x1 images and filters, a non-square
// filter, a filter larger than the image, channel counts that are not multiples of any tile,
// image sizes that are not multiples of version 3's 16 x 32 tile, c <= 4 with k = 8..32 (the cpu
// backend's direct path), c % 16 == 0 with k % 16 == 0 on small, odd and 1x1 images, non-square
// and larger-than-image filters (the cpu backend's wide direct path: runs of 1..6 pixels, border
// pixels, taps outside), and one large-pixel-count shape that selects the 128 x 64 implicit-GEMM
// tile.
std::vector<Shape> odd_shapes() {
  return {{1, 5, 7, 3, 4, 3, 3},   {1, 5, 7, 3, 4, 5, 5},   {2, 9, 11, 5, 7, 3, 3},  {2, 9, 11, 5, 7, 5, 5},
          {1, 7, 6, 13, 70, 3, 3}, {1, 6, 10, 20, 36, 3, 3}, {1, 1, 1, 1, 1, 1, 1},  {1, 1, 1, 1, 1, 3, 3},
          {1, 4, 4, 2, 3, 7, 7},   {1, 5, 7, 3, 4, 3, 5},   {1, 37, 45, 4, 8, 3, 3}, {2, 17, 33, 4, 4, 5, 5},
          {2, 13, 19, 2, 24, 5, 5}, {1, 9, 14, 1, 32, 7, 7}, {2, 5, 7, 16, 16, 3, 3}, {1, 1, 1, 16, 32, 3, 3},
          {1, 4, 9, 16, 32, 5, 3}, {2, 3, 2, 16, 16, 7, 7}, {1, 13, 19, 32, 48, 5, 5}, {3, 2, 17, 8, 16, 3, 3},
          {1, 128, 256, 4, 65, 1, 1}};
}

std::vector<ConvCase> cases(BackendKind kind, const std::vector<int>& versions, int n_first, int n) {
  std::vector<ConvCase> v;
  auto shapes = model_shapes(n_first, n);
  for (const Shape& s : odd_shapes()) shapes.push_back(s);
  for (const Shape& s : shapes)
    for (int ver : versions) v.push_back({kind, s, ver});
  return v;
}

// sim: every version at batch 1-4 (the emulator runs ~1 GFLOP/s); cuda: every version at the
// real batch 16; cpu and cudnn ignore the version (0) and run batch 16.
std::vector<ConvCase> backend_cases(BackendKind kind) {
  const bool versions = kind == BackendKind::sim || kind == BackendKind::cuda;
  const bool sim = kind == BackendKind::sim;
  return cases(kind, versions ? std::vector<int>{0, 1, 2, 3} : std::vector<int>{0}, sim ? 1 : 16, sim ? 2 : 16);
}
LC_INSTANTIATE_PER_BACKEND_CASES(Conv2dTest, backend_cases, case_name);

// Shapes whose channel counts take the float4 paths when aligned. No cudnn instantiation:
// cuDNN's alignment requirements are cuDNN's, not this contract's.
std::vector<ConvCase> misaligned_cases(BackendKind kind, const std::vector<int>& versions) {
  const Shape shapes[] = {{2, 9, 11, 8, 12, 3, 3}, {1, 16, 16, 32, 64, 3, 3}, {1, 6, 10, 20, 36, 3, 3}, {2, 17, 33, 4, 4, 5, 5}};
  std::vector<ConvCase> v;
  for (const Shape& s : shapes)
    for (int ver : versions) v.push_back({kind, s, ver});
  return v;
}
INSTANTIATE_TEST_SUITE_P(Sim, Conv2dMisaligned, ::testing::ValuesIn(misaligned_cases(BackendKind::sim, {0, 1, 2, 3})),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Cpu, Conv2dMisaligned, ::testing::ValuesIn(misaligned_cases(BackendKind::cpu, {0})), case_name);
INSTANTIATE_TEST_SUITE_P(Cuda, Conv2dMisaligned, ::testing::ValuesIn(misaligned_cases(BackendKind::cuda, {0, 1, 2, 3})),
                         case_name);

// Argument checks and workspace checks throw lc::Error (never a silent fallback).
void expect_rejects(BackendKind kind) {
  auto be = backend_or_skip(kind);
  if (!be) return;
  Guarded<float> buf(*be, 4096);
  float* p = buf.get();          // x, and any input of the calls that must throw
  float* dz = p + 1024;          // distinct buffers for the calls that run
  float* dw = p + 2048;
  float* db = p + 3072;
  const Shape sh{1, 5, 7, 4, 8, 3, 3};
  Conv2dArgs a = args_of(sh, 0);
  Conv2dArgs even = a;
  even.r = 2;
  EXPECT_THROW(fwd_on(kind, even, p, p, p, p, {}, be->stream()), lc::Error);
  Conv2dArgs badv = a;
  badv.version = 4;
  EXPECT_THROW(ws_on(kind, badv), lc::Error);
  Conv2dArgs zero = a;
  zero.c = 0;
  EXPECT_THROW(bwd_data_on(kind, zero, p, p, p, {}, be->stream()), lc::Error);
  EXPECT_THROW(bwd_w_on(kind, a, p, p, nullptr, nullptr, {}, be->stream()), lc::Error);
  // Backward weights with a 16-byte workspace (sim v2 needs its split-K partials, cpu a column
  // block per thread), then with conv2d_workspace_bytes.
  Conv2dArgs v2 = args_of(sh, kConv2dImplicitGemm);
  const std::size_t need = ws_on(kind, v2);
  ASSERT_GT(need, 16u);
  Guarded<unsigned char> ws(*be, need);
  EXPECT_THROW(bwd_w_on(kind, v2, p, dz, dw, db, Workspace{ws.get(), 16}, be->stream()), lc::Error);
  EXPECT_THROW(bwd_w_on(kind, v2, p, dz, dw, db, Workspace{nullptr, need}, be->stream()), lc::Error);
  EXPECT_NO_THROW(bwd_w_on(kind, v2, p, dz, dw, db, Workspace{ws.get(), need}, be->stream()));
}

TEST(SimConv2d, RejectsBadArgumentsAndShortWorkspace) { expect_rejects(BackendKind::sim); }
TEST(CpuConv2d, RejectsBadArgumentsAndShortWorkspace) { expect_rejects(BackendKind::cpu); }

TEST(RefConv2d, AutoVersionChoice) {
  const Conv2dArgs first = args_of({16, 64, 64, 3, 16, 5, 5}, 0), second = args_of({16, 32, 32, 16, 32, 3, 3}, 0);
  EXPECT_EQ(conv2d_version_for(first, Conv2dPass::forward), kConv2dSmallChannel);
  EXPECT_EQ(conv2d_version_for(first, Conv2dPass::backward_data), kConv2dSmallChannel);
  EXPECT_EQ(conv2d_version_for(first, Conv2dPass::backward_weights), kConv2dImplicitGemm);
  EXPECT_EQ(conv2d_version_for(second, Conv2dPass::forward), kConv2dImplicitGemm);
  EXPECT_EQ(conv2d_version_for(second, Conv2dPass::backward_data), kConv2dImplicitGemm);
  const Conv2dArgs v3 = args_of({1, 8, 8, 8, 8, 3, 3}, 3), v1 = args_of({1, 8, 8, 8, 8, 3, 3}, 1);
  EXPECT_EQ(conv2d_version_for(v3, Conv2dPass::forward), kConv2dSmallChannel);
  EXPECT_EQ(conv2d_version_for(v3, Conv2dPass::backward_weights), kConv2dImplicitGemm);
  EXPECT_EQ(conv2d_version_for(v1, Conv2dPass::backward_weights), kConv2dDirect);
  EXPECT_EQ(ref::conv2d_workspace_bytes(v1), 0u);
}

// The reference's analytic gradients against central differences of its forward, through the
// scalar loss L = sum(g * y) with random g; with the ELU fused, dz = elu_backward(y, g) first
// (the contract's backward takes the pre-activation gradient). Perturbations whose +h and -h
// forwards put any pre-activation on different sides of 0 (the ELU's kink in its second
// derivative) are skipped. h = 1e-2: the loss is linear (no ELU) or C1 with bounded second
// derivative, so truncation stays below h^2 * |g| * |w|^2 * (terms) ~ 1e-4; y is rounded to
// float (u |y| each, a few hundred outputs), which the 2h division turns into <= 1e-4.
TEST(RefConv2d, GradientsMatchFiniteDifferences) {
  const Shape shapes[] = {{1, 5, 7, 3, 4, 3, 3}, {1, 5, 7, 3, 4, 5, 5}, {2, 4, 6, 2, 3, 3, 5}};
  const float h = 1e-2f;
  for (const Shape& sh : shapes)
    for (bool elu : {false, true}) {
      const std::string tag = sh.str() + (elu ? " elu" : " linear");
      const Conv2dArgs a = args_of(sh, 0, elu), lin = args_of(sh, 0, false);
      auto x = random_floats(sh.x_size(), 11), wt = random_floats(sh.w_size(), 12, -0.4f, 0.4f);
      auto b = random_floats(sh.k, 13), g = random_floats(sh.y_size(), 14);
      std::vector<float> y(sh.y_size()), dz(sh.y_size()), dx(sh.x_size()), dw(sh.w_size()), db(sh.k);
      ref::conv2d_forward(a, x.data(), wt.data(), b.data(), y.data(), {}, nullptr);
      if (elu) ref::elu_backward(EluArgs{sh.y_size()}, y.data(), g.data(), dz.data(), nullptr);
      else dz = g;
      ref::conv2d_backward_data(a, dz.data(), wt.data(), dx.data(), {}, nullptr);
      ref::conv2d_backward_weights(a, x.data(), dz.data(), dw.data(), db.data(), {}, nullptr);

      // L(perturbed); the pre-activations of the last two evaluations (L+ and L-), so a
      // perturbation whose two sides put a pre-activation on different sides of 0 is skipped.
      std::vector<float> yy(sh.y_size()), z_prev(sh.y_size()), z_last(sh.y_size());
      auto loss = [&] {
        ref::conv2d_forward(a, x.data(), wt.data(), b.data(), yy.data(), {}, nullptr);
        std::swap(z_prev, z_last);
        ref::conv2d_forward(lin, x.data(), wt.data(), b.data(), z_last.data(), {}, nullptr);
        double l = 0;
        for (std::size_t i = 0; i < yy.size(); ++i) l += double(g[i]) * yy[i];
        return l;
      };
      GradCheckOptions o;
      o.h = h;
      o.atol = 1e-3, o.rtol = 1e-3;
      o.max_skipped = 1.0;  // per tensor (a bias moves many pre-activations); the total is checked below
      if (elu)
        o.skip_if = [&] {
          for (std::size_t i = 0; i < z_last.size(); ++i)
            if ((z_prev[i] > 0) != (z_last[i] > 0)) return true;
          return false;
        };
      int checked = 0, total = 0;
      for (const GradCheckStats& st : {check_gradient(tag + " dx", x, dx, loss, o), check_gradient(tag + " dw", wt, dw, loss, o),
                                       check_gradient(tag + " db", b, db, loss, o)})
        checked += st.checked, total += st.checked + st.skipped;
      EXPECT_GT(checked, total / 2) << tag << ": too many perturbations crossed a kink";
    }
}

}  // namespace
}  // namespace lc::test

namespace lc::test {
namespace {

// The forward never reads its output's old contents, also where cuDNN fuses the bias
// (cudnnConvolutionBiasActivationForward, given y as its z input with alpha2 = 0): y starts as NaN,
// as in the graph runtime's poisoned arena, on the model's first two convolutions at batch 16.
TEST(GpuConv2d, ForwardIgnoresNanInTheOutputBuffer) {
  for (BackendKind kind : {BackendKind::cuda, BackendKind::cudnn}) {
    auto be = backend_or_skip(kind);
    if (!be) return;
    for (const Conv2dArgs a : {Conv2dArgs{16, 64, 64, 3, 16, 3, 3, true}, Conv2dArgs{16, 32, 32, 16, 32, 3, 3, true}}) {
      const auto x = random_floats(std::size_t(a.n) * a.h * a.w * a.c, 31);
      const auto wt = random_floats(std::size_t(a.k) * a.r * a.s * a.c, 32), b = random_floats(std::size_t(a.k), 33);
      const std::size_t ny = std::size_t(a.n) * a.h * a.w * a.k;
      std::vector<float> want(ny);
      ref::conv2d_forward(a, x.data(), wt.data(), b.data(), want.data(), {}, nullptr);
      Guarded<float> gx(*be, x), gw(*be, wt), gb(*be, b), gy(*be, std::vector<float>(ny, std::nanf("")));
      Guarded<unsigned char> ws(*be, std::max<std::size_t>(ws_on(kind, a), 1));
      fwd_on(kind, a, gx.get(), gw.get(), gb.get(), gy.get(), Workspace{ws.get(), ws.size()}, be->stream());
      EXPECT_TRUE(all_close(gy.download(), want, {1e-4, 1e-4}, label_of(kind) + " conv forward over a NaN output"));
    }
  }
}

}  // namespace
}  // namespace lc::test

// Image ops (kernels/image/image.h): every implementation against the reference (lc::ref) at the
// real sizes (64x64x3 data set images, batch 16; 791x718 and 17x13 photos to 64x64; windows over a
// 100x37 image at strides 1, 3, 16 with all borders; 1x1 images), guard regions around every
// output, bit-for-bit agreement across backends, and known answers worked out by hand.
// Depends on: kernels/image, tests/support/testing.h.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include "kernels/image/image.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

// ---- helpers --------------------------------------------------------------------------------

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = std::uint8_t(rng() & 0xFF);
  return v;
}

// Exact equality of the bits (NaN included), naming the first mismatches.
template <class T>
::testing::AssertionResult same_bits(const std::vector<T>& actual, const std::vector<T>& expected,
                                     const std::string& what) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << what << ": size " << actual.size() << " != " << expected.size();
  std::size_t bad = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    if (std::memcmp(&actual[i], &expected[i], sizeof(T)) == 0) continue;
    if (bad < 5) first << "\n  [" << i << "] actual " << +actual[i] << " expected " << +expected[i];
    ++bad;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << actual.size() << " differ"
                                       << first.str();
}

float unit(int v) { return float(v) / 255.0f; }

void gather_on(BackendKind k, const GatherBatchArgs& a, const std::uint8_t* d, const std::int32_t* i, float* o,
               stream_t s) {
  LC_DISPATCH(k, gather_batch, a, d, i, o, s);
}
void resize_u8_on(BackendKind k, const ResizeArgs& a, const std::uint8_t* in, std::uint8_t* out, stream_t s) {
  LC_DISPATCH(k, resize_u8, a, in, out, s);
}
void resize_float_on(BackendKind k, const ResizeArgs& a, const std::uint8_t* in, float* out, stream_t s) {
  LC_DISPATCH(k, resize_to_float, a, in, out, s);
}
void windows_on(BackendKind k, const WindowArgs& a, const std::uint8_t* tile, float* out, stream_t s) {
  LC_DISPATCH(k, extract_windows, a, tile, out, s);
}
void flat_on(BackendKind k, const FlatPatchArgs& a, const std::uint8_t* c, float* out, stream_t s) {
  LC_DISPATCH(k, flat_patches, a, c, out, s);
}
void gather_rows_cols_on(BackendKind k, const GatherRowsColsArgs& a, const float* in, const std::int32_t* rows,
                         const std::int32_t* cols, float* out, stream_t s) {
  LC_DISPATCH(k, gather_rows_cols, a, in, rows, cols, out, s);
}
void class_map_on(BackendKind k, const ClassMapArgs& a, const std::int32_t* cls, const std::uint8_t* mask,
                  const std::uint8_t* palette, std::int64_t* counts, std::uint8_t* rgb, stream_t s) {
  LC_DISPATCH(k, class_map, a, cls, mask, palette, counts, rgb, s);
}

// Versions of the CUDA kernels to test: both on sim/cuda (0 = auto is one of them), none on cpu.
std::vector<int> versions_of(BackendKind k) {
  return k == BackendKind::cpu ? std::vector<int>{0} : std::vector<int>{1, 2};
}

std::string backend_name_of(const ::testing::TestParamInfo<BackendKind>& info) { return label_of(info.param); }

const char* augment_name(Augment m) {
  return m == Augment::none ? "none" : (m == Augment::flip ? "flip" : "flip_rot90");
}

// ---- gather_batch ---------------------------------------------------------------------------

struct GatherCase {
  BackendKind kind;
  std::int64_t num_images;
  int batch, h, w, c;
  Augment augment;
};
void PrintTo(const GatherCase& p, std::ostream* os) {
  *os << label_of(p.kind) << " gather " << p.batch << " of " << p.num_images << " " << p.h << "x" << p.w << "x"
      << p.c << " " << augment_name(p.augment);
}

class ImageGatherTest : public ::testing::TestWithParam<GatherCase> {};

// Exact: a gather moves bytes and divides each by 255 once, in every implementation.
TEST_P(ImageGatherTest, MatchesReferenceBitForBit) {
  const GatherCase p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  const std::int64_t per_image = std::int64_t(p.h) * p.w * p.c;
  const auto dataset = random_bytes(std::size_t(p.num_images * per_image), 11 + p.num_images);
  std::mt19937 rng(5);
  std::vector<std::int32_t> idx(static_cast<std::size_t>(p.batch));
  for (auto& i : idx) i = std::int32_t(rng() % std::uint32_t(p.num_images));
  Guarded<std::uint8_t> gd(*be, dataset);
  Guarded<std::int32_t> gi(*be, idx);
  Guarded<float> go(*be, std::size_t(p.batch * per_image));
  for (std::uint64_t step : {std::uint64_t(0), std::uint64_t(1), std::uint64_t(12345678901ull)}) {
    GatherBatchArgs a{p.num_images, p.batch, p.h, p.w, p.c, p.augment, 42, step};
    std::vector<float> expected(std::size_t(p.batch * per_image));
    ref::gather_batch(a, dataset.data(), idx.data(), expected.data(), nullptr);
    gather_on(p.kind, a, gd.get(), gi.get(), go.get(), be->stream());
    const std::string what = "gather " + std::to_string(p.batch) + "x" + std::to_string(p.h) + "x" +
                             std::to_string(p.w) + "x" + std::to_string(p.c) + " " + augment_name(p.augment) +
                             " step " + std::to_string(step);
    EXPECT_TRUE(same_bits(go.download(), expected, what));
  }
  EXPECT_TRUE(go.guards_intact()) << "gather wrote outside its output";
}

std::vector<GatherCase> gather_cases(BackendKind k) {
  std::vector<GatherCase> v;
  for (Augment m : {Augment::none, Augment::flip, Augment::flip_rot90}) v.push_back({k, 40, 16, 64, 64, 3, m});
  v.push_back({k, 5, 1, 64, 64, 3, Augment::flip_rot90});
  v.push_back({k, 9, 4, 7, 5, 3, Augment::flip});  // odd, non-square
  v.push_back({k, 6, 3, 9, 9, 1, Augment::flip_rot90});
  v.push_back({k, 3, 2, 1, 1, 3, Augment::flip_rot90});
  return v;
}

std::string gather_name(const ::testing::TestParamInfo<GatherCase>& info) {
  const auto& p = info.param;
  return "n" + std::to_string(p.num_images) + "_b" + std::to_string(p.batch) + "_" + std::to_string(p.h) + "x" +
         std::to_string(p.w) + "x" + std::to_string(p.c) + "_" + augment_name(p.augment);
}

LC_INSTANTIATE_PER_BACKEND_CASES(ImageGatherTest, gather_cases, gather_name);

// Known answers and group properties of the augmentations, per backend.
class ImageAugmentTest : public ::testing::TestWithParam<BackendKind> {};

// The 8 symmetries on a 3x3 image with pixels 1..9, written out by hand from numpy semantics
// (np.fliplr, then np.rot90 k times): indexed [flip][k].
TEST_P(ImageAugmentTest, EverySymmetryMatchesNumpyByHand) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const std::uint8_t expected[2][4][9] = {
      {{1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 6, 9, 2, 5, 8, 1, 4, 7}, {9, 8, 7, 6, 5, 4, 3, 2, 1}, {7, 4, 1, 8, 5, 2, 9, 6, 3}},
      {{3, 2, 1, 6, 5, 4, 9, 8, 7}, {1, 4, 7, 2, 5, 8, 3, 6, 9}, {7, 8, 9, 4, 5, 6, 1, 2, 3}, {9, 6, 3, 8, 5, 2, 7, 4, 1}},
  };
  const std::vector<std::uint8_t> image = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const int batch = 256;
  std::vector<std::int32_t> idx(batch, 0);
  Guarded<std::uint8_t> gd(*be, image);
  Guarded<std::int32_t> gi(*be, idx);
  Guarded<float> go(*be, std::size_t(batch) * 9);
  GatherBatchArgs a{1, batch, 3, 3, 1, Augment::flip_rot90, 2024, 7};
  gather_on(GetParam(), a, gd.get(), gi.get(), go.get(), be->stream());
  const auto out = go.download();
  std::set<int> seen;
  for (int b = 0; b < batch; ++b) {
    const AugmentChoice c = augment_choice(a.augment, a.seed, a.step, std::uint32_t(b));
    seen.insert(int(c.flip) * 4 + c.rot90);
    for (int e = 0; e < 9; ++e)
      ASSERT_EQ(out[std::size_t(b * 9 + e)], unit(expected[c.flip][c.rot90][e]))
          << "position " << b << " flip " << c.flip << " rot90 " << c.rot90 << " element " << e;
  }
  EXPECT_EQ(seen.size(), 8u) << "the 256 draws should cover all 8 symmetries";
  EXPECT_TRUE(go.guards_intact());
}

// Applying each position's transform repeatedly: 4 times is the identity for every symmetry of
// the square, 2 times exactly for the reflections and the half turn (flip, or k in {0, 2}).
// Flip mode: twice is the identity. Outputs go back to bytes by round(x * 255), exact for x / 255.
TEST_P(ImageAugmentTest, RepeatedTransformsReturnToTheImage) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const int batch = 16, n = 64 * 64 * 3;
  const auto original = random_bytes(std::size_t(batch) * n, 99);
  std::vector<std::int32_t> identity(batch);
  for (int b = 0; b < batch; ++b) identity[std::size_t(b)] = b;
  Guarded<std::int32_t> gi(*be, identity);
  for (Augment mode : {Augment::flip, Augment::flip_rot90}) {
    GatherBatchArgs a{batch, batch, 64, 64, 3, mode, 77, 31337};
    std::vector<std::uint8_t> cur = original;
    for (int round = 1; round <= 4; ++round) {
      Guarded<std::uint8_t> gd(*be, cur);
      Guarded<float> go(*be, cur.size());
      gather_on(GetParam(), a, gd.get(), gi.get(), go.get(), be->stream());
      const auto out = go.download();
      for (std::size_t e = 0; e < cur.size(); ++e) cur[e] = std::uint8_t(std::lround(out[e] * 255.0f));
      for (int b = 0; b < batch; ++b) {
        const AugmentChoice c = augment_choice(mode, a.seed, a.step, std::uint32_t(b));
        const bool involution = c.flip || c.rot90 % 2 == 0;
        const bool is_identity = (c.flip || c.rot90 != 0) ? (round == 4 || (round == 2 && involution)) : true;
        const bool same = std::equal(cur.begin() + b * n, cur.begin() + (b + 1) * n, original.begin() + b * n);
        EXPECT_EQ(same, is_identity) << augment_name(mode) << " round " << round << " position " << b << " flip "
                                     << c.flip << " rot90 " << c.rot90;
      }
    }
  }
}

// An index outside the data set is never read: that image becomes NaN, the others are normal.
TEST_P(ImageAugmentTest, OutOfRangeIndexGivesNaNImage) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const int n = 8 * 8 * 3;
  const auto data = random_bytes(std::size_t(4) * n, 3);
  const std::vector<std::int32_t> idx = {2, -1, 4, 3, 2147483647};
  Guarded<std::uint8_t> gd(*be, data);
  Guarded<std::int32_t> gi(*be, idx);
  Guarded<float> go(*be, idx.size() * n);
  GatherBatchArgs a{4, 5, 8, 8, 3, Augment::none, 0, 0};
  gather_on(GetParam(), a, gd.get(), gi.get(), go.get(), be->stream());
  const auto out = go.download();
  for (int b = 0; b < 5; ++b)
    for (int e = 0; e < n; ++e) {
      const float v = out[std::size_t(b * n + e)];
      if (b == 1 || b == 2 || b == 4)
        ASSERT_TRUE(std::isnan(v)) << "position " << b;
      else
        ASSERT_EQ(v, unit(data[std::size_t(idx[std::size_t(b)] * n + e)])) << "position " << b;
    }
  EXPECT_TRUE(go.guards_intact());
}

// ---- resize ---------------------------------------------------------------------------------

struct ResizeCase {
  BackendKind kind;
  int in_h, in_w, out_h, out_w, c;
};
void PrintTo(const ResizeCase& p, std::ostream* os) {
  *os << label_of(p.kind) << " resize " << p.in_h << "x" << p.in_w << " -> " << p.out_h << "x" << p.out_w << "x"
      << p.c;
}

class ImageResizeTest : public ::testing::TestWithParam<ResizeCase> {};

// Tolerances. float: the kernels compute the exact rational mean and round it once through
// double to float; the reference sums doubles (relative error ~1e-15) and rounds to float: they
// differ by at most one float ulp, <= 2^-24 * 2 below 1, so 1.2e-7 absolute. u8: the output must
// be a correct rounding of the true mean: |u8 - 255 * mean| <= 0.5, plus 1e-4 for the reference's
// own float rounding (255 * 1.2e-7). Across backends: identical bits (integer arithmetic).
constexpr Tolerance kResizeFloatTol{1.2e-7, 0};
constexpr double kResizeU8Slack = 0.5 + 1e-4;

TEST_P(ImageResizeTest, MatchesReferenceAndCpuBits) {
  const ResizeCase p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  const auto in = random_bytes(std::size_t(p.in_h) * p.in_w * p.c, 1000 + p.in_h * 7 + p.in_w);
  const std::size_t n_out = std::size_t(p.out_h) * p.out_w * p.c;
  ResizeArgs a{p.in_h, p.in_w, p.out_h, p.out_w, p.c, 0};
  std::vector<float> ref_f(n_out), cpu_f(n_out);
  std::vector<std::uint8_t> cpu_u(n_out);
  ref::resize_to_float(a, in.data(), ref_f.data(), nullptr);
  cpu::resize_to_float(a, in.data(), cpu_f.data(), nullptr);
  cpu::resize_u8(a, in.data(), cpu_u.data(), nullptr);
  Guarded<std::uint8_t> gin(*be, in), gu(*be, n_out);
  Guarded<float> gf(*be, n_out);
  for (int version : versions_of(p.kind)) {
    a.version = version;
    const std::string what = "resize " + std::to_string(p.in_h) + "x" + std::to_string(p.in_w) + " -> " +
                             std::to_string(p.out_h) + "x" + std::to_string(p.out_w) + "x" + std::to_string(p.c) +
                             " v" + std::to_string(version);
    resize_float_on(p.kind, a, gin.get(), gf.get(), be->stream());
    resize_u8_on(p.kind, a, gin.get(), gu.get(), be->stream());
    const auto f = gf.download();
    const auto u = gu.download();
    EXPECT_TRUE(all_close(f, ref_f, kResizeFloatTol, what + " float vs ref"));
    std::size_t bad = 0;
    for (std::size_t e = 0; e < n_out; ++e)
      if (std::fabs(double(u[e]) - 255.0 * double(ref_f[e])) > kResizeU8Slack && bad++ < 5)
        ADD_FAILURE() << what << " u8 [" << e << "] = " << int(u[e]) << ", reference mean " << 255.0 * ref_f[e];
    EXPECT_EQ(bad, 0u) << what;
    EXPECT_TRUE(same_bits(f, cpu_f, what + " float vs cpu bits"));
    EXPECT_TRUE(same_bits(u, cpu_u, what + " u8 vs cpu bits"));
    EXPECT_TRUE(gu.guards_intact() && gf.guards_intact()) << what << " wrote outside its output";
  }
  // The reference's own u8 output rounds the same mean.
  std::vector<std::uint8_t> ref_u(n_out);
  ref::resize_u8(a, in.data(), ref_u.data(), nullptr);
  for (std::size_t e = 0; e < n_out; ++e) ASSERT_LE(std::fabs(double(ref_u[e]) - 255.0 * ref_f[e]), kResizeU8Slack);
}

std::vector<ResizeCase> resize_cases(BackendKind k) {
  return {
      {k, 718, 791, 64, 64, 3},  // a photo (791 wide, 718 high) to the model input: area, non-integer
      {k, 13, 17, 64, 64, 3},    // a small image grown: bilinear, non-integer
      {k, 150, 97, 64, 64, 3},   // area, non-integer both axes
      {k, 128, 128, 64, 64, 3},  // area, exactly 2x
      {k, 64, 64, 64, 64, 3},    // identity
      {k, 200, 40, 64, 64, 3},   // shrink rows, grow columns
      {k, 40, 200, 64, 64, 3},   // grow rows, shrink columns
      {k, 1, 1, 64, 64, 3},      // one pixel grown
      {k, 64, 64, 1, 1, 3},      // everything averaged to one pixel
      {k, 37, 100, 20, 45, 1},   // one channel
      {k, 33, 31, 7, 64, 4},     // four channels, mixed
      {k, 1100, 900, 3, 2, 3},   // large footprints (block-per-pixel territory)
  };
}

std::string resize_name(const ::testing::TestParamInfo<ResizeCase>& info) {
  const auto& p = info.param;
  return std::to_string(p.in_h) + "x" + std::to_string(p.in_w) + "_to_" + std::to_string(p.out_h) + "x" +
         std::to_string(p.out_w) + "x" + std::to_string(p.c);
}

LC_INSTANTIATE_PER_BACKEND_CASES(ImageResizeTest, resize_cases, resize_name);

// Known answers, worked out by hand, per backend and kernel version.
class ImageResizeKnownTest : public ::testing::TestWithParam<BackendKind> {};

void expect_resize(BackendKind kind, Backend& be, ResizeArgs a, const std::vector<std::uint8_t>& in,
                   const std::vector<double>& mean, const std::string& what) {
  for (int version : versions_of(kind)) {
    a.version = version;
    Guarded<std::uint8_t> gin(be, in), gu(be, mean.size());
    Guarded<float> gf(be, mean.size());
    resize_u8_on(kind, a, gin.get(), gu.get(), be.stream());
    resize_float_on(kind, a, gin.get(), gf.get(), be.stream());
    const auto u = gu.download();
    const auto f = gf.download();
    for (std::size_t e = 0; e < mean.size(); ++e) {
      EXPECT_EQ(int(u[e]), int(std::floor(mean[e] + 0.5))) << what << " v" << version << " u8 [" << e << "]";
      EXPECT_EQ(f[e], float(mean[e] / 255.0)) << what << " v" << version << " float [" << e << "]";
    }
  }
}

TEST_P(ImageResizeKnownTest, AreaOfBlocksGivesBlockMeans) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  // 4x4 of 2x2 blocks -> 2x2: TL {10,20,30,40} mean 25, TR {0,0,0,4} mean 1, BL all 255,
  // BR {1,2,3,4} mean 2.5 (u8 rounds half up to 3).
  const std::vector<std::uint8_t> in = {10, 20, 0, 0, 30, 40, 0, 4, 255, 255, 1, 2, 255, 255, 3, 4};
  expect_resize(GetParam(), *be, ResizeArgs{4, 4, 2, 2, 1, 0}, in, {25, 1, 255, 2.5}, "4x4 blocks by 2");
}

TEST_P(ImageResizeKnownTest, AreaWithFractionalWeights) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  // 3x3 -> 2x2: output 0 covers pixels 0 (weight 1) and 1 (weight 1/2) of each axis, output 1
  // pixels 1 (1/2) and 2 (1); the area is 1.5^2 = 2.25. E.g. out(0,0) = (1*0 + .5*90 + .5*180
  // + .25*36) / 2.25 = 144 / 2.25 = 64.
  const std::vector<std::uint8_t> in = {0, 90, 27, 180, 36, 18, 45, 72, 99};
  expect_resize(GetParam(), *be, ResizeArgs{3, 3, 2, 2, 1, 0}, in, {64, 40, 80, 68}, "3x3 -> 2x2");
}

TEST_P(ImageResizeKnownTest, BilinearHalfPixelCentresClampedEdges) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  // Columns 2 -> 4: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to pixel 1).
  expect_resize(GetParam(), *be, ResizeArgs{1, 2, 1, 4, 1, 0}, {0, 100}, {0, 25, 75, 100}, "row 2 -> 4");
  // Rows likewise.
  expect_resize(GetParam(), *be, ResizeArgs{2, 1, 4, 1, 1, 0}, {0, 100}, {0, 25, 75, 100}, "column 2 -> 4");
  // Mixed: rows grow 2 -> 4 (bilinear), columns shrink 4 -> 2 (area: pairs averaged).
  expect_resize(GetParam(), *be, ResizeArgs{2, 4, 4, 2, 1, 0}, {0, 4, 8, 12, 100, 104, 108, 112},
                {2, 10, 27, 35, 77, 85, 102, 110}, "2x4 -> 4x2 mixed");
}

TEST_P(ImageResizeKnownTest, ConstantAndIdentity) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  expect_resize(GetParam(), *be, ResizeArgs{718, 791, 64, 64, 1, 0}, std::vector<std::uint8_t>(718 * 791, 77),
                std::vector<double>(64 * 64, 77), "constant 718x791 -> 64x64");
  expect_resize(GetParam(), *be, ResizeArgs{5, 7, 64, 64, 1, 0}, std::vector<std::uint8_t>(5 * 7, 201),
                std::vector<double>(64 * 64, 201), "constant 5x7 -> 64x64");
  const auto img = random_bytes(64 * 64 * 3, 8);
  expect_resize(GetParam(), *be, ResizeArgs{64, 64, 64, 64, 3, 0}, img, std::vector<double>(img.begin(), img.end()),
                "identity 64x64");
}

// ---- extract_windows ------------------------------------------------------------------------

struct WindowCase {
  BackendKind kind;
  std::int64_t h, w;
  int c, stride, window;
  std::int64_t chunk;   // windows per call
  bool sample;          // only three ranges (top, middle, bottom) instead of the whole map
};
void PrintTo(const WindowCase& p, std::ostream* os) {
  *os << label_of(p.kind) << " windows " << p.h << "x" << p.w << "x" << p.c << " stride " << p.stride << " window "
      << p.window << " chunk " << p.chunk << (p.sample ? " sampled" : "");
}

class ImageWindowsTest : public ::testing::TestWithParam<WindowCase> {};

// Exact: every window element is one image byte / 255.
TEST_P(ImageWindowsTest, MatchesReferenceBitForBit) {
  const WindowCase p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  const auto image = random_bytes(std::size_t(p.h * p.w * p.c), 500 + p.h + p.w);
  WindowArgs a;
  a.image_h = p.h;
  a.image_w = p.w;
  a.channels = p.c;
  a.stride = p.stride;
  a.window = p.window;
  const std::int64_t total = window_map_h(a) * window_map_w(a), per = std::int64_t(p.window) * p.window * p.c;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  if (p.sample) {
    for (std::int64_t start : {std::int64_t(0), total / 2 - p.chunk / 2, total - p.chunk}) ranges.push_back({start, p.chunk});
  } else {
    for (std::int64_t s = 0; s < total; s += p.chunk) ranges.push_back({s, std::min(p.chunk, total - s)});
  }
  Guarded<std::uint8_t> gimg(*be, image);
  Guarded<float> gout(*be, std::size_t(p.chunk * per));
  for (int version : versions_of(p.kind)) {
    a.version = version;
    for (auto [first, count] : ranges) {
      a.first = first;
      a.count = count;
      std::vector<float> expected(std::size_t(p.chunk * per), 0.f);
      ref::extract_windows(a, image.data(), expected.data(), nullptr);
      gout.upload(std::vector<float>(expected.size(), 0.f));  // only [0, count) windows are written
      windows_on(p.kind, a, gimg.get(), gout.get(), be->stream());
      EXPECT_TRUE(same_bits(gout.download(), expected,
                            "windows " + std::to_string(p.h) + "x" + std::to_string(p.w) + "x" + std::to_string(p.c) +
                                " stride " + std::to_string(p.stride) + " K " + std::to_string(p.window) + " [" +
                                std::to_string(first) + ", +" + std::to_string(count) + ") v" + std::to_string(version)));
    }
  }
  EXPECT_TRUE(gout.guards_intact()) << "extract_windows wrote outside its output";
}

std::vector<WindowCase> window_cases(BackendKind k) {
  const bool sim = k == BackendKind::sim;
  return {
      // 37 rows x 100 columns: every window touches a border (64 > 37); stride 1 is 3,700 windows.
      {k, 37, 100, 3, 1, 64, sim ? 150 : 512, sim},
      {k, 37, 100, 3, 3, 64, 97, false},   // 13 x 34 = 442 windows, chunks not aligned to map rows
      {k, 37, 100, 3, 16, 64, 8, false},   // 3 x 7 = 21, partial last blocks (centres 34 and 98)
      {k, 100, 37, 3, 3, 64, 100, false},  // transposed
      {k, 1, 1, 3, 1, 64, 1, false},       // one pixel: every window element is that pixel
      {k, 1, 1, 3, 16, 64, 1, false},
      {k, 5, 3, 3, 2, 64, 2, false},       // smaller than the window in both directions
      {k, 37, 100, 1, 2, 7, 300, false},   // odd window, one channel
      {k, 64, 64, 4, 8, 64, 64, false},    // four channels, a whole 8x8 map in one call
  };
}

std::string window_name(const ::testing::TestParamInfo<WindowCase>& info) {
  const auto& p = info.param;
  return std::to_string(p.h) + "x" + std::to_string(p.w) + "x" + std::to_string(p.c) + "_s" +
         std::to_string(p.stride) + "_k" + std::to_string(p.window);
}

LC_INSTANTIATE_PER_BACKEND_CASES(ImageWindowsTest, window_cases, window_name);

class ImageWindowsKnownTest : public ::testing::TestWithParam<BackendKind> {};

// Reflect-101 by hand, window 8 (offsets -4..+3) over one-row images (every window row
// reflects to row 0):
//   1x5 row 10..50, stride 1, centre 0: columns -4..3 = 4 3 2 1 | 0 1 2 3 -> 50 40 30 20 10 20 30 40
//   same, centre 4:                      columns 0..7 = 0 1 2 3 4 | 3 2 1 -> 10 20 30 40 50 40 30 20
//   same, stride 4, map column 0 = block [0, 4), centre 2: -2..5 -> 30 20 10 20 30 40 50 40
//   1x3 row 10..30, stride 1, centre 0: -4..3 folds twice: 0 1 2 1 | 0 1 2 | 1 -> 10 20 30 20 10 20 30 20
TEST_P(ImageWindowsKnownTest, ReflectOneZeroOneByHand) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  struct Known {
    std::vector<std::uint8_t> row;
    int stride;
    std::int64_t window_index;
    std::array<int, 8> expected;
  };
  const Known cases[] = {
      {{10, 20, 30, 40, 50}, 1, 0, {50, 40, 30, 20, 10, 20, 30, 40}},
      {{10, 20, 30, 40, 50}, 1, 4, {10, 20, 30, 40, 50, 40, 30, 20}},
      {{10, 20, 30, 40, 50}, 4, 0, {30, 20, 10, 20, 30, 40, 50, 40}},
      {{10, 20, 30}, 1, 0, {10, 20, 30, 20, 10, 20, 30, 20}},
  };
  for (const Known& k : cases) {
    Guarded<std::uint8_t> gimg(*be, k.row);
    WindowArgs a;
    a.image_h = 1;
    a.image_w = std::int64_t(k.row.size());
    a.channels = 1;
    a.stride = k.stride;
    a.window = 8;
    a.first = k.window_index;
    a.count = 1;
    for (int version : versions_of(GetParam())) {
      a.version = version;
      Guarded<float> gout(*be, 64);
      windows_on(GetParam(), a, gimg.get(), gout.get(), be->stream());
      const auto out = gout.download();
      for (int r = 0; r < 8; ++r)
        for (int s = 0; s < 8; ++s)
          ASSERT_EQ(out[std::size_t(r * 8 + s)], unit(k.expected[std::size_t(s)]))
              << "width " << k.row.size() << " stride " << k.stride << " window " << k.window_index << " row " << r
              << " col " << s << " v" << version;
      EXPECT_TRUE(gout.guards_intact());
    }
  }
}

// The window's centre element (row K/2, column K/2) is the map pixel's centre pixel, and a 1x1
// image fills every window with its one colour.
TEST_P(ImageWindowsKnownTest, CentresAndOnePixelImage) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  // Centres by hand: 37 rows at stride 16 -> blocks [0,16) [16,32) [32,37): centres 8, 24, 34.
  EXPECT_EQ(window_map_size(37, 16), 3);
  EXPECT_EQ(window_centre(0, 16, 37), 8);
  EXPECT_EQ(window_centre(1, 16, 37), 24);
  EXPECT_EQ(window_centre(2, 16, 37), 34);
  EXPECT_EQ(window_centre(5, 1, 37), 5);
  const std::int64_t H = 37, W = 100, C = 3;
  const auto image = random_bytes(std::size_t(H * W * C), 4);
  WindowArgs a;
  a.image_h = H;
  a.image_w = W;
  a.stride = 16;
  a.first = 0;
  a.count = window_map_h(a) * window_map_w(a);
  Guarded<std::uint8_t> gimg(*be, image);
  Guarded<float> gout(*be, std::size_t(a.count) * 64 * 64 * 3);
  windows_on(GetParam(), a, gimg.get(), gout.get(), be->stream());
  const auto out = gout.download();
  const std::int64_t cy[3] = {8, 24, 34}, cx[7] = {8, 24, 40, 56, 72, 88, 98};
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 7; ++j)
      for (std::int64_t c = 0; c < C; ++c)
        ASSERT_EQ(out[std::size_t((((i * 7 + j) * 64 + 32) * 64 + 32) * 3 + c)],
                  unit(image[std::size_t((cy[i] * W + cx[j]) * C + c)]))
            << "map pixel " << i << "," << j;

  const std::vector<std::uint8_t> px = {200, 100, 51};
  Guarded<std::uint8_t> gpx(*be, px);
  WindowArgs one;
  one.image_h = 1;
  one.image_w = 1;
  one.first = 0;
  one.count = 1;
  Guarded<float> gone(*be, 64 * 64 * 3);
  windows_on(GetParam(), one, gpx.get(), gone.get(), be->stream());
  const auto o = gone.download();
  for (std::size_t e = 0; e < o.size(); ++e) ASSERT_EQ(o[e], unit(px[e % 3])) << e;
  EXPECT_TRUE(gone.guards_intact() && gout.guards_intact());
}

// A tile of a larger image (with its offset) gives the same windows as the whole image; a tile
// that misses a pixel the windows read is refused.
TEST_P(ImageWindowsKnownTest, TileGivesTheSameWindows) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const std::int64_t H = 300, W = 200, C = 3;
  const auto image = random_bytes(std::size_t(H * W * C), 12);
  WindowArgs a;
  a.image_h = H;
  a.image_w = W;
  a.stride = 4;
  const std::int64_t mw = window_map_w(a);  // 50
  for (auto [first, count] : {std::pair<std::int64_t, std::int64_t>{30 * mw + 10, 20},  // interior
                              {0, 30},                                                // top-left border
                              {74 * mw + 40, 10},                                     // bottom-right
                              {20 * mw + 45, 12}}) {                                  // spans two map rows
    a.first = first;
    a.count = count;
    a.tile_y0 = a.tile_x0 = a.tile_h = a.tile_w = 0;
    const PixelRect r = window_source_rect(a);
    ASSERT_LT(r.y0, r.y1);
    std::vector<float> expected(std::size_t(count) * 64 * 64 * 3);
    ref::extract_windows(a, image.data(), expected.data(), nullptr);
    std::vector<std::uint8_t> tile;
    for (std::int64_t y = r.y0; y < r.y1; ++y)
      tile.insert(tile.end(), image.begin() + (y * W + r.x0) * C, image.begin() + (y * W + r.x1) * C);
    WindowArgs t = a;
    t.tile_y0 = r.y0;
    t.tile_x0 = r.x0;
    t.tile_h = r.y1 - r.y0;
    t.tile_w = r.x1 - r.x0;
    Guarded<std::uint8_t> gtile(*be, tile);
    for (int version : versions_of(GetParam())) {
      t.version = version;
      Guarded<float> gout(*be, expected.size());
      windows_on(GetParam(), t, gtile.get(), gout.get(), be->stream());
      EXPECT_TRUE(same_bits(gout.download(), expected, "tiled windows from " + std::to_string(first) + " v" +
                                                           std::to_string(version)));
      EXPECT_TRUE(gout.guards_intact());
    }
    WindowArgs small = t;  // one row short
    small.tile_h -= 1;
    Guarded<float> gout(*be, expected.size());
    EXPECT_THROW(windows_on(GetParam(), small, gtile.get(), gout.get(), be->stream()), lc::Error);
  }
  if (GetParam() == BackendKind::cpu) {  // the geometry of one interior range, by hand
    a.first = 30 * mw + 10;
    a.count = 20;
    a.tile_h = a.tile_w = 0;
    const PixelRect r = window_source_rect(a);
    // Map row 30: centre 30*4 + 2 = 122, rows 90..153; columns 10..29: centres 42..118, cols 10..149.
    EXPECT_EQ(r.y0, 90);
    EXPECT_EQ(r.y1, 154);
    EXPECT_EQ(r.x0, 10);
    EXPECT_EQ(r.x1, 150);
  }
}

// ---- flat_patches ---------------------------------------------------------------------------

struct FlatCase {
  BackendKind kind;
  std::int64_t count;
  int h, w, c;
};
void PrintTo(const FlatCase& p, std::ostream* os) {
  *os << label_of(p.kind) << " flat patches " << p.count << " x " << p.h << "x" << p.w << "x" << p.c;
}

class ImageFlatTest : public ::testing::TestWithParam<FlatCase> {};

TEST_P(ImageFlatTest, MatchesReferenceBitForBit) {
  const FlatCase p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  const auto colours = random_bytes(std::size_t(p.count * p.c), 70 + p.count);
  FlatPatchArgs a{p.count, p.h, p.w, p.c};
  const std::size_t n = std::size_t(p.count) * p.h * p.w * p.c;
  std::vector<float> expected(n);
  ref::flat_patches(a, colours.data(), expected.data(), nullptr);
  Guarded<std::uint8_t> gc(*be, colours);
  Guarded<float> go(*be, n);
  flat_on(p.kind, a, gc.get(), go.get(), be->stream());
  EXPECT_TRUE(same_bits(go.download(), expected, "flat patches " + std::to_string(p.count)));
  EXPECT_TRUE(go.guards_intact());
}

std::vector<FlatCase> flat_cases(BackendKind k) {
  return {{k, 1, 64, 64, 3}, {k, 7, 64, 64, 3}, {k, 300, 64, 64, 3}, {k, 5, 3, 2, 1}, {k, 0, 64, 64, 3}};
}

std::string flat_name(const ::testing::TestParamInfo<FlatCase>& info) {
  const auto& p = info.param;
  return "n" + std::to_string(p.count) + "_" + std::to_string(p.h) + "x" + std::to_string(p.w) + "x" +
         std::to_string(p.c);
}

LC_INSTANTIATE_PER_BACKEND_CASES(ImageFlatTest, flat_cases, flat_name);

class ImageFlatKnownTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(ImageFlatKnownTest, ColourOver255) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const std::vector<std::uint8_t> colours = {255, 0, 51, 1, 2, 3};
  Guarded<std::uint8_t> gc(*be, colours);
  Guarded<float> go(*be, 2 * 64 * 64 * 3);
  flat_on(GetParam(), FlatPatchArgs{2, 64, 64, 3}, gc.get(), go.get(), be->stream());
  const auto out = go.download();
  for (std::size_t p = 0; p < 64 * 64; ++p) {
    ASSERT_EQ(out[p * 3 + 0], 1.0f);
    ASSERT_EQ(out[p * 3 + 1], 0.0f);
    ASSERT_EQ(out[p * 3 + 2], 0.2f);  // 51 / 255 = 0.2 exactly; 0.2f is its rounding
    ASSERT_EQ(out[(64 * 64 + p) * 3 + 2], float(3.0 / 255.0));
  }
  EXPECT_TRUE(go.guards_intact());
}

// ---- gather_rows_cols -----------------------------------------------------------------------

class ImageGatherRowsColsTest : public ::testing::TestWithParam<BackendKind> {};

// Random maps (repeats, reversals, every source row) over random floats with NaN and -0 among
// them: bit-for-bit against the reference, then two entries worked out by hand.
TEST_P(ImageGatherRowsColsTest, MatchesReferenceBitForBit) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  struct Shape {
    std::int64_t count;
    int in_h, in_w, c, out_h, out_w;
  };
  for (const Shape sh : {Shape{3, 3, 5, 16, 10, 7}, Shape{2, 10, 10, 32, 10, 10}, Shape{1, 1, 1, 1, 4, 1},
                         Shape{5, 4, 2, 3, 2, 9}, Shape{0, 3, 3, 3, 3, 3}}) {
    GatherRowsColsArgs a;
    a.count = sh.count, a.in_h = sh.in_h, a.in_w = sh.in_w, a.channels = sh.c, a.out_h = sh.out_h, a.out_w = sh.out_w;
    std::mt19937 rng(std::uint32_t(sh.in_h * 131 + sh.out_w));
    std::vector<std::int32_t> rows(std::size_t(sh.out_h)), cols(std::size_t(sh.out_w));
    for (auto& r : rows) r = std::int32_t(rng() % std::uint32_t(sh.in_h));
    for (auto& q : cols) q = std::int32_t(rng() % std::uint32_t(sh.in_w));
    const std::size_t nin = std::size_t(sh.count) * sh.in_h * sh.in_w * sh.c;
    std::vector<float> in(nin);
    std::uniform_real_distribution<float> u(-3.f, 3.f);
    for (auto& v : in) v = u(rng);
    if (nin > 2) in[1] = std::nanf(""), in[2] = -0.0f;
    const std::size_t nout = std::size_t(sh.count) * sh.out_h * sh.out_w * sh.c;
    std::vector<float> expected(nout);
    ref::gather_rows_cols(a, in.data(), rows.data(), cols.data(), expected.data(), nullptr);
    Guarded<float> gin(*be, in);
    Guarded<std::int32_t> grows(*be, rows), gcols(*be, cols);
    Guarded<float> gout(*be, nout);
    gather_rows_cols_on(GetParam(), a, gin.get(), grows.get(), gcols.get(), gout.get(), be->stream());
    const auto out = gout.download();
    EXPECT_TRUE(same_bits(out, expected, "gather " + std::to_string(sh.out_h) + "x" + std::to_string(sh.out_w)));
    EXPECT_TRUE(gout.guards_intact());
    if (sh.count > 0) {  // by hand: the last element of the last image
      const std::int64_t k = sh.count - 1, i = sh.out_h - 1, j = sh.out_w - 1, c = sh.c - 1;
      const float want = in[std::size_t(((k * sh.in_h + rows[std::size_t(i)]) * sh.in_w + cols[std::size_t(j)]) * sh.c + c)];
      const float got = out[std::size_t(((k * sh.out_h + i) * sh.out_w + j) * sh.c + c)];
      EXPECT_EQ(std::memcmp(&want, &got, 4), 0) << want << " vs " << got;
    }
  }
}

TEST_P(ImageGatherRowsColsTest, OutOfRangeIndicesGiveNaN) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  GatherRowsColsArgs a;
  a.count = 1, a.in_h = 2, a.in_w = 2, a.channels = 2, a.out_h = 2, a.out_w = 2;
  const std::vector<float> in = {1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<std::int32_t> rows = {1, 2}, cols = {-1, 0};  // row 2 and column -1 do not exist
  Guarded<float> gin(*be, in);
  Guarded<std::int32_t> grows(*be, rows), gcols(*be, cols);
  Guarded<float> gout(*be, 8);
  gather_rows_cols_on(GetParam(), a, gin.get(), grows.get(), gcols.get(), gout.get(), be->stream());
  const auto out = gout.download();
  // (0,0): column -1; (0,1): row 1, column 0 = pixel (1,0) = {5, 6}; row 1 of the output: row 2.
  for (int e : {0, 1, 4, 5, 6, 7}) EXPECT_TRUE(std::isnan(out[std::size_t(e)])) << e;
  EXPECT_EQ(out[2], 5.f);
  EXPECT_EQ(out[3], 6.f);
  EXPECT_TRUE(gout.guards_intact());
}

LC_INSTANTIATE_PER_BACKEND(ImageGatherRowsColsTest, backend_name_of);

// ---- class_map ------------------------------------------------------------------------------

struct ClassMapCase {
  BackendKind kind;
  std::int64_t n;
  int classes;
  bool masked;
};
void PrintTo(const ClassMapCase& p, std::ostream* os) {
  *os << label_of(p.kind) << " class map n=" << p.n << " classes " << p.classes << (p.masked ? " masked" : "");
}

class ImageClassMapTest : public ::testing::TestWithParam<ClassMapCase> {};

// Exact: integer counts and copied palette bytes.
TEST_P(ImageClassMapTest, MatchesReferenceExactly) {
  const ClassMapCase p = GetParam();
  auto be = backend_or_skip(p.kind);
  if (!be) return;
  std::mt19937 rng(std::uint32_t(p.n + p.classes));
  std::vector<std::int32_t> cls(static_cast<std::size_t>(p.n));
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(p.n));
  for (std::int64_t i = 0; i < p.n; ++i) {
    const std::uint32_t r = rng() % 100;  // 2% out of range (-1, classes, a large value)
    cls[std::size_t(i)] = r == 0 ? -1 : (r == 1 ? (rng() % 2 ? p.classes : 1 << 30) : std::int32_t(rng() % std::uint32_t(p.classes)));
    mask[std::size_t(i)] = rng() % 10 == 0 ? 0 : std::uint8_t(1 + rng() % 255);
  }
  const auto palette = random_bytes(std::size_t(p.classes) * 3, 9);
  ClassMapArgs a;
  a.n = p.n;
  a.classes = p.classes;
  a.nodata_rgb[0] = 1;
  a.nodata_rgb[1] = 2;
  a.nodata_rgb[2] = 3;
  const std::uint8_t* hmask = p.masked ? mask.data() : nullptr;
  const std::size_t bins = std::size_t(p.classes) + 2;
  std::vector<std::int64_t> ref_counts(bins);
  std::vector<std::uint8_t> ref_rgb(std::size_t(p.n) * 3);
  ref::class_map(a, cls.data(), hmask, palette.data(), ref_counts.data(), ref_rgb.data(), nullptr);
  std::int64_t sum = 0;
  for (auto c : ref_counts) sum += c;
  ASSERT_EQ(sum, p.n);

  Guarded<std::int32_t> gcls(*be, cls);
  Guarded<std::uint8_t> gmask(*be, mask), gpal(*be, palette), grgb(*be, std::size_t(p.n) * 3);
  Guarded<std::int64_t> gcounts(*be, std::vector<std::int64_t>(bins, 12345));  // overwritten
  std::uint8_t* dmask = p.masked ? gmask.get() : nullptr;
  class_map_on(p.kind, a, gcls.get(), dmask, gpal.get(), gcounts.get(), grgb.get(), be->stream());
  EXPECT_TRUE(same_bits(gcounts.download(), ref_counts, "class counts n=" + std::to_string(p.n)));
  EXPECT_TRUE(same_bits(grgb.download(), ref_rgb, "colour map n=" + std::to_string(p.n)));

  // Accumulate: a second call adds; counts only (rgb nullptr) leaves the map alone.
  a.accumulate = true;
  class_map_on(p.kind, a, gcls.get(), dmask, gpal.get(), gcounts.get(), nullptr, be->stream());
  std::vector<std::int64_t> twice = ref_counts;
  for (auto& c : twice) c *= 2;
  EXPECT_TRUE(same_bits(gcounts.download(), twice, "accumulated counts"));
  // Map only (counts nullptr).
  a.accumulate = false;
  grgb.upload(std::vector<std::uint8_t>(std::size_t(p.n) * 3, 0));
  class_map_on(p.kind, a, gcls.get(), dmask, gpal.get(), nullptr, grgb.get(), be->stream());
  EXPECT_TRUE(same_bits(grgb.download(), ref_rgb, "colour map without counts"));
  EXPECT_TRUE(gcounts.guards_intact() && grgb.guards_intact()) << "class_map wrote outside its outputs";
}

std::vector<ClassMapCase> class_map_cases(BackendKind k) {
  const std::int64_t big = k == BackendKind::sim ? (1 << 18) : (1 << 22);
  return {{k, 1, 10, false},      {k, 64 * 64, 10, false}, {k, 64 * 64, 10, true},
          {k, 100 * 37, 10, true}, {k, big, 10, true},      {k, 10007, 4096, false}};
}

std::string class_map_name(const ::testing::TestParamInfo<ClassMapCase>& info) {
  const auto& p = info.param;
  return "n" + std::to_string(p.n) + "_classes" + std::to_string(p.classes) + (p.masked ? "_masked" : "");
}

LC_INSTANTIATE_PER_BACKEND_CASES(ImageClassMapTest, class_map_cases, class_map_name);

class ImageClassMapKnownTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(ImageClassMapKnownTest, CountsAndColoursByHand) {
  auto be = backend_or_skip(GetParam());
  if (!be) return;
  const std::vector<std::int32_t> cls = {0, 1, 1, 2, 2, 2, 7, 1};
  const std::vector<std::uint8_t> mask = {1, 1, 1, 1, 1, 1, 1, 0};
  const std::vector<std::uint8_t> palette = {10, 11, 12, 20, 21, 22, 30, 31, 32};
  Guarded<std::int32_t> gcls(*be, cls);
  Guarded<std::uint8_t> gmask(*be, mask), gpal(*be, palette), grgb(*be, 8 * 3);
  Guarded<std::int64_t> gcounts(*be, 5);
  ClassMapArgs a;
  a.n = 8;
  a.classes = 3;
  a.nodata_rgb[0] = 255;
  class_map_on(GetParam(), a, gcls.get(), gmask.get(), gpal.get(), gcounts.get(), grgb.get(), be->stream());
  // classes 0, 1, 2; the masked pixel; the pixel with class 7 (out of range).
  EXPECT_EQ(gcounts.download(), (std::vector<std::int64_t>{1, 2, 3, 1, 1}));
  EXPECT_EQ(grgb.download(), (std::vector<std::uint8_t>{10, 11, 12, 20, 21, 22, 20, 21, 22, 30, 31, 32, 30, 31, 32,
                                                         30, 31, 32, 255, 0, 0, 255, 0, 0}));
  EXPECT_TRUE(gcounts.guards_intact() && grgb.guards_intact());
}

LC_INSTANTIATE_PER_BACKEND(ImageAugmentTest, backend_name_of);
LC_INSTANTIATE_PER_BACKEND(ImageResizeKnownTest, backend_name_of);
LC_INSTANTIATE_PER_BACKEND(ImageWindowsKnownTest, backend_name_of);
LC_INSTANTIATE_PER_BACKEND(ImageFlatKnownTest, backend_name_of);
LC_INSTANTIATE_PER_BACKEND(ImageClassMapKnownTest, backend_name_of);

// ---- host-only facts of the contract ----------------------------------------------------------

// x / 255 in float equals the double quotient rounded to float, for every byte (the contract
// allows either formula), and the ends are exact.
TEST(RefImage, UnitScalingIsOneCorrectlyRoundedDivision) {
  for (int v = 0; v < 256; ++v) ASSERT_EQ(float(v) / 255.0f, float(double(v) / 255.0)) << v;
  EXPECT_EQ(unit(0), 0.0f);
  EXPECT_EQ(unit(255), 1.0f);
}

// The augmentation RNG: Philox4x32-10's Random123 known answer (counter 0, key 0), fair flips
// and uniform quarter turns over 2^17 draws (binomial sd of a share ~0.0014; 0.01 is > 7 sd),
// no augmentation in mode none, and different draws for different seeds and steps.
TEST(RefImage, AugmentChoicesAreFairAndKeyed) {
  const Philox4x32 zero = philox4x32_10(Philox4x32{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  const int draws = 1 << 17;
  int flips = 0, rot[4] = {0, 0, 0, 0}, same_seed_diff = 0, same_step_diff = 0;
  for (int i = 0; i < draws; ++i) {
    const std::uint64_t step = std::uint64_t(i / 16), pos = std::uint64_t(i % 16);
    const AugmentChoice c = augment_choice(Augment::flip_rot90, 1, step, std::uint32_t(pos));
    flips += c.flip;
    ++rot[c.rot90];
    const AugmentChoice f = augment_choice(Augment::flip, 1, step, std::uint32_t(pos));
    EXPECT_EQ(f.rot90, 0);
    EXPECT_EQ(f.flip, c.flip);  // the flip bit is shared: modes differ only by the rotation
    const AugmentChoice n = augment_choice(Augment::none, 1, step, std::uint32_t(pos));
    EXPECT_TRUE(!n.flip && n.rot90 == 0);
    const AugmentChoice other_seed = augment_choice(Augment::flip_rot90, 2, step, std::uint32_t(pos));
    const AugmentChoice other_step = augment_choice(Augment::flip_rot90, 1, step + (1ull << 32), std::uint32_t(pos));
    same_seed_diff += other_seed.flip != c.flip || other_seed.rot90 != c.rot90;
    same_step_diff += other_step.flip != c.flip || other_step.rot90 != c.rot90;
  }
  EXPECT_NEAR(double(flips) / draws, 0.5, 0.01);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(double(rot[k]) / draws, 0.25, 0.01) << "k=" << k;
  // Independent draws agree with probability 1/8.
  EXPECT_NEAR(double(same_seed_diff) / draws, 7.0 / 8.0, 0.01);
  EXPECT_NEAR(double(same_step_diff) / draws, 7.0 / 8.0, 0.01);  // the high word of the step counts
}

// Bad arguments are refused by every implementation before any work.
TEST(CpuImage, BadArgumentsAreRefused) {
  float out[16];
  std::uint8_t img[16] = {};
  std::int32_t idx[1] = {0};
  GatherBatchArgs g{1, 1, 4, 2, 1, Augment::flip_rot90, 0, 0};  // rot90 needs a square
  EXPECT_THROW(cpu::gather_batch(g, img, idx, out, nullptr), lc::Error);
  EXPECT_THROW(sim::gather_batch(g, img, idx, out, nullptr), lc::Error);
  ResizeArgs r{0, 4, 2, 2, 3, 0};
  EXPECT_THROW(cpu::resize_u8(r, img, img, nullptr), lc::Error);
  r = ResizeArgs{4, 4, 2, 2, 5, 0};  // 5 channels
  EXPECT_THROW(sim::resize_to_float(r, img, out, nullptr), lc::Error);
  WindowArgs w;
  w.image_h = 2;
  w.image_w = 2;
  w.count = 5;  // the 2x2 map has 4 windows
  EXPECT_THROW(cpu::extract_windows(w, img, out, nullptr), lc::Error);
  EXPECT_THROW(sim::extract_windows(w, img, out, nullptr), lc::Error);
  ClassMapArgs c;
  c.n = 1;
  c.classes = 0;
  EXPECT_THROW(ref::class_map(c, idx, nullptr, img, nullptr, nullptr, nullptr), lc::Error);
}

}  // namespace
}  // namespace lc::test

// Dropout: Philox4x32-10 against the Random123 known-answer vectors, the keep rate, bit-identical
// masks and outputs on every backend (forward and backward, in place, inference identity), the
// step read from device memory, and backward consistent with forward.
#include <cstring>
#include <ostream>
#include <string>

#include "kernels/dropout/dropout.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

void forward_on(BackendKind k, const DropoutArgs& a, const std::int64_t* step, const float* x, float* y,
                stream_t s) {
  LC_DISPATCH(k, dropout_forward, a, step, x, y, s);
}
void backward_on(BackendKind k, const DropoutArgs& a, const std::int64_t* step, const float* dy, float* dx,
                 stream_t s) {
  LC_DISPATCH(k, dropout_backward, a, step, dy, dx, s);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Known-answer vectors, philox4x32 with 10 rounds: counter words 0..3, key words 0..1, output
// words 0..3. The first three are the philox4x32-10 lines of Random123's tests/kat_vectors
// (DEShawResearch/random123; the same three lines appear in Boost.Random's philox test and in
// several independent ports). The last two come from the longer generated list in the Random123
// manual repository's examples/kat_vectors (girving/random123-manual).
struct Kat {
  std::uint32_t ctr[4], key[2], out[4];
};
constexpr Kat kKat[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    {{0x00000001, 0x00000000, 0x00000000, 0x00000000}, {0x00000001, 0x00000000},
     {0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0x00000000, 0xffffffff},
     {0x08f7720c, 0x845ee9e0, 0x502ccd3d, 0xa9a00e27}},
};

TEST(RefDropout, PhiloxMatchesRandom123KnownAnswers) {
  for (const Kat& k : kKat) {
    const Philox4x32 r =
        philox4x32_10(Philox4x32{{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}}, k.key[0], k.key[1]);
    for (int q = 0; q < 4; ++q)
      EXPECT_EQ(r.v[q], k.out[q]) << "word " << q << " for counter " << std::hex << k.ctr[0] << " key " << k.key[0]
                                  << " " << k.key[1];
  }
}

// The fraction kept over 1M elements: binomial standard deviation sqrt(p(1-p)/n) = 5e-4 at
// rate 0.5, so [0.49, 0.51] is +-20 sigma (fails only for a broken generator or threshold).
// Kept values are exactly x * 1/(1-rate).
TEST(RefDropout, KeepRateAndScale) {
  const std::int64_t n = 1 << 20, step = 7;
  for (float rate : {0.5f, 0.2f}) {
    const DropoutArgs a{n, rate, 0x1234abcd5678ef01ull, 3, true};
    std::vector<float> x(n, 1.f), y(n);
    ref::dropout_forward(a, &step, x.data(), y.data(), nullptr);
    std::int64_t kept = 0;
    for (float v : y) {
      if (v != 0.f) {
        ++kept;
        ASSERT_EQ(v, float(1.0 / (1.0 - rate)));
      }
    }
    const double frac = double(kept) / double(n);
    EXPECT_GE(frac, 1.0 - rate - 0.01) << "rate " << rate;
    EXPECT_LE(frac, 1.0 - rate + 0.01) << "rate " << rate;
  }
  // rate 0 keeps everything unscaled.
  const DropoutArgs a0{1000, 0.f, 1, 0, true};
  std::vector<float> x = random_floats(1000, 5), y(1000);
  ref::dropout_forward(a0, &step, x.data(), y.data(), nullptr);
  EXPECT_TRUE(same_bits(x, y));
}

// Masks of different steps, streams or seeds are independent: they agree on about half of the
// elements (+-20 sigma over 64K elements: [0.46, 0.54]).
TEST(RefDropout, StepStreamAndSeedChangeTheMask) {
  const std::int64_t n = 1 << 16;
  std::vector<float> x(n, 1.f);
  auto mask = [&](std::uint64_t seed, std::uint32_t stream, std::int64_t step) {
    std::vector<float> y(n);
    ref::dropout_forward(DropoutArgs{n, 0.5f, seed, stream, true}, &step, x.data(), y.data(), nullptr);
    return y;
  };
  const auto base = mask(42, 16, 100);
  for (const auto& other : {mask(42, 16, 101), mask(42, 18, 100), mask(43, 16, 100), mask(42ull << 32, 16, 100)}) {
    std::int64_t agree = 0;
    for (std::int64_t i = 0; i < n; ++i) agree += (base[i] != 0.f) == (other[i] != 0.f);
    const double f = double(agree) / double(n);
    EXPECT_GT(f, 0.46);
    EXPECT_LT(f, 0.54);
  }
  EXPECT_TRUE(same_bits(base, mask(42, 16, 100))) << "same key must give the same mask";
}

struct DropoutCase {
  BackendKind kind;
  std::int64_t n;
  float rate;
};

void PrintTo(const DropoutCase& c, std::ostream* os) {
  *os << label_of(c.kind) << " n=" << c.n << " rate=" << c.rate;
}

class DropoutTest : public ::testing::TestWithParam<DropoutCase> {};

TEST_P(DropoutTest, BitIdenticalToReference) {
  const auto [kind, n, rate] = GetParam();
  auto be = backend_or_skip(kind);
  if (!be) return;
  const std::string what = "n=" + std::to_string(n) + " rate=" + std::to_string(rate);
  SCOPED_TRACE(what);
  const std::int64_t step = 1349;
  const DropoutArgs a{n, rate, 0x9e3779b97f4a7c15ull, 16, true};
  // x has no zeros, so y != 0 exactly where the element is kept.
  auto x = random_floats(n, 31 + n, 0.5f, 2.f);
  auto dy = random_floats(n, 32 + n, -1.f, 1.f);
  std::vector<float> y_ref(n), dx_ref(n);
  ref::dropout_forward(a, &step, x.data(), y_ref.data(), nullptr);
  ref::dropout_backward(a, &step, dy.data(), dx_ref.data(), nullptr);
  // Backward consistent with forward: dx = dy * scale where kept, 0 where dropped.
  const float scale = dropout_scale(rate);
  for (std::int64_t i = 0; i < n; ++i)
    ASSERT_EQ(dx_ref[i], y_ref[i] != 0.f ? dy[i] * scale : 0.f) << "element " << i;

  Guarded<std::int64_t> gstep(*be, std::vector<std::int64_t>{step});
  Guarded<float> gx(*be, x), gy(*be, n), gdy(*be, dy), gdx(*be, n);
  forward_on(kind, a, gstep.get(), gx.get(), gy.get(), be->stream());
  backward_on(kind, a, gstep.get(), gdy.get(), gdx.get(), be->stream());
  EXPECT_TRUE(same_bits(gy.download(), y_ref)) << "forward differs from the reference";
  EXPECT_TRUE(same_bits(gdx.download(), dx_ref)) << "backward differs from the reference";
  EXPECT_TRUE(gy.guards_intact() && gdx.guards_intact()) << "dropout wrote outside its output";
  EXPECT_EQ(gstep.download()[0], step) << "dropout must not write the step";

  // The step is read from device memory at each call: a new value there gives a new mask.
  if (n >= 64 && rate > 0.f) {
    gstep.upload({step + 1});
    forward_on(kind, a, gstep.get(), gx.get(), gy.get(), be->stream());
    EXPECT_FALSE(same_bits(gy.download(), y_ref)) << "the mask did not change with the step";
    gstep.upload({step});
  }
  // In place.
  forward_on(kind, a, gstep.get(), gx.get(), gx.get(), be->stream());
  EXPECT_TRUE(same_bits(gx.download(), y_ref)) << "in-place forward";
  backward_on(kind, a, gstep.get(), gdy.get(), gdy.get(), be->stream());
  EXPECT_TRUE(same_bits(gdy.download(), dx_ref)) << "in-place backward";
  // Inference: the identity (no step needed).
  DropoutArgs inf = a;
  inf.training = false;
  gx.upload(x);
  forward_on(kind, inf, nullptr, gx.get(), gy.get(), be->stream());
  EXPECT_TRUE(same_bits(gy.download(), x)) << "inference must be the identity";
  backward_on(kind, inf, nullptr, gx.get(), gdx.get(), be->stream());
  EXPECT_TRUE(same_bits(gdx.download(), x)) << "inference backward must be the identity";
}

std::vector<DropoutCase> cases(BackendKind k) {
  // The model's dropout inputs at batch 16 (16 x 128, 16 x 64), batch 1, sizes that are not a
  // multiple of the 4-element Philox group, rate 0.2, rate 0, and 1M + 5 elements (more than one
  // grid-stride pass of the kernel).
  std::vector<DropoutCase> v;
  for (std::int64_t n : {16 * 128, 16 * 64, 128, 1, 3, 5, 1023, (1 << 20) + 5}) v.push_back({k, n, 0.5f});
  v.push_back({k, 999, 0.2f});
  v.push_back({k, 1000, 0.f});
  return v;
}

std::string case_name(const ::testing::TestParamInfo<DropoutCase>& info) {
  return "n" + std::to_string(info.param.n) + "_rate" + std::to_string(int(info.param.rate * 100));
}

LC_INSTANTIATE_PER_BACKEND_CASES(DropoutTest, cases, case_name);

}  // namespace
}  // namespace lc::test

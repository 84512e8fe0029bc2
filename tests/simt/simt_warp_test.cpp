// Host SIMT emulator: warp ops with sm_70+ semantics (__shfl*_sync with widths and partial masks,
// votes, __syncwarp, __activemask, sm_80 reductions, __match_*), partial warps, exited lanes.
// Expected values follow the CUDA programming guide's description of each intrinsic.
// Depends on: kernels/simt, GoogleTest.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/simt/simt.h"
#include "tests/simt/simt_test_util.h"

namespace lc::LC_KERNEL_NS {
namespace {

enum ShflOp { kIdx = 0, kUp = 1, kDown = 2, kXor = 3 };
struct ShflCase {
  int op;
  unsigned mask;
  int arg;
  int width;
};

// Lanes in c.mask do the shuffle under test; the other lanes of the warp meanwhile run their own
// shuffle with the complementary mask (two independent groups in one warp).
__global__ void shfl_kernel(ShflCase c, int* out) {
  const unsigned lane = threadIdx.x % warpSize;
  const int v = 1000 + static_cast<int>(threadIdx.x);
  int r = -1;
  if ((c.mask >> lane) & 1u) {
    switch (c.op) {
      case kIdx: r = __shfl_sync(c.mask, v, c.arg, c.width); break;
      case kUp: r = __shfl_up_sync(c.mask, v, static_cast<unsigned>(c.arg), c.width); break;
      case kDown: r = __shfl_down_sync(c.mask, v, static_cast<unsigned>(c.arg), c.width); break;
      default: r = __shfl_xor_sync(c.mask, v, c.arg, c.width); break;
    }
  } else {
    r = __shfl_xor_sync(~c.mask, v, 0) - 1000000;
  }
  out[threadIdx.x] = r;
}

template <class T>
__global__ void typed_reduce_kernel(const T* in, T* out) {
  T v = in[threadIdx.x];
  for (int o = 16; o > 0; o /= 2) v = v + __shfl_down_sync(0xffffffffu, v, static_cast<unsigned>(o));
  const T first = __shfl_sync(0xffffffffu, v, 0);
  out[threadIdx.x] = first;
}

__global__ void float4_shfl_kernel(float4* out) {
  const float f = static_cast<float>(threadIdx.x);
  const float4 v = make_float4(f, f + 0.25f, f + 0.5f, f + 0.75f);
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, v, 1);
}

__global__ void butterfly_kernel(const float* in, float* out) {
  float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  for (int m = 16; m > 0; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
  out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

struct VoteOut {
  unsigned ballot, ballot_partial, active;
  int any, all, any_partial, all_partial;
  unsigned reduce_add, reduce_min, reduce_max, reduce_and, reduce_or, reduce_xor;
  int reduce_min_signed;
  unsigned match_any, match_all;
  int match_all_pred;
};

__global__ void vote_kernel(VoteOut* out) {
  const unsigned t = threadIdx.x;
  const unsigned lane = t % 32;
  VoteOut o{};
  o.ballot = __ballot_sync(0xffffffffu, lane % 3 == 0);
  o.any = __any_sync(0xffffffffu, lane == 7);
  o.all = __all_sync(0xffffffffu, lane < 31);
  o.active = __activemask();
  o.reduce_add = __reduce_add_sync(0xffffffffu, lane);
  o.reduce_min = __reduce_min_sync(0xffffffffu, lane + 5);
  o.reduce_max = __reduce_max_sync(0xffffffffu, lane + 5);
  o.reduce_and = __reduce_and_sync(0xffffffffu, 0xF0u | (1u << (lane % 4)));
  o.reduce_or = __reduce_or_sync(0xffffffffu, 1u << lane);
  o.reduce_xor = __reduce_xor_sync(0xffffffffu, 1u << (lane % 2));
  o.reduce_min_signed = __reduce_min_sync(0xffffffffu, static_cast<int>(lane) - 3);
  o.match_any = __match_any_sync(0xffffffffu, lane / 8);
  o.match_all = __match_all_sync(0xffffffffu, 42, &o.match_all_pred);
  // Even lanes vote among themselves, odd lanes among themselves.
  const unsigned half = (lane % 2 == 0) ? 0x55555555u : 0xAAAAAAAAu;
  o.ballot_partial = __ballot_sync(half, lane < 8);
  o.any_partial = __any_sync(half, lane == 3);
  o.all_partial = __all_sync(half, lane != 4);
  __syncwarp(half);
  __syncwarp();
  out[t] = o;
}

// A partial warp (blockDim 48) and lanes that exited before a full-mask op.
__global__ void partial_warp_kernel(unsigned* ballots, int* shfl, unsigned* active) {
  const unsigned t = threadIdx.x;
  const unsigned lane = t % 32;
  if (t < 8) return;  // lanes 0-7 of warp 0 exit
  ballots[t] = __ballot_sync(0xffffffffu, 1);
  shfl[t] = __shfl_sync(0xffffffffu, static_cast<int>(t), 10);
  active[t] = __activemask();  // no lane has passed the __syncwarp below, so none exited yet
  __syncwarp(lane < 16 || t < 32 ? 0xffffffffu : 0x0000ffffu);
}

}  // namespace
}  // namespace lc::LC_KERNEL_NS

namespace {

namespace sim = lc::sim;

// The lane whose value lane `l` receives, per the CUDA programming guide.
int expected_source(const sim::ShflCase& c, int l) {
  const int w = c.width;
  const int seg = l & ~(w - 1);
  switch (c.op) {
    case sim::kIdx: return seg + (c.arg & (w - 1));
    case sim::kUp: return (l - seg) >= c.arg ? l - c.arg : l;
    case sim::kDown: return (l - seg) + c.arg < w ? l + c.arg : l;
    default: {
      const int j = l ^ c.arg;
      return j <= (seg | (w - 1)) ? j : l;  // later groups: own value
    }
  }
}

class SimtWarpShfl : public ::testing::TestWithParam<sim::ShflCase> {};

TEST_P(SimtWarpShfl, MatchesCudaSemantics) {
  const sim::ShflCase c = GetParam();
  const int n = 64;  // two warps: each shuffles within itself
  std::vector<int> out(n, -7);
  lc::simt::launch(sim::shfl_kernel, 1, n, 0, nullptr, c, out.data());
  for (int t = 0; t < n; ++t) {
    const int lane = t % 32, warp = t / 32;
    const int expected = ((c.mask >> lane) & 1u) ? 1000 + warp * 32 + expected_source(c, lane) : 1000 + t - 1000000;
    ASSERT_EQ(out[t], expected) << "op " << c.op << " mask " << std::hex << c.mask << std::dec << " arg " << c.arg
                                << " width " << c.width << " thread " << t;
  }
}

std::vector<sim::ShflCase> shfl_cases() {
  std::vector<sim::ShflCase> cases;
  for (int width : {32, 16, 8, 4, 2, 1}) {
    for (int arg : {0, 1, 3, 5, 31, 37, -1}) cases.push_back({sim::kIdx, 0xffffffffu, arg, width});
    for (int arg : {0, 1, 2, 3, 16}) {
      cases.push_back({sim::kUp, 0xffffffffu, arg, width});
      cases.push_back({sim::kDown, 0xffffffffu, arg, width});
    }
    for (int arg : {1, 2, 7, 16, 31}) cases.push_back({sim::kXor, 0xffffffffu, arg, width});
  }
  // Partial masks whose sources stay inside the mask.
  cases.push_back({sim::kIdx, 0x0000ffffu, 3, 16});
  cases.push_back({sim::kIdx, 0xffff0000u, 9, 16});
  cases.push_back({sim::kDown, 0x0000ffffu, 4, 16});
  cases.push_back({sim::kUp, 0xffff0000u, 2, 16});
  cases.push_back({sim::kXor, 0x55555555u, 2, 32});
  cases.push_back({sim::kXor, 0x0f0f0f0fu, 1, 8});
  cases.push_back({sim::kIdx, 0x0f0f0f0fu, 2, 8});
  cases.push_back({sim::kIdx, 0x00000001u, 0, 32});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(SimtCases, SimtWarpShfl, ::testing::ValuesIn(shfl_cases()));

template <class T>
void check_typed_reduce() {
  std::vector<T> in(64), out(64);
  for (int i = 0; i < 64; ++i) in[i] = static_cast<T>(i + 1);
  lc::simt::launch(sim::typed_reduce_kernel<T>, 1, 64, 0, nullptr, in.data(), out.data());
  for (int i = 0; i < 64; ++i) ASSERT_EQ(out[i], static_cast<T>(i < 32 ? 528 : 1552)) << i;
}

TEST(SimtWarp, ShuffleTypes) {
  check_typed_reduce<int>();
  check_typed_reduce<unsigned>();
  check_typed_reduce<long long>();
  check_typed_reduce<unsigned long long>();
  check_typed_reduce<float>();
  check_typed_reduce<double>();
  std::vector<sim::float4> out(32);
  lc::simt::launch(sim::float4_shfl_kernel, 1, 32, 0, nullptr, out.data());
  for (int t = 0; t < 32; ++t) {
    const float f = static_cast<float>(t ^ 1);
    ASSERT_EQ(out[t].x, f);
    ASSERT_EQ(out[t].w, f + 0.75f);
  }
}

TEST(SimtWarp, ButterflyReductionInLargeBlocks) {
  const int blocks = 3, threads = 1024;
  std::vector<float> in(blocks * threads), out(blocks * threads);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 32);
  lc::simt::launch(sim::butterfly_kernel, blocks, threads, 0, nullptr, in.data(), out.data());
  for (float v : out) ASSERT_EQ(v, 496.0f);
}

TEST(SimtWarp, VotesReductionsMatchSyncwarp) {
  const int n = 64;
  std::vector<sim::VoteOut> out(n);
  lc::simt::launch(sim::vote_kernel, 1, n, 0, nullptr, out.data());
  unsigned every_third = 0;
  for (int l = 0; l < 32; l += 3) every_third |= 1u << l;
  for (int t = 0; t < n; ++t) {
    const int lane = t % 32;
    const sim::VoteOut& o = out[t];
    ASSERT_EQ(o.ballot, every_third) << t;
    ASSERT_EQ(o.any, 1);
    ASSERT_EQ(o.all, 0);
    ASSERT_EQ(o.active, 0xffffffffu);
    ASSERT_EQ(o.reduce_add, 496u);
    ASSERT_EQ(o.reduce_min, 5u);
    ASSERT_EQ(o.reduce_max, 36u);
    ASSERT_EQ(o.reduce_and, 0xF0u);
    ASSERT_EQ(o.reduce_or, 0xffffffffu);
    ASSERT_EQ(o.reduce_xor, 0u);
    ASSERT_EQ(o.reduce_min_signed, -3);
    ASSERT_EQ(o.match_any, 0xFFu << (8 * (lane / 8))) << t;
    ASSERT_EQ(o.match_all, 0xffffffffu);
    ASSERT_EQ(o.match_all_pred, 1);
    if (lane % 2 == 0) {
      ASSERT_EQ(o.ballot_partial, 0x55u) << t;
      ASSERT_EQ(o.any_partial, 0);
      ASSERT_EQ(o.all_partial, 0);
    } else {
      ASSERT_EQ(o.ballot_partial, 0xAAu) << t;
      ASSERT_EQ(o.any_partial, 1);
      ASSERT_EQ(o.all_partial, 1);
    }
  }
}

TEST(SimtWarp, PartialWarpsAndExitedLanes) {
  lc::simt_test::ScopedConfig cfg;
  cfg->strict = false;
  const int n = 48;
  std::vector<unsigned> ballots(n, 0), active(n, 0);
  std::vector<int> shfl(n, -1);
  lc::simt::launch(sim::partial_warp_kernel, 1, n, 0, nullptr, ballots.data(), shfl.data(), active.data());
  for (int t = 8; t < n; ++t) {
    if (t < 32) {
      ASSERT_EQ(ballots[t], 0xffffff00u) << t;  // exited lanes do not vote
      ASSERT_EQ(active[t], 0xffffff00u) << t;
      ASSERT_EQ(shfl[t], 10) << t;
    } else {
      ASSERT_EQ(ballots[t], 0x0000ffffu) << t;  // lanes 16-31 of warp 1 do not exist
      ASSERT_EQ(active[t], 0x0000ffffu) << t;
      ASSERT_EQ(shfl[t], 42) << t;
    }
  }
}

}  // namespace

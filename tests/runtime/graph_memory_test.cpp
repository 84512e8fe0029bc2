// The arena planner alone: buffers alive at the same time never overlap (checked by an independent
// brute-force scan over bytes and steps, not by the planner's own checker only), disjoint lifetimes
// share memory, the peak never falls below the live-bytes bound, and bad requests are errors.
#include <gtest/gtest.h>

#include <random>

#include "kernels/common/check.h"
#include "runtime/graph_memory.h"

namespace lc::test {
namespace {

// Brute force: for every step, mark each live buffer's bytes (in units of `unit`) and fail on a clash.
bool no_clash_brute_force(const std::vector<BufferRequest>& req, const MemoryPlan& plan, std::size_t unit) {
  int last_step = 0;
  for (const auto& r : req) last_step = std::max(last_step, r.last);
  for (int step = 0; step <= last_step; ++step) {
    std::vector<int> owner(plan.peak / unit + 1, -1);
    for (std::size_t i = 0; i < req.size(); ++i) {
      if (step < req[i].first || step > req[i].last) continue;
      for (std::size_t u = plan.offsets[i] / unit; u < (plan.offsets[i] + req[i].bytes + unit - 1) / unit; ++u) {
        if (u >= owner.size() || owner[u] != -1) return false;
        owner[u] = int(i);
      }
    }
  }
  return true;
}

TEST(CpuMemoryPlan, DisjointLifetimesShareMemory) {
  // A chain: each buffer is alive for two consecutive steps, like a layer's input and output.
  std::vector<BufferRequest> req;
  for (int i = 0; i < 6; ++i) req.push_back({"a" + std::to_string(i), 1000, i, i + 1});
  const MemoryPlan plan = plan_memory(req, 256);
  EXPECT_EQ(check_memory_plan(req, plan, 256), "");
  EXPECT_TRUE(no_clash_brute_force(req, plan, 256));
  // Two 1024-byte slots are enough for a chain, six are the unshared total.
  EXPECT_EQ(plan.peak, 2 * 1024u);
  EXPECT_EQ(plan.live_bound, 2 * 1024u);
  EXPECT_EQ(plan.unshared, 6 * 1024u);
}

TEST(CpuMemoryPlan, OverlappingLifetimesDoNotShare) {
  std::vector<BufferRequest> req = {{"x", 300, 0, 5}, {"y", 200, 2, 3}, {"z", 100, 4, 9}, {"w", 0, 0, 9}};
  const MemoryPlan plan = plan_memory(req, 64);
  EXPECT_TRUE(no_clash_brute_force(req, plan, 64));
  EXPECT_EQ(plan.offsets[0] % 64, 0u);
  // x (320 aligned) with y (256) at steps 2-3; z can reuse y's place.
  EXPECT_EQ(plan.peak, 320u + 256u);
}

TEST(CpuMemoryPlan, RandomPlansAreValidAndNearTheBound) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BufferRequest> req;
    const int n = 1 + int(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const int a = int(rng() % 50), len = int(rng() % 10);
      req.push_back({"b" + std::to_string(i), std::size_t(rng() % 5000), a, a + len});
    }
    const MemoryPlan plan = plan_memory(req, 128);
    ASSERT_EQ(check_memory_plan(req, plan, 128), "") << "trial " << trial;
    ASSERT_TRUE(no_clash_brute_force(req, plan, 128)) << "trial " << trial;
    EXPECT_GE(plan.peak, plan.live_bound) << "trial " << trial;
    EXPECT_LE(plan.peak, plan.unshared) << "trial " << trial;
  }
}

TEST(CpuMemoryPlan, CheckerCatchesAnOverlap) {
  std::vector<BufferRequest> req = {{"x", 256, 0, 2}, {"y", 256, 1, 3}};
  MemoryPlan bad;
  bad.offsets = {0, 0};
  bad.peak = 256;
  EXPECT_NE(check_memory_plan(req, bad, 256).find("overlap"), std::string::npos);
}

TEST(CpuMemoryPlan, BadRequestsAreErrors) {
  EXPECT_THROW(plan_memory({{"x", 10, 3, 2}}), Error);
  EXPECT_THROW(plan_memory({{"x", 10, 0, 1}}, 100), Error);
}

}  // namespace
}  // namespace lc::test

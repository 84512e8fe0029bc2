// model/bench.h's time_op: the timing method's bookkeeping on the host (cpu backend): warm-up and
// timed calls made as planned, statistics ordered and consistent with what the call costs.
// (On a GPU the calls of a run are one CUDA Graph; that path is exercised by `landcover bench`.)
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "model/bench.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

TEST(CpuBench, TimeOpCallsAsPlannedAndOrdersItsStatistics) {
  auto be = backend_or_skip(BackendKind::cpu);
  if (!be) return;
  int calls = 0;
  TimingPlan plan;
  plan.warmup = 2, plan.runs = 5, plan.calls = 7;  // calls per run apply to GPUs only
  const TimingStats st = time_op(*be, [&](stream_t) {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }, plan);
  EXPECT_EQ(calls, 2 + 5);
  EXPECT_EQ(st.runs, 5);
  EXPECT_EQ(st.calls, 1);
  EXPECT_EQ(st.method, "host clock");
  EXPECT_GE(st.min_ms, 2.0) << "a call sleeps 2 ms";
  EXPECT_LE(st.min_ms, st.median_ms);
  EXPECT_LE(st.median_ms, st.max_ms);
}

TEST(CpuBench, TimeOpRefusesAnEmptyPlan) {
  auto be = backend_or_skip(BackendKind::cpu);
  if (!be) return;
  TimingPlan plan;
  plan.runs = 0;
  EXPECT_THROW(time_op(*be, [](stream_t) {}, plan), lc::Error);
}

}  // namespace
}  // namespace lc::test

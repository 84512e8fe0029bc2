// Greedy-by-size arena planner (see graph_memory.h).
#include "runtime/graph_memory.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "kernels/common/check.h"

namespace lc {

namespace {
std::size_t round_up(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }
bool lifetimes_meet(const BufferRequest& a, const BufferRequest& b) { return a.first <= b.last && b.first <= a.last; }
}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, std::size_t alignment) {
  LC_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "plan_memory: alignment ", alignment,
           " is not a power of two");
  const std::size_t n = requests.size();
  for (const auto& r : requests)
    LC_CHECK(r.first <= r.last, "plan_memory: buffer '", r.name, "' has lifetime ", r.first, "..", r.last);
  MemoryPlan plan;
  plan.offsets.assign(n, 0);

  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const std::size_t sa = round_up(requests[a].bytes, alignment), sb = round_up(requests[b].bytes, alignment);
    if (sa != sb) return sa > sb;
    return requests[a].first < requests[b].first;
  });

  std::vector<std::size_t> placed;
  for (std::size_t i : order) {
    const BufferRequest& r = requests[i];
    const std::size_t size = round_up(r.bytes, alignment);
    plan.unshared += size;
    if (size == 0) continue;
    // The placed buffers alive at the same time, by offset.
    std::vector<std::pair<std::size_t, std::size_t>> busy;  // [begin, end)
    for (std::size_t j : placed)
      if (lifetimes_meet(r, requests[j]))
        busy.push_back({plan.offsets[j], plan.offsets[j] + round_up(requests[j].bytes, alignment)});
    std::sort(busy.begin(), busy.end());
    std::size_t best = 0, best_gap = SIZE_MAX, cursor = 0;
    bool found = false;
    for (const auto& [b, e] : busy) {
      if (b > cursor && b - cursor >= size && b - cursor < best_gap) {
        best = cursor, best_gap = b - cursor, found = true;
      }
      cursor = std::max(cursor, e);
    }
    plan.offsets[i] = found ? best : cursor;
    plan.peak = std::max(plan.peak, plan.offsets[i] + size);
    placed.push_back(i);
  }

  // The lower bound: the largest sum of aligned sizes alive at one step.
  std::map<int, std::ptrdiff_t> delta;
  for (const auto& r : requests) {
    const auto size = std::ptrdiff_t(round_up(r.bytes, alignment));
    delta[r.first] += size;
    delta[r.last + 1] -= size;
  }
  std::ptrdiff_t live = 0;
  for (const auto& [step, d] : delta) {
    live += d;
    plan.live_bound = std::max(plan.live_bound, std::size_t(live));
  }
  return plan;
}

std::string check_memory_plan(const std::vector<BufferRequest>& requests, const MemoryPlan& plan,
                              std::size_t alignment) {
  if (plan.offsets.size() != requests.size()) return "plan has a different number of buffers";
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& a = requests[i];
    if (plan.offsets[i] % alignment) return "buffer '" + a.name + "' is misaligned";
    if (plan.offsets[i] + a.bytes > plan.peak) return "buffer '" + a.name + "' ends past the peak";
    for (std::size_t j = i + 1; j < requests.size(); ++j) {
      const auto& b = requests[j];
      if (!a.bytes || !b.bytes || !lifetimes_meet(a, b)) continue;
      const std::size_t a0 = plan.offsets[i], a1 = a0 + a.bytes, b0 = plan.offsets[j], b1 = b0 + b.bytes;
      if (a0 < b1 && b0 < a1) return "buffers '" + a.name + "' and '" + b.name + "' overlap while both alive";
    }
  }
  return "";
}

}  // namespace lc

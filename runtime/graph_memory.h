// Memory planning for the graph runtime: buffers with known sizes and lifetimes (the first and last
// step of the schedule that touch them) placed at offsets in one arena so that buffers alive at
// the same time never overlap, and the arena is as small as a greedy plan finds.
// Algorithm (greedy by size): buffers in order of decreasing size (ties: earlier first use, then
// request order); each goes into the smallest gap, among the buffers already placed whose lifetimes
// intersect its own, that fits it, else just past the highest of them. Deterministic.
// Depends on: nothing but the standard library (unit-tested alone).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace lc {

struct BufferRequest {
  std::string name;       // for reports and errors
  std::size_t bytes = 0;  // 0 is allowed (gets no space)
  int first = 0, last = 0;  // alive over the schedule steps first..last, inclusive
};

struct MemoryPlan {
  std::vector<std::size_t> offsets;  // per request, multiples of the alignment
  std::size_t peak = 0;              // arena bytes needed
  std::size_t unshared = 0;          // bytes if every buffer had its own space (aligned)
  std::size_t live_bound = 0;        // max over steps of the aligned bytes alive: no plan beats it
};

// Throws lc::Error for a lifetime with last < first or an alignment that is not a power of two.
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, std::size_t alignment = 256);

// An independent check of a plan: every offset aligned, inside the peak, and no two buffers whose
// lifetimes intersect share a byte. Returns "" when valid, else what is wrong.
std::string check_memory_plan(const std::vector<BufferRequest>& requests, const MemoryPlan& plan,
                              std::size_t alignment = 256);

}  // namespace lc

// Process-wide counters of kernel launches (every lc::simt::launch / launch_flat, on the GPU and in
// the emulator) and CUDA Graph launches, so the runtime can report launches per training step
// and per segmentation batch. Kernels replayed inside a CUDA Graph are not host launches and are
// not counted; the graph launch is.
#pragma once

#include <atomic>
#include <cstdint>

namespace lc {

struct LaunchCounts {
  std::uint64_t kernels = 0;
  std::uint64_t graphs = 0;
};

std::atomic<std::uint64_t>& kernel_launch_counter();
std::atomic<std::uint64_t>& graph_launch_counter();

inline LaunchCounts launch_counts() {
  return {kernel_launch_counter().load(std::memory_order_relaxed),
          graph_launch_counter().load(std::memory_order_relaxed)};
}

}  // namespace lc

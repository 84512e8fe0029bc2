// Launch counters (see launch_count.h).
#include "kernels/common/launch_count.h"

namespace lc {

std::atomic<std::uint64_t>& kernel_launch_counter() {
  static std::atomic<std::uint64_t> n{0};
  return n;
}

std::atomic<std::uint64_t>& graph_launch_counter() {
  static std::atomic<std::uint64_t> n{0};
  return n;
}

}  // namespace lc

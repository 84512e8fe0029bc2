// Fuzz target: the checkpoint parser (model/checkpoint.h parse_checkpoint). Every input either
// parses or throws lc::Error; what parses serialises back to the same bytes.
// Depends on: model/checkpoint.h, libFuzzer.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/common/check.h"
#include "model/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const lc::Checkpoint c = lc::parse_checkpoint(data, size, "fuzz");
    const std::vector<std::uint8_t> again = lc::serialize_checkpoint(c, "fuzz");
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0) __builtin_trap();
    lc::check_checkpoint_finite(c, "fuzz");
  } catch (const lc::Error&) {
  }
  return 0;
}

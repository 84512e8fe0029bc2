// Fuzz target: the checkpoint parser (model/checkpoint.h parse_checkpoint). Every input either
// parses or throws lc::Error; what parses serialises back to the same bytes. Each input is parsed
// as it is (the header and checksum checks) and once more with its size field and both CRC-32s
// made right, so that mutations reach the section parser behind the checksums.
// Depends on: model/checkpoint.h, model/file_io.h, libFuzzer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/common/check.h"
#include "model/checkpoint.h"
#include "model/file_io.h"

namespace {
void parse(const std::uint8_t* data, std::size_t size) {
  try {
    const lc::Checkpoint c = lc::parse_checkpoint(data, size, "fuzz");
    const std::vector<std::uint8_t> again = lc::serialize_checkpoint(c, "fuzz");
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0) __builtin_trap();
    lc::check_checkpoint_finite(c, "fuzz");
  } catch (const lc::Error&) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parse(data, size);
  if (size >= 32) {
    std::vector<std::uint8_t> fixed(data, data + size);
    lc::store_le64(&fixed[16], size);
    lc::store_le32(&fixed[24], lc::crc32(fixed.data(), 24));
    lc::store_le32(&fixed[size - 4], lc::crc32(fixed.data(), size - 4));
    parse(fixed.data(), fixed.size());
  }
  return 0;
}

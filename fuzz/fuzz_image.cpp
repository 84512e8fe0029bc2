// Fuzz target: image decoding as classify and segment read their inputs (model/image_io.h
// decode_input_image, stb_image underneath) and the data set's decoder (model/image_io.h).
// Headers declaring more than 4 M pixels are skipped here: they decode into gigabytes, which
// is the size limit's business (kMaxImageSide), not the parser's.
// Depends on: model/image_io.h, stb_image (header info), libFuzzer.
#include <cstddef>
#include <cstdint>

#include "kernels/common/check.h"
#include "model/image_io.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#pragma GCC diagnostic pop

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int w = 0, h = 0, n = 0;
  if (size > 0x7fffffff) return 0;
  try {
    lc::check_image_bytes(data, size, "fuzz");  // what the decoders check before stb sees the bytes
  } catch (const lc::Error&) {
    return 0;
  }
  if (stbi_info_from_memory(data, int(size), &w, &h, &n) && std::int64_t(w) * h > (std::int64_t(1) << 22)) return 0;
  try {
    const lc::InputImage in = lc::decode_input_image(data, size, "fuzz");
    if (in.image.rgb.size() != std::size_t(in.image.width) * std::size_t(in.image.height) * 3) __builtin_trap();
  } catch (const lc::Error&) {
  }
  try {
    (void)lc::decode_image_memory(data, size, "fuzz");
  } catch (const lc::Error&) {
  }
  return 0;
}

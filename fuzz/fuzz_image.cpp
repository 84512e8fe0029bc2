// Fuzz target: the training data's image decoder (model/image_io.h decode_image_memory:
// libjpeg-turbo for JPEG, libpng for PNG, stb_image for BMP/TGA/GIF). Images of classify and segment are
// read through GDAL (model/raster.h) instead. Headers declaring more than 1 M pixels are skipped
// here: they decode into gigabytes, which is the size limit's business (kMaxImageSide), not the
// parser's.
// Depends on: model/image_io.h, stb_image and TurboJPEG (header sizes), libFuzzer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include <turbojpeg.h>

#include "kernels/common/check.h"
#include "model/image_io.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace {

// The pixel count the header declares, 0 when it cannot be read.
std::int64_t declared_pixels(const std::uint8_t* data, std::size_t size) {
  int w = 0, h = 0, n = 0;
  if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
    static const std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
    int subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj.get(), data, static_cast<unsigned long>(size), &w, &h, &subsamp, &colorspace) != 0)
      return 0;
  } else if (size >= 24 && std::memcmp(data, "\x89PNG", 4) == 0) {  // IHDR: big-endian width, height
    const auto be32 = [&](std::size_t at) {
      return std::int64_t(data[at]) << 24 | std::int64_t(data[at + 1]) << 16 | data[at + 2] << 8 | data[at + 3];
    };
    const std::int64_t pw = be32(16), ph = be32(20);
    return pw > (std::int64_t(1) << 20) || ph > (std::int64_t(1) << 20) ? INT64_MAX : pw * ph;
  } else if (!stbi_info_from_memory(data, int(size), &w, &h, &n)) {
    return 0;
  }
  return std::int64_t(w) * h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 0x7fffffff || declared_pixels(data, size) > (std::int64_t(1) << 20)) return 0;
  try {
    const lc::RgbImage img = lc::decode_image_memory(data, size, "fuzz");
    if (img.rgb.size() != std::size_t(img.width) * std::size_t(img.height) * 3) __builtin_trap();
  } catch (const lc::Error&) {
  }
  return 0;
}

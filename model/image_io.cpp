// Image decoding (stb_image), PNG writing (stb_image_write) and RGB resizing (the image op's host
// resize, kernels/image). This is the one translation unit that holds the stb implementations.
// Depends on: /usr/include/stb (libstb-dev), kernels/image/image.h (lc::cpu::resize_u8),
// kernels/common/check.h.
#include "model/image_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "kernels/common/check.h"
#include "model/file_io.h"
#include "kernels/image/image.h"

// The stb headers are third-party code: keep their warnings out of ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR           // 8-bit images only: no float decoding paths
#define STBI_NO_LINEAR
#define STBI_FAILURE_USERMSG  // readable failure reasons ("bad huffman code", ...)
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace lc {

namespace {

RgbImage from_stb(unsigned char* pixels, int w, int h, const std::string& origin) {
  if (!pixels) {
    const char* why = stbi_failure_reason();
    LC_FAIL(origin, ": cannot decode: ", why ? why : "unknown image format");
  }
  std::unique_ptr<unsigned char, void (*)(void*)> owned(pixels, stbi_image_free);
  LC_CHECK(w > 0 && h > 0, origin, ": cannot decode: empty image");
  RgbImage img;
  img.width = w;
  img.height = h;
  img.rgb.assign(pixels, pixels + std::size_t(w) * std::size_t(h) * 3);
  return img;
}

}  // namespace

RgbImage decode_image_file(const std::string& path) {
  // Read whole first: a FIFO or device named like an image is refused, never waited on.
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return decode_image_memory(bytes.data(), bytes.size(), path);
}

RgbImage decode_image_memory(const void* data, std::size_t bytes, const std::string& origin) {
  LC_CHECK(bytes <= std::size_t(0x7fffffff), origin, ": cannot decode: ", bytes, " bytes is too large");
  int w = 0, h = 0, n = 0;
  unsigned char* pixels =
      stbi_load_from_memory(static_cast<const stbi_uc*>(data), int(bytes), &w, &h, &n, 3);
  return from_stb(pixels, w, h, origin);
}

void write_png(const std::string& path, int width, int height, int channels, const std::uint8_t* pixels) {
  LC_CHECK(width > 0 && height > 0 && channels >= 1 && channels <= 4, path,
           ": cannot write a PNG of ", width, "x", height, "x", channels);
  if (!stbi_write_png(path.c_str(), width, height, channels, pixels, width * channels))
    LC_FAIL(path, ": cannot write PNG: ", std::strerror(errno));
}

RgbImage resize_rgb(const RgbImage& img, int out_width, int out_height) {
  LC_CHECK(img.width > 0 && img.height > 0 && img.rgb.size() == std::size_t(img.width) * img.height * 3,
           "resize_rgb: bad input image ", img.width, "x", img.height);
  LC_CHECK(out_width > 0 && out_height > 0, "resize_rgb: bad output size ", out_width, "x", out_height);
  if (img.width == out_width && img.height == out_height) return img;
  RgbImage out;
  out.width = out_width;
  out.height = out_height;
  out.rgb.resize(std::size_t(out_width) * out_height * 3);
  ResizeArgs a;
  a.in_h = img.height;
  a.in_w = img.width;
  a.out_h = out_height;
  a.out_w = out_width;
  a.channels = 3;
  cpu::resize_u8(a, img.rgb.data(), out.rgb.data(), nullptr);
  return out;
}

}  // namespace lc

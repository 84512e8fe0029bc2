// Image decoding (stb_image), PNG writing (stb_image_write) and RGB resizing (the image op's host
// resize, kernels/image). This is the one translation unit that holds the stb implementations.
// Depends on: /usr/include/stb (libstb-dev), kernels/image/image.h (lc::cpu::resize_u8),
// kernels/common/check.h.
#include "model/image_io.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
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

// stb_image 2.27 (Debian 12's) trusts the code counts of a JPEG Huffman table: counts summing past
// 256 overflow its tables (fixed upstream in 2.28; found here by fuzz/fuzz_image). Before stb sees
// a JPEG, every DHT segment is walked as stb walks it and such a table refused.
void check_image_bytes(const std::uint8_t* b, std::size_t size, const std::string& origin) {
  // A JPEG starts with SOI (FF D8); stb, like the standard, allows more FF fill bytes before it.
  std::size_t p = 0;
  while (p < size && b[p] == 0xFF) ++p;
  if (p == 0 || p >= size || b[p] != 0xD8) return;  // not a JPEG
  ++p;
  auto fail = [&](const std::string& why) { LC_FAIL(origin, ": cannot decode: Corrupt JPEG: ", why); };
  while (p + 1 < size) {
    if (b[p] != 0xFF) {  // entropy-coded data after a scan: find the next marker
      ++p;
      continue;
    }
    const std::uint8_t m = b[p + 1];
    if (m == 0xFF) {  // fill byte
      ++p;
      continue;
    }
    if (m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xD8) {  // stuffed zero, RSTn, TEM, SOI
      p += 2;
      continue;
    }
    if (m == 0xD9) return;  // EOI
    if (p + 4 > size) return;
    const std::size_t len = std::size_t(b[p + 2]) << 8 | b[p + 3];
    if (m == 0xC4) {  // as stb: tables while the segment length lasts; bytes past the end read as 0
      std::size_t q = p + 4;
      for (long left = long(len) - 2; left > 0 && q < size;) {
        std::size_t n = 0;
        for (std::size_t i = 1; i <= 16 && q + i < size; ++i) n += b[q + i];
        if (n > 256) fail("a Huffman table holds " + std::to_string(n) + " codes (at most 256)");
        left -= long(17 + n);
        q += 17 + n;
      }
    }
    p += 2 + len;
  }
}

RgbImage decode_image_memory(const void* data, std::size_t bytes, const std::string& origin) {
  LC_CHECK(bytes <= std::size_t(0x7fffffff), origin, ": cannot decode: ", bytes, " bytes is too large");
  check_image_bytes(static_cast<const std::uint8_t*>(data), bytes, origin);
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

// ---- Input images of classify and segment ------------------------------------------------------

void check_image_size(int width, int height, const std::string& origin) {
  LC_CHECK(width >= kMinImageSide && height >= kMinImageSide, origin, ": image is ", width, "x", height,
           ": classify and segment need at least ", kMinImageSide, "x", kMinImageSide, " pixels");
  LC_CHECK(width <= kMaxImageSide && height <= kMaxImageSide, origin, ": image is ", width, "x", height,
           ": larger than the limit of ", kMaxImageSide, " pixels per side");
}

namespace {

// stb reports an allocation failure as "outofmem", or, after falling through its decoders, as
// another format's complaint. When decoding failed and the image's own buffer cannot be
// allocated either, memory is what failed.
[[noreturn]] void decode_failed(int w, int h, int channels, const std::string& origin) {
  const char* why = stbi_failure_reason();
  const std::size_t need = std::size_t(w) * std::size_t(h) * std::size_t(channels);
  void* probe = need ? std::malloc(need) : nullptr;
  const bool oom = (why && std::strcmp(why, "outofmem") == 0) || (need && !probe);
  std::free(probe);
  if (oom)
    LC_FAIL(origin, ": cannot decode: out of memory (the ", w, "x", h, " image needs at least ",
            (need + (1u << 20) - 1) >> 20, " MiB)");
  LC_FAIL(origin, ": cannot decode: ", why ? why : "unknown image format");
}

}  // namespace

InputImage decode_input_image(const std::uint8_t* bytes, std::size_t size, const std::string& origin) {
  LC_CHECK(size <= std::size_t(0x7fffffff), origin, ": cannot decode: ", size, " bytes is too large");
  check_image_bytes(bytes, size, origin);
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(bytes, int(size), &w, &h, &n)) {
    const char* why = stbi_failure_reason();
    LC_FAIL(origin, ": cannot decode: ", why ? why : "unknown image format");
  }
  check_image_size(w, h, origin);
  const bool has_alpha = n == 2 || n == 4;
  const int want = has_alpha ? 4 : 3;
  int w2 = 0, h2 = 0, n2 = 0;
  unsigned char* px = stbi_load_from_memory(bytes, int(size), &w2, &h2, &n2, want);
  if (!px) decode_failed(w, h, want, origin);
  std::unique_ptr<unsigned char, void (*)(void*)> owned(px, stbi_image_free);
  LC_CHECK(w2 == w && h2 == h, origin, ": cannot decode: size changed between header and data");
  InputImage in;
  in.image.width = w;
  in.image.height = h;
  const std::size_t npx = std::size_t(w) * std::size_t(h);
  try {
    if (!has_alpha) {
      in.image.rgb.assign(px, px + npx * 3);
      return in;
    }
    in.image.rgb.resize(npx * 3);
    in.alpha.resize(npx);
  } catch (const std::bad_alloc&) {
    LC_FAIL(origin, ": out of memory for the ", w, "x", h, " image (", (npx * 4) >> 20, " MiB)");
  }
  for (std::size_t i = 0; i < npx; ++i) {
    in.image.rgb[i * 3 + 0] = px[i * 4 + 0];
    in.image.rgb[i * 3 + 1] = px[i * 4 + 1];
    in.image.rgb[i * 3 + 2] = px[i * 4 + 2];
    in.alpha[i] = px[i * 4 + 3];
  }
  return in;
}


}  // namespace lc

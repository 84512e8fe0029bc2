// Image decoding (libjpeg-turbo for JPEG, libpng for PNG, stb_image for BMP/TGA/GIF), PNG writing (stb_image_write) and RGB resizing (the image op's host
// resize, kernels/image). This is the one translation unit that holds the stb implementations.
// Depends on: /usr/include/stb (libstb-dev), turbojpeg.h (libturbojpeg0-dev), png.h (libpng-dev),
// kernels/image/image.h (lc::cpu::resize_u8),
// kernels/common/check.h.
#include "model/image_io.h"

#include <algorithm>
#include <csetjmp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "kernels/common/check.h"
#include "model/file_io.h"
#include "kernels/image/image.h"

#include <png.h>
#include <turbojpeg.h>

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
#define STBI_NO_JPEG          // JPEG is libjpeg-turbo's, PNG libpng's (below)
#define STBI_NO_PNG
#define STBI_NO_PSD           // formats no data set or scene comes in
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_HDR           // 8-bit images only: no float decoding paths
#define STBI_NO_LINEAR
#define STBI_FAILURE_USERMSG  // readable failure reasons ("bad huffman code", ...)
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace lc {

namespace {

std::string mib(std::size_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB"; }

// The size a header declares, checked before its pixels are allocated.
void check_decoded_size(int w, int h, const std::string& origin) {
  LC_CHECK(w > 0 && h > 0, origin, ": cannot decode: empty image");
  LC_CHECK(w <= kMaxImageSide && h <= kMaxImageSide, origin, ": image is ", w, "x", h,
           ": larger than the limit of ", kMaxImageSide, " pixels per side");
}

std::vector<std::uint8_t> pixel_buffer(int w, int h, const std::string& origin) {
  const std::size_t need = std::size_t(w) * std::size_t(h) * 3;
  try {
    return std::vector<std::uint8_t>(need);
  } catch (const std::bad_alloc&) {
    LC_FAIL(origin, ": cannot decode: out of memory (the ", w, "x", h, " image needs ", mib(need), ")");
  }
}

RgbImage from_stb(unsigned char* pixels, int w, int h, const std::string& origin) {
  if (!pixels) {
    const char* why = stbi_failure_reason();
    if (why && std::strcmp(why, "outofmem") == 0)
      LC_FAIL(origin, ": cannot decode: out of memory (the ", w, "x", h, " image needs at least ",
              mib(std::size_t(w) * std::size_t(h) * 3), ")");
    LC_FAIL(origin, ": cannot decode: ", why ? why : "unknown image format");
  }
  std::unique_ptr<unsigned char, void (*)(void*)> owned(pixels, stbi_image_free);
  check_decoded_size(w, h, origin);
  RgbImage img;
  img.width = w;
  img.height = h;
  img.rgb = pixel_buffer(w, h, origin);
  std::copy(pixels, pixels + img.rgb.size(), img.rgb.begin());
  return img;
}

// JPEG through libjpeg-turbo (fuzzed upstream; stb_image 2.27's JPEG decoder reads outside its
// tables on crafted files, fuzz/corpus/image/regress-stb-huff-decode-oob.jpg). Warnings (corrupt or
// truncated data that libjpeg would paper over with grey) are errors: a training image is whole
// or skipped.
RgbImage decode_jpeg(const std::uint8_t* b, std::size_t size, const std::string& origin) {
  tjhandle tj = tjInitDecompress();
  LC_CHECK(tj, origin, ": cannot decode: ", tjGetErrorStr2(nullptr));
  std::unique_ptr<void, int (*)(tjhandle)> owned(tj, tjDestroy);
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, b, static_cast<unsigned long>(size), &w, &h, &subsamp, &colorspace) != 0)
    LC_FAIL(origin, ": cannot decode: ", tjGetErrorStr2(tj));
  check_decoded_size(w, h, origin);
  RgbImage img;
  img.width = w;
  img.height = h;
  img.rgb = pixel_buffer(w, h, origin);
  if (tjDecompress2(tj, b, static_cast<unsigned long>(size), img.rgb.data(), w, 0, h, TJPF_RGB,
                    TJFLAG_STOPONWARNING) != 0)
    LC_FAIL(origin, ": cannot decode: ", tjGetErrorStr2(tj));
  return img;
}

// PNG through libpng (stb_image 2.27 grows its buffer to a chunk's declared length: a 147-byte file
// asked for 2 GiB). Transforms as the other decoders and GDAL: palette and low-bit grey expanded,
// 16-bit samples reduced to their high byte, alpha dropped without compositing, grey replicated;
// no gamma correction (the stored values, as GDAL reads them for classify and segment).
struct PngRead {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const std::uint8_t* bytes = nullptr;
  std::size_t size = 0, at = 0;
  char message[256] = "";
  ~PngRead() { png_destroy_read_struct(&png, &info, nullptr); }
};

void png_failed(png_structp p, png_const_charp message) {
  auto* r = static_cast<PngRead*>(png_get_error_ptr(p));
  std::snprintf(r->message, sizeof r->message, "%s", message);
  png_longjmp(p, 1);
}

void png_warned(png_structp, png_const_charp) {}

void png_source(png_structp p, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngRead*>(png_get_io_ptr(p));
  if (n > r->size - r->at) png_error(p, "truncated file");
  std::memcpy(out, r->bytes + r->at, n);
  r->at += n;
}

// libpng reports errors by longjmp: no object with a destructor lives in this frame (the pixels
// and row pointers are the caller's). Returns false with r.message set on a libpng error; throws
// lc::Error (between libpng calls) on a size beyond the limit or out of memory.
bool png_decode(PngRead& r, RgbImage& img, std::vector<png_bytep>& rows, const std::string& origin) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_read_fn(r.png, &r, png_source);
  png_read_info(r.png, r.info);
  png_set_expand(r.png);
  png_set_strip_16(r.png);
  png_set_strip_alpha(r.png);
  png_set_gray_to_rgb(r.png);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  const int w = int(png_get_image_width(r.png, r.info)), h = int(png_get_image_height(r.png, r.info));
  check_decoded_size(w, h, origin);
  if (png_get_rowbytes(r.png, r.info) != std::size_t(w) * 3) png_error(r.png, "unexpected row layout");
  img.width = w;
  img.height = h;
  img.rgb = pixel_buffer(w, h, origin);
  rows.resize(std::size_t(h));
  for (int y = 0; y < h; ++y) rows[std::size_t(y)] = img.rgb.data() + std::size_t(y) * std::size_t(w) * 3;
  png_read_image(r.png, rows.data());
  png_read_end(r.png, nullptr);
  return true;
}

RgbImage decode_png(const std::uint8_t* b, std::size_t size, const std::string& origin) {
  PngRead r;
  r.bytes = b;
  r.size = size;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, png_failed, png_warned);
  LC_CHECK(r.png, origin, ": cannot decode: out of memory");
  r.info = png_create_info_struct(r.png);
  LC_CHECK(r.info, origin, ": cannot decode: out of memory");
  RgbImage img;
  std::vector<png_bytep> rows;
  if (!png_decode(r, img, rows, origin)) LC_FAIL(origin, ": cannot decode: ", r.message);
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
  const auto* b = static_cast<const std::uint8_t*>(data);
  if (bytes >= 2 && b[0] == 0xFF && b[1] == 0xD8) return decode_jpeg(b, bytes, origin);
  if (bytes >= 8 && png_sig_cmp(b, 0, 8) == 0) return decode_png(b, bytes, origin);
  int w = 0, h = 0, n = 0;
  if (stbi_info_from_memory(b, int(bytes), &w, &h, &n)) check_decoded_size(w, h, origin);
  unsigned char* pixels = stbi_load_from_memory(b, int(bytes), &w, &h, &n, 3);
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


}  // namespace lc

// Image files in and out: decoding JPEG (libjpeg-turbo), PNG (libpng) and BMP/TGA/GIF (first frame,
// stb_image) into 8-bit RGB, writing PNG with stb_image_write, and resizing 8-bit RGB images for the data set loader.
// Every image here is interleaved 8-bit RGB, rows top to bottom, HWC: pixel (y, x) channel c is at
// rgb[(y * width + x) * 3 + c].
// Colour conversion on decoding (3 requested channels): grey is replicated into
// R, G and B; grey+alpha and RGBA drop the alpha channel (no compositing against a background);
// 16-bit PNG is reduced to 8 bits.
// Also the input images of classify and segment (any size, alpha kept, size limits).
// Depends on: libjpeg-turbo's TurboJPEG API, libpng, stb_image / stb_image_write (Debian libstb-dev;
// model/image_io.cpp is the only .cpp with their implementations), kernels/image/image.h (resize), model/file_io.h (reading),
// kernels/common/check.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lc {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // height * width * 3 bytes, HWC
};

// Decodes an image file into RGB. Throws lc::Error "<path>: cannot read: <reason>" when the file
// cannot be opened, "<path>: cannot decode: <the decoder's reason>" when the bytes are not an image
// it understands (corrupt, truncated, unsupported format; a JPEG with corrupt data, which libjpeg
// would only warn about, included), "<path>: cannot decode: out of memory (...)" when its pixels do
// not fit, and "<path>: image is WxH: larger than the limit ..." beyond kMaxImageSide. Thread-safe
// (stb_image keeps its failure reason in thread-local storage; one TurboJPEG handle per call).
RgbImage decode_image_file(const std::string& path);
// The same for bytes in memory; `origin` names the source in errors.
RgbImage decode_image_memory(const void* data, std::size_t bytes, const std::string& origin);

// Writes an 8-bit PNG with `channels` = 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) interleaved
// channels, rows top to bottom. Not atomic (callers that need it write elsewhere and rename).
// Throws lc::Error naming the path on failure.
void write_png(const std::string& path, int width, int height, int channels, const std::uint8_t* pixels);
inline void write_png(const std::string& path, const RgbImage& img) {
  write_png(path, img.width, img.height, 3, img.rgb.data());
}

// Resizes an RGB image to out_width x out_height with the image op's exact integer resize
// (kernels/image/image.h, lc::cpu::resize_u8), chosen per axis: shrinking is area averaging (each
// output pixel is the mean of the input area it covers, fractional pixels weighted by their
// overlap: OpenCV INTER_AREA, PIL BOX, the filter that made ../shared/datasets/ucmerced64);
// enlarging is bilinear with half-pixel centres and clamped edges. 8-bit sRGB values without gamma
// linearisation, rounded half up. Returns a copy when the size already matches.
RgbImage resize_rgb(const RgbImage& img, int out_width, int out_height);

// ---- Input images of classify and segment ------------------------------------------------------

// The largest accepted image side (window mode reads by tiles, so memory does not grow with the
// height; classify and pixel mode read the whole image) and the smallest.
inline constexpr int kMaxImageSide = 262144;
inline constexpr int kMinImageSide = 2;

// An RGB image and, when the file has an alpha channel (grey+alpha, RGBA), its alpha plane.
struct InputImage {
  RgbImage image;
  std::vector<std::uint8_t> alpha;  // empty, or width * height bytes (0 = transparent)
};

// Refuses a size classify and segment cannot use ("<origin>: image is 1x1: ..."); input files
// of classify and segment are read through GDAL (model/inference.h read_input_image).
void check_image_size(int width, int height, const std::string& origin);

}  // namespace lc

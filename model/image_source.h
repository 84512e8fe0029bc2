// A source of image pixels read on demand, rectangle by rectangle, so the segmenter never needs the
// whole scene in memory (model/raster.h reads any GDAL raster through it; MemoryImageSource wraps an
// image already decoded).
// Depends on: model/image_io.h (RgbImage), kernels/image/image.h (PixelRect).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/image/image.h"
#include "model/image_io.h"

namespace lc {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual std::int64_t width() const = 0;
  virtual std::int64_t height() const = 0;
  // Whether read() reports nodata pixels (a nodata value, mask band or alpha of the source).
  virtual bool has_mask() const = 0;
  // Reads the pixels of `r` as 8-bit RGB, HWC, rows of r.x1 - r.x0 pixels, into `rgb`; when
  // has_mask() and `valid` is not null, also one byte per pixel (0 = nodata, else valid; an
  // alpha mask gives the alpha value).
  // Throws lc::Error naming the source when the data cannot be read.
  virtual void read(const PixelRect& r, std::uint8_t* rgb, std::uint8_t* valid) = 0;
};

// An image in memory (alpha == 0 marks nodata when `use_alpha` and the alpha plane is not empty).
class MemoryImageSource final : public ImageSource {
 public:
  MemoryImageSource(const RgbImage& img, const std::vector<std::uint8_t>& alpha, bool use_alpha)
      : img_(img), alpha_(alpha), masked_(use_alpha && !alpha.empty()) {}
  std::int64_t width() const override { return img_.width; }
  std::int64_t height() const override { return img_.height; }
  bool has_mask() const override { return masked_; }
  void read(const PixelRect& r, std::uint8_t* rgb, std::uint8_t* valid) override;

 private:
  const RgbImage& img_;
  const std::vector<std::uint8_t>& alpha_;
  bool masked_;
};

}  // namespace lc

// Fuzz target: raster input of classify and segment (model/raster.h RasterReader through GDAL):
// band choice, scaling, nodata masks, georeferencing and date metadata of whatever GDAL opens.
// The corpus holds small GeoTIFFs (fuzz/make_geo_seeds.sh). Rasters above 1 M pixels are skipped
// (the size limit's business, not the parser's).
// Depends on: model/raster.h, fuzz/fuzz_input.h, libFuzzer.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "kernels/common/check.h"
#include "model/raster.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = lc::fuzz::input_file(data, size, "raster", ".tif");
  // The last byte picks the options, so band choice, scaling and masks are all reached.
  lc::RasterOptions opt;
  const std::uint8_t pick = size ? data[size - 1] : 0;
  if (pick & 1) opt.scale_auto = true;
  if (pick & 2) opt.bands = {1, 1, 1};
  if (pick & 4) opt.use_alpha = false;
  if (pick & 8) opt.scale = {0, 3000};
  try {
    lc::RasterReader r(path, opt);
    const std::int64_t w = r.width(), h = r.height();
    if (w <= 0 || h <= 0) __builtin_trap();
    if (w * h > (std::int64_t(1) << 20)) return 0;
    const lc::PixelRect all{0, h, 0, w};
    std::vector<std::uint8_t> rgb(std::size_t(w * h) * 3), valid(std::size_t(w * h));
    r.read(all, rgb.data(), valid.data());
    (void)r.describe();
    (void)r.geo();
  } catch (const lc::Error&) {
  }
  return 0;
}

// Input and output helpers of `landcover segment` and `classify` (tools/cmd_segment.cpp,
// tools/cmd_classify.cpp): option parsing, the raster options, the overlay's base image, the GSD
// warning, the .npy header.
// Depends on: model/raster.h, model/inference.h, model/palette.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/inference.h"
#include "model/palette.h"
#include "model/raster.h"

namespace lc::tools {

// "R,G,B" with values 0..255 (--nodata).
Rgb parse_rgb(const std::string& s);
// --bands, --scale, --gsd, alpha as nodata: RasterOptions (usage errors throw).
RasterOptions raster_options(const std::string& bands, const std::string& scale, double gsd, bool use_alpha);
// The overlay's base: the image at its size up to 4096 pixels a side (stride unchanged), else a
// reduction to 4096 on the longer side (stride set to 0: the map is stretched over it).
RgbImage overlay_base(RasterReader& src, int& stride);
// Without --gsd, on a georeferenced scene whose pixel differs from the model's GSD by more than 2x,
// prints one warning line to stderr (once per process). Returns whether it warned.
bool warn_gsd(double gsd_option, const LoadedModel& model, const RasterReader& src);
// NumPy .npy v1.0 header for float32 C-order data of `shape`, padded so the data starts at a
// multiple of 64 bytes.
std::string npy_header(const std::vector<std::int64_t>& shape);

}  // namespace lc::tools

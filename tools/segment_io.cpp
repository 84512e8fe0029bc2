// Helpers of `landcover segment` / `classify` (see segment_io.h).
#include "tools/segment_io.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "kernels/common/check.h"

namespace lc::tools {

Rgb parse_rgb(const std::string& s) {
  Rgb c{};
  std::stringstream ss(s);
  std::string part;
  int i = 0;
  while (std::getline(ss, part, ',')) {
    LC_CHECK(i < 3, "--nodata must be R,G,B, got '", s, "'");
    std::size_t used = 0;
    int v = -1;
    try {
      v = std::stoi(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LC_CHECK(used == part.size() && v >= 0 && v <= 255, "--nodata must be R,G,B with values 0..255, got '", s, "'");
    c[std::size_t(i++)] = std::uint8_t(v);
  }
  LC_CHECK(i == 3, "--nodata must be R,G,B, got '", s, "'");
  return c;
}

RasterOptions raster_options(const std::string& bands, const std::string& scale, double gsd, bool use_alpha) {
  RasterOptions ro;
  if (!bands.empty()) parse_bands_option(bands, ro);
  if (!scale.empty()) parse_scale_option(scale, ro);
  LC_CHECK(gsd >= 0, "--gsd must be a positive number of metres, got ", gsd);
  ro.use_alpha = use_alpha;
  ro.gsd_m = gsd;
  return ro;
}

RgbImage overlay_base(RasterReader& src, int& stride) {
  const std::int64_t W = src.width(), H = src.height(), side = std::max(W, H);
  if (side <= 4096) return src.read_reduced(int(W), int(H), nullptr);
  stride = 0;
  return src.read_reduced(int(std::max<std::int64_t>(1, W * 4096 / side)), int(std::max<std::int64_t>(1, H * 4096 / side)),
                          nullptr);
}

bool warn_gsd(double gsd_option, const LoadedModel& model, const RasterReader& src) {
  static bool warned = false;
  const double px = src.native_pixel_m();
  if (warned || gsd_option > 0 || px <= 0 || model.gsd_m <= 0) return false;
  const double ratio = px / model.gsd_m;
  if (ratio <= 2 && ratio >= 0.5) return false;
  warned = true;
  std::fprintf(stderr,
               "landcover: warning: %s: pixels of %.1f m, the model was trained at %.1f m (%.1fx %s): each window "
               "covers %.1fx the ground the model learned from, so classes are guessed from unfamiliar textures; pass "
               "--gsd %g to resample the scene to the model's scale\n",
               src.path().c_str(), px, model.gsd_m, ratio > 1 ? ratio : 1 / ratio, ratio > 1 ? "coarser" : "finer",
               ratio, model.gsd_m);
  return true;
}

std::string npy_header(const std::vector<std::int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) dict += std::to_string(shape[i]) + (shape.size() == 1 ? ",)" : i + 1 < shape.size() ? ", " : ")");
  dict += ", }";
  std::size_t total = 10 + dict.size() + 1;
  const std::size_t pad = (64 - total % 64) % 64;
  dict += std::string(pad, ' ') + "\n";
  std::string h = "\x93NUMPY";
  h += char(1), h += char(0);
  const std::size_t len = dict.size();
  h += char(len & 0xff), h += char((len >> 8) & 0xff);
  return h + dict;
}

}  // namespace lc::tools

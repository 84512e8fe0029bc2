// Segmentation outputs on the host: the class palette, the class-colour map, the overlay with its
// legend (a built-in 5x7 pixel font), the class fractions (CSV / JSON) and PNG encoding into memory
// (so every file can be written atomically with write_file_atomic).
// Depends on: stb_image_write (declarations; the implementation is in model/image_io.cpp),
// nlohmann_json, model/image_io.h (RgbImage), kernels/common/check.h.
//
// Palette (documented colour per class index, RGB); no class colour is black, which marks nodata:
//    0 e6194b red       1 3cb44b green      2 ffe119 yellow    3 0082c8 blue
//    4 f58230 orange    5 911eb4 purple     6 46f0f0 cyan      7 f032e6 magenta
//    8 d2f53c lime      9 fabed4 pink      10 008080 teal     11 dcbeff lavender
//   12 aa6e28 brown    13 fffac8 beige     14 800000 maroon   15 aaffc3 mint
//   16 808000 olive    17 ffd7b4 apricot   18 000080 navy     19 808080 grey
//   20 ffffff white    21 4040a0 slate     22 a04040 brick    23 40a040 leaf
//   24 c86400 rust     25 0064c8 cobalt    26 64c800 grass    27 c80064 rose
//   28 6400c8 indigo   29 00c864 jade      30 b4b43c khaki    31 3cb4b4 sea
// Nodata: 000000 black. A checkpoint with more than kMaxPaletteClasses classes is refused.
//
// Fractions: from integer pixel counts per class (SegmentResult::pixels: image pixels in window
// mode, cells of the resized image in pixel mode; nodata excluded). percent_i = 100 * pixels_i / valid, rounded to 1e-6 with the largest-remainder
// method so the written percents sum to exactly 100 (when valid > 0; all 0 when every cell is nodata).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/image_io.h"

namespace lc {

inline constexpr int kMaxPaletteClasses = 32;
using Rgb = std::array<std::uint8_t, 3>;
inline constexpr Rgb kNodataColour = {0, 0, 0};

Rgb palette_colour(int cls);                        // throws for cls outside 0..kMaxPaletteClasses-1
std::vector<std::uint8_t> palette_bytes(int classes);  // [classes][3]
std::string colour_hex(Rgb c);                      // "#e6194b"

// One class of the fractions table.
struct ClassFraction {
  int index = 0;
  std::string name;
  std::int64_t pixels = 0;
  std::int64_t percent_micro = 0;  // percent in units of 1e-6 (largest-remainder rounding)
  double km2 = -1;                 // area on the ellipsoid (georeferenced scenes), else -1
  double percent() const { return double(percent_micro) / 1e6; }
  std::string percent_text() const;  // "12.345678"
};

struct Fractions {
  std::vector<ClassFraction> classes;  // every class, in index order
  std::int64_t valid = 0, nodata = 0;  // nodata includes out-of-range classes (never expected)
  bool has_area = false;               // georeferenced: km2 set, percents are of the valid area
  double valid_km2 = 0, nodata_km2 = 0;
};

// counts: [classes + 2] in the class_map op's bins (classes, nodata, out of range).
Fractions compute_fractions(const std::vector<std::string>& names, const std::vector<std::int64_t>& counts);
// Area-true fractions (georeferenced scenes): pixels as compute_fractions, km2 per class, and the
// percents of the valid area (largest remainder over the areas in m^2).
Fractions compute_area_fractions(const std::vector<std::string>& names, const std::vector<std::int64_t>& counts,
                                 const std::vector<double>& class_km2, double nodata_km2);
std::string fractions_csv(const Fractions& f);  // "class,index,colour,pixels,percent[,km2]\n..."
// `extra` is a JSON object text merged at the top level (image, mode, grid), "" for none.
std::string fractions_json(const Fractions& f, const std::string& extra_json_object);

// Map colours: rgb[p] = palette[cls[p]] where valid (valid empty = all valid), black otherwise.
std::vector<std::uint8_t> colour_map(const std::vector<std::int32_t>& cls, const std::vector<std::uint8_t>& valid,
                                     int classes);

// The overlay at the image's size: pixel (y, x) takes map cell (y / stride, x / stride) when
// stride > 0, else (y * map_h / H, x * map_w / W) (a map of any size stretched over the image);
// valid cells are blended 50% (rounded half up) with their class colour, nodata cells keep the
// image. A legend (class colour squares, upper-case names and percents, classes with pixels only,
// most pixels first) is drawn in the top-left corner with the 5x7 font, scaled with the image.
RgbImage render_overlay(const RgbImage& img, const std::vector<std::int32_t>& cls,
                        const std::vector<std::uint8_t>& valid, std::int64_t map_h, std::int64_t map_w, int stride,
                        const Fractions& fractions);

// Draws text with the 5x7 font (upper-case letters, digits, space . % - _ : ( ) /; lower case is
// drawn upper-case, anything else as '?'), `scale` pixels per font pixel, clipped to the image.
void draw_text(RgbImage& img, int x, int y, const std::string& text, Rgb colour, int scale);
// Width in pixels of `text` drawn at `scale` (6 * scale per character).
int text_width(const std::string& text, int scale);

// PNG bytes in memory (stbi_write_png_to_func); channels 1..4.
std::vector<std::uint8_t> encode_png(int width, int height, int channels, const std::uint8_t* pixels);

}  // namespace lc

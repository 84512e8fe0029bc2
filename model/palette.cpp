// Segmentation outputs on the host (see palette.h): palette, colour map, overlay + legend with a
// 5x7 font drawn for this project, fractions CSV / JSON, PNG into memory.
// Depends on: model/palette.h, stb_image_write (declarations), nlohmann_json.
#include "model/palette.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "kernels/common/check.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace lc {

namespace {

constexpr Rgb kPalette[kMaxPaletteClasses] = {
    {0xe6, 0x19, 0x4b}, {0x3c, 0xb4, 0x4b}, {0xff, 0xe1, 0x19}, {0x00, 0x82, 0xc8}, {0xf5, 0x82, 0x30},
    {0x91, 0x1e, 0xb4}, {0x46, 0xf0, 0xf0}, {0xf0, 0x32, 0xe6}, {0xd2, 0xf5, 0x3c}, {0xfa, 0xbe, 0xd4},
    {0x00, 0x80, 0x80}, {0xdc, 0xbe, 0xff}, {0xaa, 0x6e, 0x28}, {0xff, 0xfa, 0xc8}, {0x80, 0x00, 0x00},
    {0xaa, 0xff, 0xc3}, {0x80, 0x80, 0x00}, {0xff, 0xd7, 0xb4}, {0x00, 0x00, 0x80}, {0x80, 0x80, 0x80},
    {0xff, 0xff, 0xff}, {0x40, 0x40, 0xa0}, {0xa0, 0x40, 0x40}, {0x40, 0xa0, 0x40}, {0xc8, 0x64, 0x00},
    {0x00, 0x64, 0xc8}, {0x64, 0xc8, 0x00}, {0xc8, 0x00, 0x64}, {0x64, 0x00, 0xc8}, {0x00, 0xc8, 0x64},
    {0xb4, 0xb4, 0x3c}, {0x3c, 0xb4, 0xb4},
};

// 5x7 glyphs: 7 rows top to bottom, bit 4 = leftmost column.
struct Glyph {
  char c;
  std::uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},                {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},                   {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},          {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},
};

const Glyph& glyph(char c) {
  if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  for (const Glyph& g : kFont)
    if (g.c == c) return g;
  for (const Glyph& g : kFont)
    if (g.c == '?') return g;
  return kFont[0];
}

void fill_rect(RgbImage& img, int x0, int y0, int w, int h, Rgb c, int alpha256) {
  const int xa = std::max(0, x0), ya = std::max(0, y0);
  const int xb = std::min(img.width, x0 + w), yb = std::min(img.height, y0 + h);
  for (int y = ya; y < yb; ++y)
    for (int x = xa; x < xb; ++x) {
      std::uint8_t* p = &img.rgb[(std::size_t(y) * std::size_t(img.width) + std::size_t(x)) * 3];
      for (int k = 0; k < 3; ++k) p[k] = std::uint8_t((p[k] * (256 - alpha256) + c[std::size_t(k)] * alpha256 + 128) >> 8);
    }
}

}  // namespace

Rgb palette_colour(int cls) {
  LC_CHECK(cls >= 0 && cls < kMaxPaletteClasses, "palette: class ", cls, " outside 0..", kMaxPaletteClasses - 1);
  return kPalette[cls];
}

std::vector<std::uint8_t> palette_bytes(int classes) {
  std::vector<std::uint8_t> out;
  for (int i = 0; i < classes; ++i) {
    const Rgb c = palette_colour(i);
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

std::string colour_hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buf;
}

std::string ClassFraction::percent_text() const {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(percent_micro / 1000000),
                static_cast<long long>(percent_micro % 1000000));
  return buf;
}

Fractions compute_fractions(const std::vector<std::string>& names, const std::vector<std::int64_t>& counts) {
  const std::size_t K = names.size();
  LC_CHECK(counts.size() == K + 2, "fractions: ", counts.size(), " counts for ", K, " classes (expected K + 2)");
  Fractions f;
  f.nodata = counts[K] + counts[K + 1];
  for (std::size_t i = 0; i < K; ++i) {
    LC_CHECK(counts[i] >= 0, "fractions: negative count");
    f.valid += counts[i];
    f.classes.push_back({int(i), names[i], counts[i], 0});
  }
  if (f.valid == 0) return f;
  // Largest remainder over 100e6 units: floor shares, then one unit more to the largest remainders
  // (ties: lower index), so the units sum to exactly 100e6. 128-bit products: counts up to 2^63.
  constexpr std::int64_t kUnits = 100000000;
  std::vector<std::pair<unsigned __int128, std::size_t>> rem;
  std::int64_t given = 0;
  for (std::size_t i = 0; i < K; ++i) {
    const unsigned __int128 num = static_cast<unsigned __int128>(counts[i]) * kUnits;
    const auto q = static_cast<std::int64_t>(num / static_cast<unsigned __int128>(f.valid));
    f.classes[i].percent_micro = q;
    given += q;
    rem.push_back({num % static_cast<unsigned __int128>(f.valid), i});
  }
  std::stable_sort(rem.begin(), rem.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t r = 0; given < kUnits && r < rem.size(); ++r, ++given) f.classes[rem[r].second].percent_micro += 1;
  return f;
}

Fractions compute_area_fractions(const std::vector<std::string>& names, const std::vector<std::int64_t>& counts,
                                 const std::vector<double>& class_km2, double nodata_km2) {
  Fractions f = compute_fractions(names, counts);
  LC_CHECK(class_km2.size() == names.size(), "fractions: ", class_km2.size(), " areas for ", names.size(), " classes");
  std::vector<std::int64_t> m2(names.size() + 2, 0);
  for (std::size_t i = 0; i < names.size(); ++i) m2[i] = std::llround(class_km2[i] * 1e6);
  const Fractions by_area = compute_fractions(names, m2);
  f.has_area = true;
  f.valid_km2 = 0, f.nodata_km2 = nodata_km2;
  for (std::size_t i = 0; i < names.size(); ++i) {
    f.classes[i].km2 = class_km2[i];
    f.classes[i].percent_micro = by_area.classes[i].percent_micro;
    f.valid_km2 += class_km2[i];
  }
  return f;
}

std::string fractions_csv(const Fractions& f) {
  std::string s = f.has_area ? "class,index,colour,pixels,percent,km2\n" : "class,index,colour,pixels,percent\n";
  for (const ClassFraction& c : f.classes) {
    std::string name = c.name;
    if (name.find_first_of(",\"\n") != std::string::npos) {
      std::string q = "\"";
      for (char ch : name) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      name = q + "\"";
    }
    s += name + "," + std::to_string(c.index) + "," + colour_hex(palette_colour(c.index)) + "," +
         std::to_string(c.pixels) + "," + c.percent_text();
    if (f.has_area) {
      char km2[64];
      std::snprintf(km2, sizeof km2, ",%.6f", c.km2);
      s += km2;
    }
    s += "\n";
  }
  return s;
}

std::string fractions_json(const Fractions& f, const std::string& extra) {
  nlohmann::ordered_json j = extra.empty() ? nlohmann::ordered_json::object() : nlohmann::ordered_json::parse(extra);
  j["valid_pixels"] = f.valid;
  j["nodata_pixels"] = f.nodata;
  if (f.has_area) j["valid_km2"] = f.valid_km2, j["nodata_km2"] = f.nodata_km2;
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const ClassFraction& c : f.classes) {
    arr.push_back({{"class", c.name},
                   {"index", c.index},
                   {"colour", colour_hex(palette_colour(c.index))},
                   {"pixels", c.pixels},
                   {"percent", c.percent()}});
    if (f.has_area) arr.back()["km2"] = c.km2;
  }
  j["classes"] = arr;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";  // invalid UTF-8: U+FFFD
}

std::vector<std::uint8_t> colour_map(const std::vector<std::int32_t>& cls, const std::vector<std::uint8_t>& valid,
                                     int classes) {
  LC_CHECK(valid.empty() || valid.size() == cls.size(), "colour_map: mask size");
  std::vector<std::uint8_t> rgb(cls.size() * 3);
  for (std::size_t p = 0; p < cls.size(); ++p) {
    const bool ok = (valid.empty() || valid[p]) && cls[p] >= 0 && cls[p] < classes;
    const Rgb c = ok ? palette_colour(cls[p]) : kNodataColour;
    std::copy(c.begin(), c.end(), rgb.begin() + std::ptrdiff_t(p * 3));
  }
  return rgb;
}

int text_width(const std::string& text, int scale) { return int(text.size()) * 6 * scale; }

void draw_text(RgbImage& img, int x, int y, const std::string& text, Rgb colour, int scale) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const Glyph& g = glyph(text[i]);
    const int gx = x + int(i) * 6 * scale;
    for (int r = 0; r < 7; ++r)
      for (int c = 0; c < 5; ++c)
        if (g.rows[r] & (0x10 >> c)) fill_rect(img, gx + c * scale, y + r * scale, scale, scale, colour, 256);
  }
}

RgbImage render_overlay(const RgbImage& img, const std::vector<std::int32_t>& cls,
                        const std::vector<std::uint8_t>& valid, std::int64_t map_h, std::int64_t map_w, int stride,
                        const Fractions& fractions) {
  LC_CHECK(std::int64_t(cls.size()) == map_h * map_w, "overlay: map size");
  LC_CHECK(valid.empty() || valid.size() == cls.size(), "overlay: mask size");
  const int classes = int(fractions.classes.size());
  RgbImage out = img;
  const std::int64_t H = img.height, W = img.width;
  std::vector<std::int64_t> col(static_cast<std::size_t>(W));
  for (std::int64_t x = 0; x < W; ++x) col[std::size_t(x)] = stride > 0 ? x / stride : x * map_w / W;
  for (std::int64_t y = 0; y < H; ++y) {
    const std::int64_t row = stride > 0 ? y / stride : y * map_h / H;
    for (std::int64_t x = 0; x < W; ++x) {
      const std::size_t m = std::size_t(row * map_w + col[std::size_t(x)]);
      if (!valid.empty() && !valid[m]) continue;
      if (cls[m] < 0 || cls[m] >= classes) continue;
      const Rgb c = kPalette[cls[m]];
      std::uint8_t* p = &out.rgb[std::size_t(y * W + x) * 3];
      for (int k = 0; k < 3; ++k) p[k] = std::uint8_t((p[k] + c[std::size_t(k)] + 1) / 2);
    }
  }
  // Legend: classes with pixels, most first.
  std::vector<const ClassFraction*> shown;
  for (const ClassFraction& c : fractions.classes)
    if (c.pixels > 0) shown.push_back(&c);
  std::stable_sort(shown.begin(), shown.end(), [](auto* a, auto* b) { return a->pixels > b->pixels; });
  if (shown.empty()) return out;
  const int s = std::clamp(int(std::min(H, W) / 300), 1, 4);
  const int pad = 3 * s, line = 10 * s, sw = 7 * s;
  std::vector<std::string> labels;
  int tw = 0;
  for (const ClassFraction* c : shown) {
    char pct[32];
    std::snprintf(pct, sizeof pct, " %.1f%%", c->percent());
    labels.push_back(c->name + pct);
    tw = std::max(tw, text_width(labels.back(), s));
  }
  const int box_w = pad + sw + 2 * s + tw + pad, box_h = pad + int(shown.size()) * line - 3 * s + pad;
  fill_rect(out, 0, 0, box_w, box_h, {0, 0, 0}, 192);
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const int y = pad + int(i) * line;
    fill_rect(out, pad, y, sw, sw, kPalette[shown[i]->index], 256);
    draw_text(out, pad + sw + 2 * s, y, labels[i], {255, 255, 255}, s);
  }
  return out;
}

std::vector<std::uint8_t> encode_png(int width, int height, int channels, const std::uint8_t* pixels) {
  LC_CHECK(width > 0 && height > 0 && channels >= 1 && channels <= 4, "cannot encode a PNG of ", width, "x", height,
           "x", channels);
  std::vector<std::uint8_t> bytes;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(ctx);
    const auto* d = static_cast<const std::uint8_t*>(data);
    v->insert(v->end(), d, d + size);
  };
  if (!stbi_write_png_to_func(sink, &bytes, width, height, channels, pixels, width * channels))
    LC_FAIL("cannot encode a PNG of ", width, "x", height, "x", channels);
  return bytes;
}

}  // namespace lc

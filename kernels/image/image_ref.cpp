// Image ops reference (contract: image.h): naive loops written from the geometric definitions, in
// double where a value is computed, deliberately not sharing the kernels' integer formulas
// (augmentations applied as literal flips/rotations, resize weights from interval overlaps,
// reflection by repeated mirroring). Also the argument checks every implementation calls.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/image/image.h"

namespace lc {

void check_gather_batch_args(const GatherBatchArgs& a) {
  LC_CHECK(a.num_images >= 0 && a.batch >= 0, "gather_batch: negative size (num_images ", a.num_images,
           ", batch ", a.batch, ")");
  LC_CHECK(a.height >= 1 && a.width >= 1 && a.channels >= 1, "gather_batch: bad image shape ", a.height, "x",
           a.width, "x", a.channels);
  LC_CHECK(a.augment == Augment::none || a.augment == Augment::flip || a.augment == Augment::flip_rot90,
           "gather_batch: unknown augmentation mode ", int(a.augment));
  LC_CHECK(std::int64_t(a.height) * a.width * a.channels < (std::int64_t(1) << 31),
           "gather_batch: an image of ", a.height, "x", a.width, "x", a.channels, " has 2^31 elements or more");
  LC_CHECK(a.augment != Augment::flip_rot90 || a.height == a.width,
           "gather_batch: flip+rot90 needs square images, got ", a.height, "x", a.width);
}

void check_resize_args(const ResizeArgs& a) {
  LC_CHECK(a.in_h >= 1 && a.in_w >= 1 && a.out_h >= 1 && a.out_w >= 1, "resize: bad size ", a.in_h, "x", a.in_w,
           " -> ", a.out_h, "x", a.out_w);
  LC_CHECK(a.channels >= 1 && a.channels <= 4, "resize: channels must be 1..4, got ", a.channels);
  LC_CHECK(a.version >= 0 && a.version <= 2, "resize: unknown kernel version ", a.version);
  const double d = double(resize_axis(a.in_h, a.out_h).den) * double(resize_axis(a.in_w, a.out_w).den) * 255.0;
  LC_CHECK(d < 9007199254740992.0, "resize: ", a.in_h, "x", a.in_w, " -> ", a.out_h, "x", a.out_w,
           " exceeds the exact integer range (2^53)");
}

WindowArgs checked_window_args(const WindowArgs& in) {
  WindowArgs a = in;
  LC_CHECK(a.image_h >= 1 && a.image_w >= 1, "extract_windows: bad image size ", a.image_h, "x", a.image_w);
  LC_CHECK(a.channels >= 1 && a.channels <= 4, "extract_windows: channels must be 1..4, got ", a.channels);
  LC_CHECK(a.stride >= 1 && a.window >= 1 && a.window <= 4096, "extract_windows: bad stride ", a.stride,
           " or window ", a.window, " (1..4096)");
  LC_CHECK(a.version >= 0 && a.version <= 2, "extract_windows: unknown kernel version ", a.version);
  const std::int64_t windows = window_map_h(a) * window_map_w(a);
  LC_CHECK(a.first >= 0 && a.count >= 0 && a.first + a.count <= windows, "extract_windows: windows [", a.first,
           ", ", a.first + a.count, ") outside the map of ", windows);
  if (a.tile_h == 0 && a.tile_w == 0) {
    LC_CHECK(a.tile_y0 == 0 && a.tile_x0 == 0, "extract_windows: whole-image tile with an offset");
    a.tile_h = a.image_h;
    a.tile_w = a.image_w;
  }
  LC_CHECK(a.tile_y0 >= 0 && a.tile_x0 >= 0 && a.tile_h >= 1 && a.tile_w >= 1 &&
               a.tile_y0 + a.tile_h <= a.image_h && a.tile_x0 + a.tile_w <= a.image_w,
           "extract_windows: tile rows [", a.tile_y0, ", ", a.tile_y0 + a.tile_h, ") cols [", a.tile_x0, ", ",
           a.tile_x0 + a.tile_w, ") not inside the ", a.image_h, "x", a.image_w, " image");
  if (a.count > 0) {
    const PixelRect r = window_source_rect(a);
    LC_CHECK(r.y0 >= a.tile_y0 && r.y1 <= a.tile_y0 + a.tile_h && r.x0 >= a.tile_x0 &&
                 r.x1 <= a.tile_x0 + a.tile_w,
             "extract_windows: windows [", a.first, ", ", a.first + a.count, ") read rows [", r.y0, ", ", r.y1,
             ") cols [", r.x0, ", ", r.x1, "), outside the tile rows [", a.tile_y0, ", ", a.tile_y0 + a.tile_h,
             ") cols [", a.tile_x0, ", ", a.tile_x0 + a.tile_w, ")");
  }
  return a;
}

void check_flat_patch_args(const FlatPatchArgs& a) {
  LC_CHECK(a.count >= 0, "flat_patches: negative count ", a.count);
  LC_CHECK(a.height >= 1 && a.width >= 1 && a.channels >= 1, "flat_patches: bad patch shape ", a.height, "x",
           a.width, "x", a.channels);
}

void check_class_map_args(const ClassMapArgs& a) {
  LC_CHECK(a.n >= 0, "class_map: negative pixel count ", a.n);
  LC_CHECK(a.classes >= 1 && a.classes <= 4096, "class_map: classes must be 1..4096, got ", a.classes);
}

void check_gather_rows_cols_args(const GatherRowsColsArgs& a) {
  LC_CHECK(a.count >= 0, "gather_rows_cols: negative count ", a.count);
  LC_CHECK(a.in_h >= 1 && a.in_w >= 1 && a.channels >= 1 && a.out_h >= 1 && a.out_w >= 1,
           "gather_rows_cols: bad shape ", a.in_h, "x", a.in_w, "x", a.channels, " -> ", a.out_h, "x", a.out_w);
}

}  // namespace lc

namespace lc::ref {

namespace {

// One HWC image as a plain value, for the literal transforms below.
struct Img {
  std::int64_t h = 0, w = 0, c = 0;
  std::vector<std::uint8_t> v;
  std::uint8_t& at(std::int64_t y, std::int64_t x, std::int64_t ch) { return v[std::size_t((y * w + x) * c + ch)]; }
};

Img mirror_horizontally(Img in) {
  Img out = in;
  for (std::int64_t y = 0; y < in.h; ++y)
    for (std::int64_t x = 0; x < in.w; ++x)
      for (std::int64_t ch = 0; ch < in.c; ++ch) out.at(y, x, ch) = in.at(y, in.w - 1 - x, ch);
  return out;
}

// numpy.rot90(img, 1, axes=(0, 1)): a quarter turn counter-clockwise; the top row of the result is
// the right column of the input, read top to bottom.
Img rotate_ccw(Img in) {
  Img out = in;
  out.h = in.w;
  out.w = in.h;
  for (std::int64_t y = 0; y < out.h; ++y)
    for (std::int64_t x = 0; x < out.w; ++x)
      for (std::int64_t ch = 0; ch < in.c; ++ch) out.at(y, x, ch) = in.at(x, in.w - 1 - y, ch);
  return out;
}

// Weights of one resize axis: for each output index, (input index, weight) pairs summing to 1.
std::vector<std::vector<std::pair<std::int64_t, double>>> axis_weights(std::int64_t in, std::int64_t out) {
  std::vector<std::vector<std::pair<std::int64_t, double>>> w(static_cast<std::size_t>(out));
  const double scale = double(in) / double(out);
  for (std::int64_t o = 0; o < out; ++o) {
    if (out < in) {  // area: overlap of [o*scale, (o+1)*scale) with each pixel [i, i+1)
      const double lo = o * scale, hi = (o + 1) * scale;
      for (std::int64_t i = std::int64_t(std::floor(lo)); i < in && double(i) < hi; ++i) {
        const double overlap = std::min(double(i + 1), hi) - std::max(double(i), lo);
        if (overlap > 0) w[std::size_t(o)].push_back({i, overlap / scale});
      }
    } else {  // bilinear, half-pixel centres, clamped
      double src = (o + 0.5) * scale - 0.5;
      if (src < 0) src = 0;
      std::int64_t i0 = std::int64_t(std::floor(src));
      double f = src - double(i0);
      if (i0 >= in - 1) {
        i0 = in - 1;
        f = 0;
      }
      w[std::size_t(o)].push_back({i0, 1.0 - f});
      if (f > 0) w[std::size_t(o)].push_back({i0 + 1, f});
    }
  }
  return w;
}

// The resized image as doubles in [0, 255], [out_h][out_w][C].
std::vector<double> resize_values(const ResizeArgs& a, const std::uint8_t* in) {
  const auto wy = axis_weights(a.in_h, a.out_h), wx = axis_weights(a.in_w, a.out_w);
  const std::int64_t C = a.channels;
  std::vector<double> rows(std::size_t(std::int64_t(a.in_h) * a.out_w * C), 0.0);  // horizontal pass
  for (std::int64_t y = 0; y < a.in_h; ++y)
    for (std::int64_t ox = 0; ox < a.out_w; ++ox)
      for (auto [x, w] : wx[std::size_t(ox)])
        for (std::int64_t c = 0; c < C; ++c)
          rows[std::size_t((y * a.out_w + ox) * C + c)] += w * in[(y * a.in_w + x) * C + c];
  std::vector<double> out(std::size_t(std::int64_t(a.out_h) * a.out_w * C), 0.0);  // vertical pass
  for (std::int64_t oy = 0; oy < a.out_h; ++oy)
    for (auto [y, w] : wy[std::size_t(oy)])
      for (std::int64_t ox = 0; ox < a.out_w; ++ox)
        for (std::int64_t c = 0; c < C; ++c)
          out[std::size_t((oy * a.out_w + ox) * C + c)] += w * rows[std::size_t((y * a.out_w + ox) * C + c)];
  return out;
}

// Reflect-101 by its definition: mirror at the first and last pixel until inside.
std::int64_t mirror_into(std::int64_t i, std::int64_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
  }
  return i;
}

}  // namespace

void gather_batch(const GatherBatchArgs& a, const std::uint8_t* dataset, const std::int32_t* indices, float* out,
                  stream_t) {
  check_gather_batch_args(a);
  const std::int64_t per_image = std::int64_t(a.height) * a.width * a.channels;
  for (std::int32_t b = 0; b < a.batch; ++b) {
    float* dst = out + b * per_image;
    const std::int64_t idx = indices[b];
    if (idx < 0 || idx >= a.num_images) {
      for (std::int64_t e = 0; e < per_image; ++e) dst[e] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    Img img{a.height, a.width, a.channels,
            std::vector<std::uint8_t>(dataset + idx * per_image, dataset + (idx + 1) * per_image)};
    const AugmentChoice choice = augment_choice(a.augment, a.seed, a.step, std::uint32_t(b));
    if (choice.flip) img = mirror_horizontally(img);
    for (int k = 0; k < choice.rot90; ++k) img = rotate_ccw(img);
    for (std::int64_t e = 0; e < per_image; ++e) dst[e] = float(double(img.v[std::size_t(e)]) / 255.0);
  }
}

void resize_u8(const ResizeArgs& a, const std::uint8_t* in, std::uint8_t* out, stream_t) {
  check_resize_args(a);
  const auto v = resize_values(a, in);
  for (std::size_t e = 0; e < v.size(); ++e) out[e] = std::uint8_t(std::clamp(std::floor(v[e] + 0.5), 0.0, 255.0));
}

void resize_to_float(const ResizeArgs& a, const std::uint8_t* in, float* out, stream_t) {
  check_resize_args(a);
  const auto v = resize_values(a, in);
  for (std::size_t e = 0; e < v.size(); ++e) out[e] = float(v[e] / 255.0);
}

void extract_windows(const WindowArgs& args, const std::uint8_t* tile, float* out, stream_t) {
  const WindowArgs a = checked_window_args(args);
  const std::int64_t mw = window_map_w(a), K = a.window, C = a.channels;
  for (std::int64_t n = 0; n < a.count; ++n) {
    const std::int64_t i = (a.first + n) / mw, j = (a.first + n) % mw;
    // Centre: the middle pixel of the map pixel's block of input pixels.
    const std::int64_t block_h = std::min<std::int64_t>(a.stride, a.image_h - i * a.stride);
    const std::int64_t block_w = std::min<std::int64_t>(a.stride, a.image_w - j * a.stride);
    const std::int64_t cy = i * a.stride + block_h / 2, cx = j * a.stride + block_w / 2;
    for (std::int64_t r = 0; r < K; ++r)
      for (std::int64_t s = 0; s < K; ++s)
        for (std::int64_t c = 0; c < C; ++c) {
          const std::int64_t y = mirror_into(cy - K / 2 + r, a.image_h) - a.tile_y0;
          const std::int64_t x = mirror_into(cx - K / 2 + s, a.image_w) - a.tile_x0;
          out[((n * K + r) * K + s) * C + c] = float(double(tile[(y * a.tile_w + x) * C + c]) / 255.0);
        }
  }
}

void flat_patches(const FlatPatchArgs& a, const std::uint8_t* colours, float* out, stream_t) {
  check_flat_patch_args(a);
  const std::int64_t pixels = std::int64_t(a.height) * a.width;
  for (std::int64_t k = 0; k < a.count; ++k)
    for (std::int64_t p = 0; p < pixels; ++p)
      for (std::int64_t c = 0; c < a.channels; ++c)
        out[(k * pixels + p) * a.channels + c] = float(double(colours[k * a.channels + c]) / 255.0);
}

void class_map(const ClassMapArgs& a, const std::int32_t* cls, const std::uint8_t* mask,
               const std::uint8_t* palette, std::int64_t* counts, std::uint8_t* rgb, stream_t) {
  check_class_map_args(a);
  if (counts && !a.accumulate)
    for (std::int32_t k = 0; k < a.classes + 2; ++k) counts[k] = 0;
  for (std::int64_t p = 0; p < a.n; ++p) {
    const bool nodata = mask && mask[p] == 0;
    const bool known = !nodata && cls[p] >= 0 && cls[p] < a.classes;
    const std::int64_t bin = known ? cls[p] : (nodata ? a.classes : a.classes + 1);
    if (counts) ++counts[bin];
    if (rgb)
      for (int c = 0; c < 3; ++c) rgb[p * 3 + c] = known ? palette[cls[p] * 3 + c] : a.nodata_rgb[c];
  }
}

void gather_rows_cols(const GatherRowsColsArgs& a, const float* in, const std::int32_t* rows,
                      const std::int32_t* cols, float* out, stream_t) {
  check_gather_rows_cols_args(a);
  const std::int64_t C = a.channels;
  for (std::int64_t k = 0; k < a.count; ++k)
    for (std::int64_t i = 0; i < a.out_h; ++i)
      for (std::int64_t j = 0; j < a.out_w; ++j) {
        const std::int64_t r = rows[i], q = cols[j];
        const bool ok = r >= 0 && r < a.in_h && q >= 0 && q < a.in_w;
        for (std::int64_t c = 0; c < C; ++c)
          out[((k * a.out_h + i) * a.out_w + j) * C + c] =
              ok ? in[((k * a.in_h + r) * a.in_w + q) * C + c] : std::numeric_limits<float>::quiet_NaN();
      }
}

}  // namespace lc::ref

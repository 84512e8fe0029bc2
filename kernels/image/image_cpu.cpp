// Image ops on the host for the cpu backend (contract: image.h): the kernels' formulas (integer
// resize weights, augment_source, reflect101 from image.h), OpenMP over rows / windows / pixels.
// Bit-identical to the CUDA kernels: every value is an exact integer result or one x / 255.
#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/image/image.h"

namespace lc::cpu {

namespace {

// float(x) / 255.0f for every byte value, computed once (the same division the kernels do).
struct UnitTable {
  float v[256];
  UnitTable() {
    for (int i = 0; i < 256; ++i) v[i] = float(i) / 255.0f;
  }
};
const UnitTable& unit() {
  static const UnitTable t;
  return t;
}

template <bool kFloat, class Out>
void resize_impl(const ResizeArgs& a, const std::uint8_t* in, Out* out) {
  check_resize_args(a);
  const ResizeAxis ay = resize_axis(a.in_h, a.out_h), ax = resize_axis(a.in_w, a.out_w);
  std::vector<AxisSpan> sx(std::size_t(a.out_w));
  for (std::int64_t ox = 0; ox < a.out_w; ++ox) sx[std::size_t(ox)] = resize_span(ax, ox);
  const std::int64_t C = a.channels, D = ay.den * ax.den;
#pragma omp parallel for schedule(dynamic, 1) if (std::int64_t(a.out_h) * a.out_w > 256)
  for (std::int64_t oy = 0; oy < a.out_h; ++oy) {
    const AxisSpan sy = resize_span(ay, oy);
    for (std::int64_t ox = 0; ox < a.out_w; ++ox) {
      const AxisSpan& s = sx[std::size_t(ox)];
      std::int64_t sum[4] = {0, 0, 0, 0};
      for (std::int64_t y = sy.first; y <= sy.last; ++y) {
        const std::int64_t wy = resize_weight(ay, sy, oy, y);
        std::int64_t row[4] = {0, 0, 0, 0};
        const std::uint8_t* src = in + y * a.in_w * C;
        for (std::int64_t x = s.first; x <= s.last; ++x) {
          const std::int64_t wx = resize_weight(ax, s, ox, x);
          for (std::int64_t c = 0; c < C; ++c) row[c] += wx * src[x * C + c];
        }
        for (std::int64_t c = 0; c < C; ++c) sum[c] += wy * row[c];
      }
      Out* dst = out + (oy * a.out_w + ox) * C;
      for (std::int64_t c = 0; c < C; ++c) {
        if constexpr (kFloat)
          dst[c] = float(double(sum[c]) / double(255 * D));
        else
          dst[c] = std::uint8_t((2 * sum[c] + D) / (2 * D));
      }
    }
  }
}

}  // namespace

void gather_batch(const GatherBatchArgs& a, const std::uint8_t* dataset, const std::int32_t* indices, float* out,
                  stream_t) {
  check_gather_batch_args(a);
  const std::int64_t H = a.height, W = a.width, C = a.channels, per_image = H * W * C;
  const float* u = unit().v;
#pragma omp parallel for collapse(2) schedule(static) if (a.batch * H > 64)
  for (std::int64_t b = 0; b < a.batch; ++b)
    for (std::int64_t y = 0; y < H; ++y) {
      float* dst = out + b * per_image + y * W * C;
      const std::int64_t idx = indices[b];
      if (idx < 0 || idx >= a.num_images) {
        for (std::int64_t e = 0; e < W * C; ++e) dst[e] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      const std::uint8_t* img = dataset + idx * per_image;
      const AugmentChoice choice = augment_choice(a.augment, a.seed, a.step, std::uint32_t(b));
      for (std::int64_t x = 0; x < W; ++x) {
        std::int64_t sy, sx;
        augment_source(choice, y, x, W, sy, sx);
        for (std::int64_t c = 0; c < C; ++c) dst[x * C + c] = u[img[(sy * W + sx) * C + c]];
      }
    }
}

void resize_u8(const ResizeArgs& a, const std::uint8_t* in, std::uint8_t* out, stream_t) {
  resize_impl<false>(a, in, out);
}

void resize_to_float(const ResizeArgs& a, const std::uint8_t* in, float* out, stream_t) {
  resize_impl<true>(a, in, out);
}

void extract_windows(const WindowArgs& args, const std::uint8_t* tile, float* out, stream_t) {
  const WindowArgs a = checked_window_args(args);
  const std::int64_t mw = window_map_w(a), K = a.window, C = a.channels, half = K / 2;
  const float* u = unit().v;
#pragma omp parallel if (a.count * K > 1024)
  {
    std::vector<std::int64_t> col(static_cast<std::size_t>(K));  // tile column of each window column
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < a.count; ++n) {
      const std::int64_t i = (a.first + n) / mw, j = (a.first + n) % mw;
      const std::int64_t cy = window_centre(i, a.stride, a.image_h), cx = window_centre(j, a.stride, a.image_w);
      for (std::int64_t s = 0; s < K; ++s) col[std::size_t(s)] = reflect101(cx - half + s, a.image_w) - a.tile_x0;
      for (std::int64_t r = 0; r < K; ++r) {
        const std::uint8_t* src = tile + (reflect101(cy - half + r, a.image_h) - a.tile_y0) * a.tile_w * C;
        float* dst = out + (n * K + r) * K * C;
        for (std::int64_t s = 0; s < K; ++s)
          for (std::int64_t c = 0; c < C; ++c) dst[s * C + c] = u[src[col[std::size_t(s)] * C + c]];
      }
    }
  }
}

void flat_patches(const FlatPatchArgs& a, const std::uint8_t* colours, float* out, stream_t) {
  check_flat_patch_args(a);
  const std::int64_t C = a.channels, pixels = std::int64_t(a.height) * a.width;
  const float* u = unit().v;
#pragma omp parallel for schedule(static) if (a.count > 8)
  for (std::int64_t k = 0; k < a.count; ++k) {
    float* dst = out + k * pixels * C;
    for (std::int64_t p = 0; p < pixels; ++p)
      for (std::int64_t c = 0; c < C; ++c) dst[p * C + c] = u[colours[k * C + c]];
  }
}

void class_map(const ClassMapArgs& a, const std::int32_t* cls, const std::uint8_t* mask,
               const std::uint8_t* palette, std::int64_t* counts, std::uint8_t* rgb, stream_t) {
  check_class_map_args(a);
  const std::int64_t bins = a.classes + 2;
  std::vector<std::int64_t> total(std::size_t(bins), 0);
#pragma omp parallel if (a.n > 65536)
  {
    std::vector<std::int64_t> local(std::size_t(bins), 0);
#pragma omp for schedule(static)
    for (std::int64_t p = 0; p < a.n; ++p) {
      const bool nodata = mask && mask[p] == 0;
      const std::int32_t k = cls[p];
      const bool known = !nodata && k >= 0 && k < a.classes;
      ++local[std::size_t(known ? k : (nodata ? a.classes : a.classes + 1))];
      if (rgb) {
        const std::uint8_t* colour = known ? palette + k * 3 : a.nodata_rgb;
        rgb[p * 3 + 0] = colour[0];
        rgb[p * 3 + 1] = colour[1];
        rgb[p * 3 + 2] = colour[2];
      }
    }
#pragma omp critical(lc_image_class_map)
    for (std::int64_t b = 0; b < bins; ++b) total[std::size_t(b)] += local[std::size_t(b)];
  }
  if (counts)
    for (std::int64_t b = 0; b < bins; ++b) counts[b] = (a.accumulate ? counts[b] : 0) + total[std::size_t(b)];
}

void gather_rows_cols(const GatherRowsColsArgs& a, const float* in, const std::int32_t* rows,
                      const std::int32_t* cols, float* out, stream_t) {
  check_gather_rows_cols_args(a);
  const std::int64_t C = a.channels, H = a.out_h, W = a.out_w;
  const float nan = std::numeric_limits<float>::quiet_NaN();
#pragma omp parallel for schedule(static) if (a.count > 8)
  for (std::int64_t k = 0; k < a.count; ++k)
    for (std::int64_t i = 0; i < H; ++i)
      for (std::int64_t j = 0; j < W; ++j) {
        float* dst = out + ((k * H + i) * W + j) * C;
        const std::int64_t r = rows[i], q = cols[j];
        if (r < 0 || r >= a.in_h || q < 0 || q >= a.in_w) {
          std::fill_n(dst, C, nan);
          continue;
        }
        std::copy_n(in + ((k * a.in_h + r) * a.in_w + q) * C, C, dst);
      }
}

}  // namespace lc::cpu

// Image ops, the contract: batch gather with augmentation (training), resize (data sets of other
// sizes, whole-image classification), window extraction and flat colour patches (segmentation),
// class histogram + colour map (segmentation output), row/column gather (flat-colour inference).
// Depends on: kernels/common/impls.h (implementation namespaces), kernels/dropout/philox.h (the
// augmentation RNG); nothing CUDA-specific. The small inline helpers below are host+device
// (LC_IMAGE_HD), so the kernels and the cpu backend share one formula; the reference does not.
//
// Layouts: images are uint8 HWC (row-major, channels interleaved, densely packed); model input is
// NHWC float32. Every op is exact and deterministic: all backends produce the same bits
// (resize included: it is computed in integer arithmetic, see below). Indices are 64-bit.
//
// Scaling to the model's range (docs/MODEL.md: x / 255, nothing else), used by every op that writes
// float:  f(x) = float(x) / 255.0f, one IEEE single-precision division (correctly rounded; the
// build never enables fast math). For every x in 0..255 this equals float(double(x) / 255.0).
//
// 1. gather_batch (training): out[b] = T_b(dataset[indices[b]]) / 255, with T_b an augmentation
//    chosen per (seed, step, b) by augment_choice() below:
//      none        T = identity
//      flip        T = horizontal flip (mirror along W: out(y, x) = in(y, W-1-x)) with p = 1/2
//      flip_rot90  T = rot90^k(flip^f(x)), f in {0,1}, k in {0,1,2,3} uniform: the 8 symmetries of
//                  the square; needs H == W. rot90 is numpy.rot90(img, 1, axes=(0,1)), counter-
//                  clockwise: out(y, x) = in(x, W-1-y). Flip first, then rotate.
//    An index outside [0, num_images) is not read: the whole output image is set to quiet NaN
//    (every backend), so the loss turns NaN instead of training on wrong memory.
//    The RNG is Philox4x32-10 (kernels/dropout/philox.h, shared with dropout):
//    counter = {b, step low, step high, 0x696d6167 ("imag", this op's domain; dropout uses its
//    own counters)}, key = {seed low, seed high}; of the first output word, bit 0 = flip,
//    bits 1..2 = k.
//    The trainer passes a step number that is unique over the whole run (global step), so every
//    batch of every epoch draws fresh, reproducible choices.
//
// 2. resize (u8 HWC -> u8 or float HWC), separable, the filter chosen per axis:
//      out < in: area averaging (OpenCV INTER_AREA, PIL BOX): output o covers the input interval
//                [o*in/out, (o+1)*in/out); input pixel i weighs its overlap with it (fractional
//                at the edges). In units of 1/out pixel the overlaps are integers:
//                w(o, i) = min((i+1)*out, (o+1)*in) - max(i*out, o*in) (when > 0), sum_i w = in.
//      out >= in: bilinear with half-pixel centres (align_corners = false), clamped edges:
//                src = (o + 1/2) * in/out - 1/2, clamped below at 0; i0 = floor(src),
//                f = src - i0; i0 >= in-1 takes pixel in-1 alone. In units of 1/(2*out):
//                num = (2o+1)*in - out, i0 = num / (2*out), r = num % (2*out), weights
//                (2*out - r) on i0 and r on i0+1 (num <= 0: i0 = 0, r = 0). out == in is identity.
//    With S = sum_y sum_x wy*wx*in(y, x, c) (int64, exact) and D = Dy*Dx (Dy = in_h for area, 2*out_h
//    for bilinear; likewise x), the value is S/D exactly, and
//      u8 output:    (2*S + D) / (2*D)  (integer division: round half up)
//      float output: float(double(S) / double(255*D))  (the unrounded mean / 255; double division,
//                    IEEE, then one rounding to float)
//    D * 255 must stay below 2^53 (checked): e.g. area on both axes allows in_h * in_w < 3.5e13.
//
// 3. extract_windows (segmentation, window mode). Output map: map_h = ceil(H/S), map_w = ceil(W/S)
//    for stride S. Map pixel (i, j) stands for the input block rows [i*S, min(i*S+S, H)) x cols
//    [j*S, min(j*S+S, W)) (so a class map upsamples to the input by input(y, x) <- map(y/S, x/S)),
//    and its centre is the block's middle pixel: cy = i*S + min(S, H - i*S)/2 (integer division;
//    S = 1: cy = i), same for cx. The window (size K, 64 for the model) covers rows
//    cy - K/2 .. cy - K/2 + K - 1 (K = 64: offsets -32..+31, the centre pixel sits at window row 32)
//    and the same for columns. Border: reflect-101 (OpenCV BORDER_REFLECT_101: ...c b | a b c ... ,
//    edge pixel not repeated), folded as often as needed (images smaller than the window, 1x1).
//    Why reflect-101: it keeps the texture next to the border; edge replication paints streaks of
//    constant colour, which this model reads as flat colour patches (water, fields), and zero
//    padding is a colour no data set image contains.
//    Windows are numbered row-major over the map (n = i*map_w + j); a call writes windows
//    [first, first + count) as [count][K][K][C] float, so segmentation batches any number of them.
//    The image may be a tile of the full image: `tile` rows [tile_y0, tile_y0 + tile_h) and cols
//    [tile_x0, tile_x0 + tile_w) of the full image, densely packed; geometry and reflection always
//    use the full image size. The tile must contain window_source_rect(args) (checked).
//
// 4. flat_patches (segmentation, pixel mode): out[k][y][x][c] = colours[k][c] / 255.
//
// 5. class_map (segmentation output): for n pixels with int32 class cls[p] and an optional u8
//    mask (nullptr = all valid; mask[p] == 0 = nodata):
//      valid, 0 <= cls < classes:  counts[cls] += 1, rgb[p] = palette[cls]
//      nodata (mask[p] == 0):      counts[classes] += 1, rgb[p] = nodata_rgb
//      valid, cls out of range:    counts[classes + 1] += 1, rgb[p] = nodata_rgb
//    counts has classes + 2 int64 entries; they are zeroed first unless accumulate (tiled
//    segmentation sums over tiles). counts or rgb may be nullptr (not written). Integer counts are
//    exact whatever the summation order, hence deterministic.
//
// 6. gather_rows_cols (the graph runtime's flat-colour inference, runtime/flat_geometry.h):
//    out[k][i][j][c] = in[k][rows[i]][cols[j]][c] for rows [out_h] and cols [out_w] int32 (device
//    memory); the float bits are copied. An index outside [0, in_h) / [0, in_w) is not read: the
//    element is quiet NaN (every backend), so a wrong map shows up instead of reading wrong memory.
//
// Implementation versions (args.version, 0 = automatic; ref and cpu ignore it; all are tested):
//   resize:           1 one thread per output pixel; 2 one block per output pixel (large shrink)
//   extract_windows:  1 one thread per output element, reading the image directly;
//                     2 a block stages the image region under a group of neighbouring windows in
//                       shared memory (reflection resolved once), then writes the windows.
#pragma once

#include <cstdint>

#include "kernels/common/impls.h"
#include "kernels/dropout/philox.h"

#if defined(__CUDACC__)
#define LC_IMAGE_HD __host__ __device__ __forceinline__
#else
#define LC_IMAGE_HD inline
#endif

namespace lc {

// ---- 1. gather_batch ------------------------------------------------------------------------

enum class Augment : std::int32_t { none = 0, flip = 1, flip_rot90 = 2 };

struct GatherBatchArgs {
  std::int64_t num_images = 0;  // images in the data set
  std::int32_t batch = 0;       // images to gather
  std::int32_t height = 64, width = 64, channels = 3;  // one image: fewer than 2^31 elements
  Augment augment = Augment::none;
  std::uint64_t seed = 0;  // augmentation seed (run seed)
  std::uint64_t step = 0;  // global training step: one fresh draw per (seed, step, batch position)
};

struct AugmentChoice {
  bool flip = false;
  std::int32_t rot90 = 0;  // counter-clockwise quarter turns, 0..3
};

inline constexpr std::uint32_t kImageRngTag = 0x696d6167u;  // "imag": this op's counter domain

// The augmentation of batch position `position` at (seed, step): the formula every backend uses.
LC_IMAGE_HD AugmentChoice augment_choice(Augment mode, std::uint64_t seed, std::uint64_t step,
                                         std::uint32_t position) {
  AugmentChoice c;
  if (mode == Augment::none) return c;
  const Philox4x32 out = philox4x32_10(
      Philox4x32{{position, std::uint32_t(step), std::uint32_t(step >> 32), kImageRngTag}}, std::uint32_t(seed),
      std::uint32_t(seed >> 32));
  c.flip = (out.v[0] & 1u) != 0;
  c.rot90 = mode == Augment::flip_rot90 ? std::int32_t((out.v[0] >> 1) & 3u) : 0;
  return c;
}

// Source pixel (sy, sx) of output pixel (y, x) under `c` for an image of width w (square when
// c.rot90 != 0): the inverse of rot90^k(flip^f(.)), as one formula for the kernels.
LC_IMAGE_HD void augment_source(const AugmentChoice& c, std::int64_t y, std::int64_t x, std::int64_t w,
                                std::int64_t& sy, std::int64_t& sx) {
  std::int64_t ay = y, ax = x;  // pixel of the flipped image A that lands on (y, x)
  switch (c.rot90) {
    case 1: ay = x; ax = w - 1 - y; break;
    case 2: ay = w - 1 - y; ax = w - 1 - x; break;
    case 3: ay = w - 1 - x; ax = y; break;
    default: break;
  }
  sy = ay;
  sx = c.flip ? w - 1 - ax : ax;
}

// ---- 2. resize ------------------------------------------------------------------------------

struct ResizeArgs {
  std::int32_t in_h = 0, in_w = 0;
  std::int32_t out_h = 0, out_w = 0;
  std::int32_t channels = 3;  // 1..4
  std::int32_t version = 0;   // CUDA kernel: 0 auto, 1 thread per output pixel, 2 block per output pixel
};

// One axis of the resize in integer units (see the contract above).
struct ResizeAxis {
  std::int64_t in = 0, out = 0;
  bool area = false;     // out < in
  std::int64_t den = 1;  // sum of the weights: in (area) or 2*out (bilinear)
};

LC_IMAGE_HD ResizeAxis resize_axis(std::int64_t in, std::int64_t out) {
  ResizeAxis a;
  a.in = in;
  a.out = out;
  a.area = out < in;
  a.den = a.area ? in : 2 * out;
  return a;
}

// Input pixels [first, last] that output o reads, and the weight of input i (0 outside).
struct AxisSpan {
  std::int64_t first = 0, last = 0;
  std::int64_t r = 0;  // bilinear only: the weight of first+1 (first gets den - r)
};

LC_IMAGE_HD AxisSpan resize_span(const ResizeAxis& a, std::int64_t o) {
  AxisSpan s;
  if (a.area) {
    s.first = (o * a.in) / a.out;
    s.last = ((o + 1) * a.in - 1) / a.out;
  } else {
    const std::int64_t num = (2 * o + 1) * a.in - a.out;
    if (num > 0) {
      s.first = num / a.den;
      s.r = num % a.den;
    }
    if (s.first >= a.in - 1) {
      s.first = a.in - 1;
      s.r = 0;
    }
    s.last = s.r > 0 ? s.first + 1 : s.first;
  }
  return s;
}

LC_IMAGE_HD std::int64_t resize_weight(const ResizeAxis& a, const AxisSpan& s, std::int64_t o, std::int64_t i) {
  if (a.area) {
    const std::int64_t hi = (i + 1) * a.out < (o + 1) * a.in ? (i + 1) * a.out : (o + 1) * a.in;
    const std::int64_t lo = i * a.out > o * a.in ? i * a.out : o * a.in;
    return hi > lo ? hi - lo : 0;
  }
  if (i == s.first) return a.den - s.r;
  return i == s.first + 1 ? s.r : 0;
}

// ---- 3. extract_windows ---------------------------------------------------------------------

struct WindowArgs {
  std::int64_t image_h = 0, image_w = 0;  // the full image
  std::int32_t channels = 3;              // 1..4
  // The part of the full image held in memory (densely packed, row pitch tile_w * channels).
  // tile_h == 0 and tile_w == 0: the whole image.
  std::int64_t tile_y0 = 0, tile_x0 = 0, tile_h = 0, tile_w = 0;
  std::int32_t stride = 1;   // S >= 1
  std::int32_t window = 64;  // K, 1..4096
  std::int64_t first = 0;    // first window (row-major map index)
  std::int64_t count = 0;    // windows to write
  std::int32_t version = 0;  // CUDA kernel: 0 auto, 1 direct, 2 shared-memory region
};

LC_IMAGE_HD std::int64_t window_map_size(std::int64_t n, std::int64_t stride) { return (n + stride - 1) / stride; }
LC_IMAGE_HD std::int64_t window_map_h(const WindowArgs& a) { return window_map_size(a.image_h, a.stride); }
LC_IMAGE_HD std::int64_t window_map_w(const WindowArgs& a) { return window_map_size(a.image_w, a.stride); }

// Centre pixel of map index i along an axis of n input pixels.
LC_IMAGE_HD std::int64_t window_centre(std::int64_t i, std::int64_t stride, std::int64_t n) {
  const std::int64_t start = i * stride;
  const std::int64_t len = n - start < stride ? n - start : stride;
  return start + len / 2;
}

// Reflect-101 of any integer index into [0, n): period 2(n-1); n == 1 maps everything to 0.
LC_IMAGE_HD std::int64_t reflect101(std::int64_t i, std::int64_t n) {
  if (n <= 1) return 0;
  const std::int64_t period = 2 * (n - 1);
  std::int64_t m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

// Half-open rectangle of full-image pixels.
struct PixelRect {
  std::int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
};

// The full-image pixels (after reflection) that windows [first, first + count) read: the smallest
// rectangle a tile must cover. Host only; cost O((map rows + map cols) * window).
inline PixelRect window_source_rect(const WindowArgs& a) {
  PixelRect r{a.image_h, 0, a.image_w, 0};
  if (a.count <= 0 || a.image_h <= 0 || a.image_w <= 0 || a.stride <= 0 || a.window <= 0) return PixelRect{};
  const std::int64_t mw = window_map_w(a);
  const std::int64_t i0 = a.first / mw, i1 = (a.first + a.count - 1) / mw;
  const std::int64_t j0 = i0 == i1 ? a.first % mw : 0;
  const std::int64_t j1 = i0 == i1 ? (a.first + a.count - 1) % mw : mw - 1;
  // Along one axis: the pixels [lo, hi) the windows centred at map positions k0..k1 read.
  auto extent = [&a](std::int64_t k0, std::int64_t k1, std::int64_t size, std::int64_t& lo, std::int64_t& hi) {
    for (std::int64_t k = k0; k <= k1; ++k) {
      const std::int64_t c = window_centre(k, a.stride, size);
      for (std::int64_t t = 0; t < a.window; ++t) {
        const std::int64_t p = reflect101(c - a.window / 2 + t, size);
        lo = p < lo ? p : lo;
        hi = p + 1 > hi ? p + 1 : hi;
      }
    }
  };
  extent(i0, i1, a.image_h, r.y0, r.y1);
  extent(j0, j1, a.image_w, r.x0, r.x1);
  return r;
}

// ---- 4. flat_patches ------------------------------------------------------------------------

struct FlatPatchArgs {
  std::int64_t count = 0;
  std::int32_t height = 64, width = 64, channels = 3;
};

// ---- 6. gather_rows_cols --------------------------------------------------------------------

struct GatherRowsColsArgs {
  std::int64_t count = 0;  // images
  std::int32_t in_h = 0, in_w = 0, channels = 0, out_h = 0, out_w = 0;
};

// ---- 5. class_map ---------------------------------------------------------------------------

struct ClassMapArgs {
  std::int64_t n = 0;          // pixels
  std::int32_t classes = 0;    // 1..4096
  bool accumulate = false;     // add to counts instead of overwriting them
  std::uint8_t nodata_rgb[3] = {0, 0, 0};
};

}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  // dataset [num_images][H][W][C] u8, indices [batch] int32, out [batch][H][W][C] float.
  void gather_batch(const GatherBatchArgs& a, const std::uint8_t* dataset, const std::int32_t* indices,
                    float* out, stream_t stream);
  // in [in_h][in_w][C] u8 -> out [out_h][out_w][C].
  void resize_u8(const ResizeArgs& a, const std::uint8_t* in, std::uint8_t* out, stream_t stream);
  void resize_to_float(const ResizeArgs& a, const std::uint8_t* in, float* out, stream_t stream);
  // tile [tile_h][tile_w][C] u8 -> out [count][window][window][C] float.
  void extract_windows(const WindowArgs& a, const std::uint8_t* tile, float* out, stream_t stream);
  // colours [count][C] u8 -> out [count][H][W][C] float.
  void flat_patches(const FlatPatchArgs& a, const std::uint8_t* colours, float* out, stream_t stream);
  // cls [n] int32, mask [n] u8 or nullptr, palette [classes][3] u8 -> counts [classes + 2] int64
  // (or nullptr), rgb [n][3] u8 (or nullptr).
  void class_map(const ClassMapArgs& a, const std::int32_t* cls, const std::uint8_t* mask,
                 const std::uint8_t* palette, std::int64_t* counts, std::uint8_t* rgb, stream_t stream);
  // in [count][in_h][in_w][C] float, rows [out_h], cols [out_w] int32 -> out [count][out_h][out_w][C].
  void gather_rows_cols(const GatherRowsColsArgs& a, const float* in, const std::int32_t* rows,
                        const std::int32_t* cols, float* out, stream_t stream);
)

namespace lc {
// Argument checks shared by every implementation (throw lc::Error). Defined in image_ref.cpp.
void check_gather_batch_args(const GatherBatchArgs& a);
void check_resize_args(const ResizeArgs& a);
// Also resolves the whole-image tile (tile_h == tile_w == 0) and checks the tile covers the rect.
WindowArgs checked_window_args(const WindowArgs& a);
void check_flat_patch_args(const FlatPatchArgs& a);
void check_class_map_args(const ClassMapArgs& a);
void check_gather_rows_cols_args(const GatherRowsColsArgs& a);
}  // namespace lc

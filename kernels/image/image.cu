// Image op CUDA kernels (contract: image.h): batch gather + augmentation, resize (integer area /
// bilinear weights), window extraction, flat colour patches, class histogram + colour map, row/column
// gather (flat-colour inference).
// Every value written is an exact integer result or one float(x) / 255.0f (IEEE division; no fast
// math), so these kernels produce the same bits as lc::cpu. 64-bit element indices throughout.
// Depends on: kernels/simt/simt.h, kernels/image/image.h (shared geometry / RNG helpers).
#include "kernels/simt/simt.h"
#include "kernels/image/image.h"

#include <limits>
#include <type_traits>

namespace lc::LC_KERNEL_NS {

namespace {
constexpr int kThreads = 256;

__device__ __forceinline__ float to_unit(std::uint8_t v) { return float(v) / 255.0f; }

unsigned grid_for(std::int64_t work, int threads, std::int64_t cap) {
  const std::int64_t blocks = (work + threads - 1) / threads;
  return unsigned(blocks < 1 ? 1 : (blocks < cap ? blocks : cap));
}
}  // namespace

// ---- gather_batch ---------------------------------------------------------------------------
// grid.y walks the batch, grid.x * block walks one image's elements; the augmentation choice is
// drawn once per thread and image. Reads go through L1 (an image is 12 KiB); writes coalesce.
__global__ void gather_batch_kernel(GatherBatchArgs a, const std::uint8_t* __restrict__ dataset,
                                    const std::int32_t* __restrict__ indices, float* __restrict__ out, float nan) {
  // One image has < 2^31 elements (checked): 32-bit index arithmetic inside it, 64-bit across images.
  const int W = a.width, C = a.channels, per_image = a.height * W * C;
  const int stride = int(blockDim.x * gridDim.x);
  for (std::int64_t b = blockIdx.y; b < a.batch; b += gridDim.y) {
    const std::int64_t idx = indices[b];
    float* dst = out + b * std::int64_t(per_image);
    int e = int(blockIdx.x * blockDim.x + threadIdx.x);
    if (idx < 0 || idx >= a.num_images) {
      for (; e < per_image; e += stride) dst[e] = nan;
      continue;
    }
    const std::uint8_t* img = dataset + idx * per_image;
    const AugmentChoice choice = augment_choice(a.augment, a.seed, a.step, std::uint32_t(b));
    for (; e < per_image; e += stride) {
      const int pix = e / C, c = e - pix * C, y = pix / W, x = pix - y * W;
      std::int64_t sy, sx;
      augment_source(choice, y, x, W, sy, sx);
      dst[e] = to_unit(img[(sy * W + sx) * C + c]);
    }
  }
}

void gather_batch(const GatherBatchArgs& a, const std::uint8_t* dataset, const std::int32_t* indices, float* out,
                  stream_t stream) {
  check_gather_batch_args(a);
  if (a.batch == 0) return;
  const std::int64_t per_image = std::int64_t(a.height) * a.width * a.channels;
  const dim3 grid(grid_for(per_image, kThreads, 64), unsigned(a.batch < 65535 ? a.batch : 65535));
  simt::launch_flat(gather_batch_kernel, grid, dim3(kThreads), 0, stream, a, dataset, indices, out,
                    std::numeric_limits<float>::quiet_NaN());
}

// ---- resize ---------------------------------------------------------------------------------

template <class Out>
__device__ __forceinline__ void resize_store(Out* dst, std::int64_t sum, std::int64_t D) {
  if constexpr (std::is_same_v<Out, float>)
    *dst = float(double(sum) / double(255 * D));
  else
    *dst = std::uint8_t((2 * sum + D) / (2 * D));
}

// v1: one thread per output pixel, all channels; the footprint is read row by row.
template <class Out>
__global__ void resize_kernel_v1_thread_per_pixel(ResizeArgs a, ResizeAxis ay, ResizeAxis ax,
                                                  const std::uint8_t* __restrict__ in, Out* __restrict__ out) {
  const std::int64_t C = a.channels, total = std::int64_t(a.out_h) * a.out_w, D = ay.den * ax.den;
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t p = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += stride) {
    const std::int64_t oy = p / a.out_w, ox = p % a.out_w;
    const AxisSpan sy = resize_span(ay, oy), sx = resize_span(ax, ox);
    std::int64_t sum[4] = {0, 0, 0, 0};
    for (std::int64_t y = sy.first; y <= sy.last; ++y) {
      const std::int64_t wy = resize_weight(ay, sy, oy, y);
      const std::uint8_t* src = in + y * a.in_w * C;
      std::int64_t row[4] = {0, 0, 0, 0};
      for (std::int64_t x = sx.first; x <= sx.last; ++x) {
        const std::int64_t wx = resize_weight(ax, sx, ox, x);
#pragma unroll
        for (int c = 0; c < 4; ++c)  // constant indices keep the sums in registers
          if (c < C) row[c] += wx * src[x * C + c];
      }
#pragma unroll
      for (int c = 0; c < 4; ++c) sum[c] += wy * row[c];
    }
#pragma unroll
    for (int c = 0; c < 4; ++c)
      if (c < C) resize_store(out + p * C + c, sum[c], D);
  }
}

// v2: one block per output pixel (large shrink factors): the threads stride over the footprint
// (consecutive threads, consecutive input pixels), then a shared-memory tree sums the int64
// partial sums (exact, so the order does not matter).
constexpr int kResizeBlock = 128;
template <class Out>
__global__ void __launch_bounds__(kResizeBlock)
    resize_kernel_v2_block_per_pixel(ResizeArgs a, ResizeAxis ay, ResizeAxis ax, const std::uint8_t* __restrict__ in,
                                     Out* __restrict__ out) {
  __shared__ long long partial[4][kResizeBlock];
  const std::int64_t C = a.channels, total = std::int64_t(a.out_h) * a.out_w, D = ay.den * ax.den;
  const int t = int(threadIdx.x);
  for (std::int64_t p = blockIdx.x; p < total; p += gridDim.x) {
    const std::int64_t oy = p / a.out_w, ox = p % a.out_w;
    const AxisSpan sy = resize_span(ay, oy), sx = resize_span(ax, ox);
    const std::int64_t nc = sx.last - sx.first + 1, n = (sy.last - sy.first + 1) * nc;
    long long sum[4] = {0, 0, 0, 0};
    for (std::int64_t f = t; f < n; f += kResizeBlock) {
      const std::int64_t y = sy.first + f / nc, x = sx.first + f % nc;
      const std::int64_t w = resize_weight(ay, sy, oy, y) * resize_weight(ax, sx, ox, x);
      const std::uint8_t* src = in + (y * a.in_w + x) * C;
#pragma unroll
      for (int c = 0; c < 4; ++c)
        if (c < C) sum[c] += w * src[c];
    }
#pragma unroll
    for (int c = 0; c < 4; ++c) partial[c][t] = sum[c];
    __syncthreads();
    for (int half = kResizeBlock / 2; half > 0; half /= 2) {
      if (t < half)
        for (int c = 0; c < 4; ++c) partial[c][t] += partial[c][t + half];
      __syncthreads();
    }
    if (t < C) resize_store(out + p * C + t, partial[t][0], D);
    __syncthreads();  // partial[][0] is read above before the next pixel overwrites it
  }
}

namespace {
template <class Out>
void launch_resize(const ResizeArgs& a, const std::uint8_t* in, Out* out, stream_t stream) {
  check_resize_args(a);
  const ResizeAxis ay = resize_axis(a.in_h, a.out_h), ax = resize_axis(a.in_w, a.out_w);
  const std::int64_t total = std::int64_t(a.out_h) * a.out_w;
  // Footprint of one output pixel: up to ceil(in/out) + 1 input pixels per area axis, 2 otherwise.
  const std::int64_t fy = ay.area ? a.in_h / a.out_h + 2 : 2, fx = ax.area ? a.in_w / a.out_w + 2 : 2;
  // A block per output pixel pays when the footprint fills a block several times over.
  const int version = a.version != 0 ? a.version : (fy * fx >= 4 * kResizeBlock ? 2 : 1);
  if (version == 2)
    simt::launch(resize_kernel_v2_block_per_pixel<Out>, dim3(unsigned(total < 65536 ? total : 65536)),
                 dim3(kResizeBlock), 0, stream, a, ay, ax, in, out);
  else
    simt::launch_flat(resize_kernel_v1_thread_per_pixel<Out>, dim3(grid_for(total, 128, 8192)), dim3(128), 0,
                      stream, a, ay, ax, in, out);
}
}  // namespace

void resize_u8(const ResizeArgs& a, const std::uint8_t* in, std::uint8_t* out, stream_t stream) {
  launch_resize(a, in, out, stream);
}

void resize_to_float(const ResizeArgs& a, const std::uint8_t* in, float* out, stream_t stream) {
  launch_resize(a, in, out, stream);
}

// ---- extract_windows ------------------------------------------------------------------------

// v1: one thread per output element; the image region of neighbouring windows is shared through
// L1/L2. Writes are fully coalesced (consecutive threads, consecutive floats).
__global__ void extract_windows_kernel_v1_direct(WindowArgs a, const std::uint8_t* __restrict__ tile,
                                                 float* __restrict__ out) {
  // A window has < 2^31 elements (checked): 32-bit arithmetic inside it, 64-bit across windows.
  const int K = a.window, C = a.channels, KC = K * C, per_window = K * KC, half = K / 2;
  const std::int64_t mw = window_map_w(a), total = a.count * per_window;
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t w = e / per_window, n = a.first + w;
    const int q = int(e - w * per_window), r = q / KC, rest = q - r * KC, s = rest / C, c = rest - s * C;
    const std::int64_t cy = window_centre(n / mw, a.stride, a.image_h), cx = window_centre(n % mw, a.stride, a.image_w);
    const std::int64_t y = reflect101(cy - half + r, a.image_h) - a.tile_y0;
    const std::int64_t x = reflect101(cx - half + s, a.image_w) - a.tile_x0;
    out[e] = to_unit(tile[(y * a.tile_w + x) * C + c]);
  }
}

// v2: windows in groups of `group` neighbours along a map row (group q covers map row
// q / groups_per_row, columns (q % groups_per_row) * group + 0..group-1). A block stages the
// group's image region (K rows, region_w columns, reflection resolved while loading, coalesced
// row reads) in shared memory, then writes each window of the group from it: every window row is
// one contiguous span of the region row.
__global__ void extract_windows_kernel_v2_smem(WindowArgs a, std::int64_t group, std::int64_t region_w,
                                               const std::uint8_t* __restrict__ tile, float* __restrict__ out) {
  std::uint8_t* region = simt::dynamic_shared<std::uint8_t>();
  const std::int64_t K = a.window, C = a.channels, half = K / 2, per_window = K * K * C, row_bytes = region_w * C;
  const std::int64_t mw = window_map_w(a), groups_per_row = (mw + group - 1) / group;
  const std::int64_t last = a.first + a.count - 1;
  const std::int64_t q0 = (a.first / mw) * groups_per_row + (a.first % mw) / group;
  const std::int64_t q1 = (last / mw) * groups_per_row + (last % mw) / group;
  for (std::int64_t q = q0 + blockIdx.x; q <= q1; q += gridDim.x) {
    const std::int64_t i = q / groups_per_row;
    std::int64_t j0 = (q % groups_per_row) * group, j1 = j0 + group - 1;  // map columns of the group
    j1 = j1 < mw - 1 ? j1 : mw - 1;
    // Clip to the requested windows [first, last].
    if (i * mw + j0 < a.first) j0 = a.first - i * mw;
    if (i * mw + j1 > last) j1 = last - i * mw;
    const std::int64_t ry0 = window_centre(i, a.stride, a.image_h) - half;
    const std::int64_t rx0 = window_centre(j0, a.stride, a.image_w) - half;
    const std::int64_t rw = window_centre(j1, a.stride, a.image_w) - half + K - rx0;  // <= region_w
    for (std::int64_t e = threadIdx.x; e < K * rw * C; e += blockDim.x) {
      const std::int64_t rr = e / (rw * C), rest = e % (rw * C), cc = rest / C, ch = rest % C;
      const std::int64_t y = reflect101(ry0 + rr, a.image_h) - a.tile_y0;
      const std::int64_t x = reflect101(rx0 + cc, a.image_w) - a.tile_x0;
      region[rr * row_bytes + cc * C + ch] = tile[(y * a.tile_w + x) * C + ch];
    }
    __syncthreads();
    const int KC = int(K * C), step = int(blockDim.x), step_rows = step / KC, step_rest = step - step_rows * KC;
    for (std::int64_t j = j0; j <= j1; ++j) {
      const int col0 = int((window_centre(j, a.stride, a.image_w) - half - rx0) * C);
      float* dst = out + (i * mw + j - a.first) * per_window;
      // Element e = r * KC + rest of the window, advanced without dividing: e += blockDim.x.
      int r = int(threadIdx.x) / KC, rest = int(threadIdx.x) - r * KC;
      for (int e = int(threadIdx.x); e < int(per_window); e += step) {
        dst[e] = to_unit(region[r * int(row_bytes) + col0 + rest]);
        r += step_rows;
        rest += step_rest;
        if (rest >= KC) {
          rest -= KC;
          ++r;
        }
      }
    }
    __syncthreads();  // the region is reloaded for the next group
  }
}

namespace {
constexpr std::int64_t kWindowSmemBytes = 48 * 1024;  // default dynamic shared memory limit
}

void extract_windows(const WindowArgs& args, const std::uint8_t* tile, float* out, stream_t stream) {
  const WindowArgs a = checked_window_args(args);
  if (a.count == 0) return;
  const std::int64_t K = a.window, C = a.channels, S = a.stride;
  // Windows per group so that the region (K rows, K + (group-1)*S columns) fits in 48 KiB; v2 pays
  // only when neighbouring windows overlap (S < K) and at least 2 share a region.
  std::int64_t group = 0;
  if (S < K && K * K * C <= kWindowSmemBytes) {
    group = 1 + (kWindowSmemBytes / (K * C) - K) / S;
    group = group < 32 ? group : 32;
    group = group < window_map_w(a) ? group : window_map_w(a);
  }
  const int version = a.version != 0 ? a.version : (group >= 2 ? 2 : 1);
  if (version == 2) {
    if (group < 1) group = 1;
    const std::int64_t region_w = K + (group - 1) * S;
    LC_CHECK(K * region_w * C <= kWindowSmemBytes, "extract_windows v2: a ", K, "x", K, "x", C,
             " window does not fit in shared memory; use version 1");
    const std::int64_t mw = window_map_w(a), gpr = (mw + group - 1) / group, last = a.first + a.count - 1;
    const std::int64_t groups =
        ((last / mw) * gpr + (last % mw) / group) - ((a.first / mw) * gpr + (a.first % mw) / group) + 1;
    simt::launch(extract_windows_kernel_v2_smem, dim3(unsigned(groups < 65536 ? groups : 65536)), dim3(kThreads),
                 std::size_t(K * region_w * C), stream, a, group, region_w, tile, out);
  } else {
    simt::launch_flat(extract_windows_kernel_v1_direct, dim3(grid_for(a.count * K * K * C, kThreads, 16384)),
                      dim3(kThreads), 0, stream, a, tile, out);
  }
}

// ---- flat_patches ---------------------------------------------------------------------------

__global__ void flat_patches_kernel(std::int64_t total, std::int64_t per_patch, std::int32_t channels,
                                    const std::uint8_t* __restrict__ colours, float* __restrict__ out) {
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride)
    out[e] = to_unit(colours[(e / per_patch) * channels + e % channels]);
}

void flat_patches(const FlatPatchArgs& a, const std::uint8_t* colours, float* out, stream_t stream) {
  check_flat_patch_args(a);
  const std::int64_t per_patch = std::int64_t(a.height) * a.width * a.channels, total = a.count * per_patch;
  if (total == 0) return;
  simt::launch_flat(flat_patches_kernel, dim3(grid_for(total, kThreads, 16384)), dim3(kThreads), 0, stream, total,
                    per_patch, a.channels, colours, out);
}

// ---- class_map ------------------------------------------------------------------------------

__global__ void class_map_zero_kernel(std::int64_t bins, std::int64_t* __restrict__ counts) {
  for (std::int64_t k = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < bins;
       k += std::int64_t(blockDim.x) * gridDim.x)
    counts[k] = 0;
}

// Block-private histogram in shared memory (32-bit: a block sees far fewer than 2^32 pixels),
// flushed with one 64-bit atomic per non-empty bin. Integer sums: deterministic in any order.
__global__ void class_map_kernel(ClassMapArgs a, const std::int32_t* __restrict__ cls,
                                 const std::uint8_t* __restrict__ mask, const std::uint8_t* __restrict__ palette,
                                 std::int64_t* __restrict__ counts, std::uint8_t* __restrict__ rgb) {
  unsigned* hist = simt::dynamic_shared<unsigned>();
  const int bins = a.classes + 2;
  if (counts)
    for (int k = threadIdx.x; k < bins; k += blockDim.x) hist[k] = 0;
  __syncthreads();
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t p = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < a.n; p += stride) {
    const bool nodata = mask && mask[p] == 0;
    const std::int32_t k = cls[p];
    const bool known = !nodata && k >= 0 && k < a.classes;
    if (counts) atomicAdd(&hist[known ? k : (nodata ? a.classes : a.classes + 1)], 1u);
    if (rgb) {
      rgb[p * 3 + 0] = known ? palette[k * 3 + 0] : a.nodata_rgb[0];
      rgb[p * 3 + 1] = known ? palette[k * 3 + 1] : a.nodata_rgb[1];
      rgb[p * 3 + 2] = known ? palette[k * 3 + 2] : a.nodata_rgb[2];
    }
  }
  __syncthreads();
  if (counts)
    for (int k = threadIdx.x; k < bins; k += blockDim.x)
      if (hist[k] != 0)
        atomicAdd(reinterpret_cast<unsigned long long*>(counts + k), static_cast<unsigned long long>(hist[k]));
}

void class_map(const ClassMapArgs& a, const std::int32_t* cls, const std::uint8_t* mask,
               const std::uint8_t* palette, std::int64_t* counts, std::uint8_t* rgb, stream_t stream) {
  check_class_map_args(a);
  const std::int64_t bins = a.classes + 2;
  if (counts && !a.accumulate)
    simt::launch_flat(class_map_zero_kernel, dim3(grid_for(bins, kThreads, 64)), dim3(kThreads), 0, stream, bins,
                      counts);
  if (a.n == 0 || (!counts && !rgb)) return;
  simt::launch(class_map_kernel, dim3(grid_for(a.n, kThreads, 1024)), dim3(kThreads),
               counts ? std::size_t(bins) * sizeof(unsigned) : 0, stream, a, cls, mask, palette, counts, rgb);
}

// ---- gather_rows_cols -------------------------------------------------------------------------
// One thread per output element (grid-stride); consecutive threads take consecutive channels of
// one output pixel, so reads of a source pixel and all writes coalesce.
__global__ void gather_rows_cols_kernel(GatherRowsColsArgs a, std::int64_t total, const float* __restrict__ in,
                                        const std::int32_t* __restrict__ rows, const std::int32_t* __restrict__ cols,
                                        float* __restrict__ out, float nan) {
  const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
  for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t c = e % a.channels, px = e / a.channels;
    const std::int64_t j = px % a.out_w, i = (px / a.out_w) % a.out_h, k = px / (std::int64_t(a.out_w) * a.out_h);
    const std::int32_t r = rows[i], q = cols[j];
    const bool ok = r >= 0 && r < a.in_h && q >= 0 && q < a.in_w;
    out[e] = ok ? in[((k * a.in_h + r) * a.in_w + q) * a.channels + c] : nan;
  }
}

void gather_rows_cols(const GatherRowsColsArgs& a, const float* in, const std::int32_t* rows,
                      const std::int32_t* cols, float* out, stream_t stream) {
  check_gather_rows_cols_args(a);
  const std::int64_t total = a.count * a.out_h * a.out_w * a.channels;
  if (total == 0) return;
  simt::launch_flat(gather_rows_cols_kernel, dim3(grid_for(total, kThreads, 16384)), dim3(kThreads), 0, stream, a,
                    total, in, rows, cols, out, std::numeric_limits<float>::quiet_NaN());
}

}  // namespace lc::LC_KERNEL_NS

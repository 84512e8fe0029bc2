// Segmentation (see segmenter.h): pixel mode (deduplicated flat colour patches) and window mode
// (tiled, batched windows of the full-resolution image), all inference on the backend's device.
// Depends on: model/segmenter.h, kernels/image/image.h, runtime/nvtx.h.
#include "model/segmenter.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include "kernels/common/check.h"
#include "kernels/image/image.h"
#include "runtime/nvtx.h"

namespace lc {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A device allocation freed at scope exit.
// Page-locked host memory (Device::alloc_host) and an event, freed on destruction.
struct HostStage {
  Device& dev;
  std::uint8_t* p;
  CUevent_st* done;
  HostStage(Device& d, std::size_t bytes)
      : dev(d), p(static_cast<std::uint8_t*>(d.alloc_host(bytes))), done(d.create_event()) {}
  ~HostStage() {
    dev.free_host(p);
    dev.destroy_event(done);
  }
  HostStage(const HostStage&) = delete;
  HostStage& operator=(const HostStage&) = delete;
};

class DevBuf {
 public:
  DevBuf(Device& d, std::size_t bytes) : d_(d), bytes_(bytes), p_(bytes ? d.alloc(bytes) : nullptr) {}
  ~DevBuf() { d_.free(p_); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  Device& d_;
  std::size_t bytes_;
  void* p_;
};

TransferCounts diff(const TransferCounts& a, const TransferCounts& b) {
  TransferCounts d;
  d.h2d_calls = a.h2d_calls - b.h2d_calls, d.h2d_bytes = a.h2d_bytes - b.h2d_bytes;
  d.d2h_calls = a.d2h_calls - b.d2h_calls, d.d2h_bytes = a.d2h_bytes - b.d2h_bytes;
  d.d2d_calls = a.d2d_calls - b.d2d_calls, d.d2d_bytes = a.d2d_bytes - b.d2d_bytes;
  return d;
}

void run_extract(BackendKind k, const WindowArgs& a, const std::uint8_t* tile, float* out, stream_t s) {
  LC_DISPATCH(k, extract_windows, a, tile, out, s);
}
void run_flat(BackendKind k, const FlatPatchArgs& a, const std::uint8_t* colours, float* out, stream_t s) {
  LC_DISPATCH(k, flat_patches, a, colours, out, s);
}
void run_class_map(BackendKind k, const ClassMapArgs& a, const std::int32_t* cls, const std::uint8_t* mask,
                   const std::uint8_t* palette, std::int64_t* counts, std::uint8_t* rgb, stream_t s) {
  LC_DISPATCH(k, class_map, a, cls, mask, palette, counts, rgb, s);
}

constexpr std::size_t align256(std::size_t n) { return (n + 255) / 256 * 256; }
constexpr std::int64_t kMaxTileBytes = std::int64_t(64) << 20;

// Window mode: the cell counts (class_map's bins) as image pixels. Every cell covers an S x S
// block except in the last map row and column, which cover the H and W left over; so all bins are
// S * S times their cells, less the missing part of each edge cell (its bin found by class_map's
// rules: nodata mask first, then the class, else out of range). O(map_h + map_w) on the host.
std::vector<std::int64_t> block_areas(const SegmentResult& r, int K, std::int64_t H, std::int64_t W) {
  const std::int64_t S = r.stride, mh = r.map_h, mw = r.map_w;
  const std::int64_t last_h = H - (mh - 1) * S, last_w = W - (mw - 1) * S;
  std::vector<std::int64_t> px(r.counts.size());
  for (std::size_t b = 0; b < px.size(); ++b) px[b] = r.counts[b] * S * S;
  auto correct = [&](std::int64_t i, std::int64_t j) {
    const std::size_t cell = std::size_t(i * mw + j);
    const std::int32_t c = r.cls[cell];
    const std::size_t bin = !r.valid.empty() && r.valid[cell] == 0 ? std::size_t(K)
                            : c >= 0 && c < K                      ? std::size_t(c)
                                                                   : std::size_t(K) + 1;
    const std::int64_t bh = i == mh - 1 ? last_h : S, bw = j == mw - 1 ? last_w : S;
    px[bin] -= S * S - bh * bw;
  };
  for (std::int64_t j = 0; j < mw; ++j) correct(mh - 1, j);
  for (std::int64_t i = 0; i + 1 < mh; ++i) correct(i, mw - 1);
  return px;
}

// The nodata flags of map rows [r0, r1) from their centre pixels in the tile just read (rgb and
// pixel_valid hold the pixels of rect q).
void tile_mask(const std::uint8_t* rgb, const std::uint8_t* pixel_valid, const PixelRect& q, std::int64_t r0,
               std::int64_t r1, SegmentResult& r, const SegmentOptions& opt, std::int64_t H, std::int64_t W) {
  const std::int64_t S = r.stride, mw = r.map_w, tw = q.x1 - q.x0;
  for (std::int64_t i = r0; i < r1; ++i) {
    const std::int64_t cy = window_centre(i, S, H) - q.y0;
    for (std::int64_t j = 0; j < mw; ++j) {
      const std::size_t p = std::size_t(cy * tw + window_centre(j, S, W) - q.x0);
      bool nodata = pixel_valid && pixel_valid[p] == 0;
      if (opt.has_nodata_rgb) {
        const std::uint8_t* c = &rgb[p * 3];
        nodata = nodata || (c[0] == opt.nodata_rgb[0] && c[1] == opt.nodata_rgb[1] && c[2] == opt.nodata_rgb[2]);
      }
      r.valid[std::size_t(i * mw + j)] = nodata ? 0 : 1;
    }
  }
}

}  // namespace

void MemoryImageSource::read(const PixelRect& q, std::uint8_t* rgb, std::uint8_t* valid) {
  const std::int64_t W = img_.width, tw = q.x1 - q.x0;
  for (std::int64_t y = q.y0; y < q.y1; ++y) {
    std::memcpy(rgb + (y - q.y0) * tw * 3, &img_.rgb[std::size_t((y * W + q.x0) * 3)], std::size_t(tw * 3));
    if (valid && masked_) std::memcpy(valid + (y - q.y0) * tw, &alpha_[std::size_t(y * W + q.x0)], std::size_t(tw));
  }
}

Segmenter::Segmenter(const LoadedModel& model, Backend& backend, int batch)
    : model_(model), backend_(backend), batch_(batch) {
  LC_CHECK(batch >= 1 && batch <= 65536, "--batch must be in 1..65536, got ", batch);
  LC_CHECK(model.classes() >= 1 && model.classes() <= kMaxPaletteClasses, model.origin, ": ", model.classes(),
           " classes; segmentation supports 1..", kMaxPaletteClasses);
  net_ = make_inference_network(model, backend, batch, /*flat_inference=*/true);
  Device& dev = backend.device();
  const std::vector<std::uint8_t> pal = palette_bytes(model.classes());
  palette_ = static_cast<std::uint8_t*>(dev.alloc(pal.size()));
  dev.copy_h2d(palette_, pal.data(), pal.size(), backend.stream());
  const std::size_t in_floats = std::size_t(model.input_h()) * std::size_t(model.input_w()) * 3;
  windows_ = static_cast<float*>(dev.alloc(std::size_t(batch) * in_floats * sizeof(float)));
  backend.synchronize();
}

Segmenter::~Segmenter() {
  backend_.device().free(palette_);
  backend_.device().free(windows_);
}

SegmentResult Segmenter::segment(const InputImage& in, const SegmentOptions& opt) {
  check_image_size(in.image.width, in.image.height, "image");
  LC_CHECK(in.image.rgb.size() == std::size_t(in.image.width) * std::size_t(in.image.height) * 3,
           "image: pixel buffer size does not match ", in.image.width, "x", in.image.height);
  LC_CHECK(in.alpha.empty() || in.alpha.size() == std::size_t(in.image.width) * std::size_t(in.image.height),
           "image: alpha plane size does not match");
  if (opt.mode == SegmentMode::pixel) return timed([&] { return segment_pixel(in, opt); });
  MemoryImageSource src(in.image, in.alpha, opt.use_alpha);
  return timed([&] { return segment_window(src, opt); });
}

SegmentResult Segmenter::segment(ImageSource& src, const SegmentOptions& opt) {
  if (opt.mode == SegmentMode::window) return timed([&] { return segment_window(src, opt); });
  // Pixel mode resizes the whole image: read it whole.
  InputImage in;
  in.image.width = int(src.width()), in.image.height = int(src.height());
  in.image.rgb.resize(std::size_t(src.width()) * std::size_t(src.height()) * 3);
  src.read(PixelRect{0, src.height(), 0, src.width()}, in.image.rgb.data(), nullptr);
  return segment(in, opt);
}

template <class F>
SegmentResult Segmenter::timed(F&& run) {
  const double t0 = now_s();
  const TransferCounts c0 = backend_.device().counts();
  SegmentResult r = run();
  backend_.synchronize();
  r.stats.transfers = diff(backend_.device().counts(), c0);
  r.stats.seconds = now_s() - t0;
  return r;
}

// ---- pixel mode --------------------------------------------------------------------------------

SegmentResult Segmenter::segment_pixel(const InputImage& in, const SegmentOptions& opt) {
  LC_CHECK(opt.size >= 1 && opt.size <= 4096, "--size must be in 1..4096, got ", opt.size);
  LC_CHECK(!opt.has_nodata_rgb, "--nodata applies to --mode window only");
  Device& dev = backend_.device();
  const stream_t s = backend_.stream();
  const BackendKind kind = backend_.kind();
  const int K = model_.classes(), H = model_.input_h(), W = model_.input_w();
  const RgbImage small = resize_rgb(in.image, opt.size, opt.size);
  const std::size_t n = std::size_t(opt.size) * std::size_t(opt.size);

  // Deduplicate colours: unique colours in first-seen order, pixel -> unique index.
  std::unordered_map<std::uint32_t, std::int32_t> index;
  std::vector<std::uint8_t> colours;
  std::vector<std::int32_t> of_pixel(n);
  for (std::size_t p = 0; p < n; ++p) {
    const std::uint8_t* c = &small.rgb[p * 3];
    const std::uint32_t key = std::uint32_t(c[0]) << 16 | std::uint32_t(c[1]) << 8 | c[2];
    auto [it, fresh] = index.emplace(key, std::int32_t(colours.size() / 3));
    if (fresh) colours.insert(colours.end(), c, c + 3);
    of_pixel[p] = it->second;
  }
  const std::int64_t U = std::int64_t(colours.size() / 3);

  DevBuf d_colours(dev, colours.size());
  DevBuf d_top(dev, std::size_t(U) * 4);
  DevBuf d_probs(dev, opt.want_probs ? std::size_t(U) * std::size_t(K) * 4 : 0);
  SegmentResult r;
  r.stats.device_bytes = d_colours.bytes() + d_top.bytes() + d_probs.bytes();
  dev.copy_h2d(d_colours.as<std::uint8_t>(), colours.data(), colours.size(), s);  // the one upload
  const ActShape reduced = net_->flat_input_shape();
  for (std::int64_t b0 = 0; b0 < U; b0 += batch_) {
    LC_NVTX_RANGE("batch ", r.stats.batches);
    const int nb = int(std::min<std::int64_t>(batch_, U - b0));
    FlatPatchArgs fa;
    fa.count = nb, fa.height = opt.reduce_flat ? reduced.h : H, fa.width = opt.reduce_flat ? reduced.w : W;
    fa.channels = 3;
    run_flat(kind, fa, d_colours.as<std::uint8_t>() + b0 * 3, windows_, s);
    float* probs = opt.want_probs ? d_probs.as<float>() + b0 * K : nullptr;
    if (opt.reduce_flat)
      net_->predict_flat(windows_, nb, probs, d_top.as<std::int32_t>() + b0);
    else
      net_->predict(windows_, nb, probs, d_top.as<std::int32_t>() + b0);
    ++r.stats.batches;
    if (opt.progress) opt.progress(b0 + nb, U);
  }
  std::vector<std::int32_t> top(static_cast<std::size_t>(U));
  dev.copy_d2h(top.data(), d_top.as<std::int32_t>(), top.size() * 4, s);  // the one download
  std::vector<float> uprobs;
  if (opt.want_probs) {
    uprobs.resize(std::size_t(U) * std::size_t(K));
    dev.copy_d2h(uprobs.data(), d_probs.as<float>(), uprobs.size() * 4, s);
  }
  backend_.synchronize();

  r.map_h = r.map_w = opt.size;
  r.stride = 0;
  r.cls.resize(n);
  r.counts.assign(std::size_t(K) + 2, 0);
  for (std::size_t p = 0; p < n; ++p) {
    const std::int32_t c = top[std::size_t(of_pixel[p])];
    r.cls[p] = c;
    if (c >= 0 && c < K)
      ++r.counts[std::size_t(c)];
    else
      ++r.counts[std::size_t(K) + 1];
  }
  if (opt.want_probs) {
    std::vector<float> probs(n * std::size_t(K));
    for (std::size_t p = 0; p < n; ++p)
      std::copy_n(&uprobs[std::size_t(of_pixel[p]) * std::size_t(K)], K, &probs[p * std::size_t(K)]);
    if (opt.probs_sink)
      opt.probs_sink(0, std::int64_t(n), probs.data());
    else
      r.probs = std::move(probs);
  }
  r.pixels = r.counts;
  r.stats.forwards = U;
  r.stats.tiles = 1;
  return r;
}

Segmenter::NaiveRun Segmenter::naive_pixel(const RgbImage& img, int size, std::int64_t limit) {
  LC_CHECK(size >= 1 && size <= 4096, "--size must be in 1..4096, got ", size);
  if (!net1_) net1_ = make_inference_network(model_, backend_, 1);
  Device& dev = backend_.device();
  const stream_t s = backend_.stream();
  const int H = model_.input_h(), W = model_.input_w();
  const RgbImage small = resize_rgb(img, size, size);
  const std::int64_t n = std::int64_t(size) * size;
  const std::int64_t m = limit > 0 ? std::min(limit, n) : n;
  NaiveRun run;
  run.cls.resize(std::size_t(m));
  std::vector<float> patch(std::size_t(H) * std::size_t(W) * 3);
  DevBuf d_top(dev, 4);
  float* x = net1_->input().data<float>();
  backend_.synchronize();
  const double t0 = now_s();
  for (std::int64_t p = 0; p < m; ++p) {
    for (std::size_t q = 0; q < patch.size(); q += 3)
      for (int c = 0; c < 3; ++c) patch[q + std::size_t(c)] = float(small.rgb[std::size_t(p) * 3 + std::size_t(c)]) / 255.0f;
    dev.copy_h2d(x, patch.data(), patch.size() * 4, s);
    net1_->predict(x, 1, nullptr, d_top.as<std::int32_t>());
    dev.copy_d2h(&run.cls[std::size_t(p)], d_top.as<std::int32_t>(), 4, s);
    backend_.synchronize();
  }
  run.seconds = now_s() - t0;
  return run;
}

// ---- window mode -------------------------------------------------------------------------------

namespace {

// Host staging for window tiles: two page-locked slots (Device::alloc_host), each the packed
// tile (pixels, mask) followed by room for the tile's classes, and an event per slot. While the
// device uploads and classifies tile t from one slot, the host packs tile t+1 into the other;
// each tile's classes come back asynchronously into its slot and are copied out when the slot
// comes round again (or at the end), after its event. The device buffers need no second copy:
// the stream orders tile t+1's upload after tile t's kernels and tile t's download before tile
// t+1's writes.
class TileSlots {
 public:
  TileSlots(Device& dev, std::size_t stage_bytes, std::size_t tile_cells)
      : dev_(dev), result_off_(align256(stage_bytes)),
        slots_{HostStage(dev, result_off_ + tile_cells * 4), HostStage(dev, result_off_ + tile_cells * 4)} {}
  // Slot for tile t, once the tile that used it before is done and its classes are in cls.
  std::uint8_t* acquire(std::int64_t t, std::vector<std::int32_t>& cls) {
    drain(int(t % 2), cls);
    return slots_[t % 2].p;
  }
  // Enqueues tile t's download of `count` classes (first cell `first`) from d_top on s.
  void release(std::int64_t t, const std::int32_t* d_top, std::int64_t first, std::int64_t count, stream_t s) {
    const int k = int(t % 2);
    dev_.copy_d2h_async(slots_[k].p + result_off_, d_top, std::size_t(count) * 4, s);
    dev_.record_event(slots_[k].done, s);
    first_[k] = first, count_[k] = count;
  }
  void finish(std::vector<std::int32_t>& cls) {
    drain(0, cls);
    drain(1, cls);
  }

 private:
  void drain(int k, std::vector<std::int32_t>& cls) {
    if (count_[k] < 0) return;
    dev_.wait_event(slots_[k].done);
    std::memcpy(&cls[std::size_t(first_[k])], slots_[k].p + result_off_, std::size_t(count_[k]) * 4);
    count_[k] = -1;
  }
  Device& dev_;
  std::size_t result_off_;
  HostStage slots_[2];
  std::int64_t first_[2] = {0, 0}, count_[2] = {-1, -1};
};

}  // namespace

SegmentResult Segmenter::segment_window(ImageSource& src, const SegmentOptions& opt) {
  LC_CHECK(opt.stride >= 1 && opt.stride <= 4096, "--stride must be in 1..4096, got ", opt.stride);
  LC_CHECK(opt.tile_windows >= 0, "tile windows must be >= 0");
  LC_CHECK(model_.input_h() == model_.input_w(), model_.origin, ": window mode needs a square model input, the model takes ",
           model_.input_h(), "x", model_.input_w());
  Device& dev = backend_.device();
  const stream_t s = backend_.stream();
  const BackendKind kind = backend_.kind();
  const int K = model_.classes(), win = model_.input_h(), S = opt.stride;
  const std::int64_t H = src.height(), W = src.width();  // sizes checked by the source's reader

  WindowArgs base;
  base.image_h = H, base.image_w = W, base.channels = 3, base.stride = S, base.window = win;
  const std::int64_t mh = window_map_h(base), mw = window_map_w(base), cells = mh * mw;
  const std::int64_t tile_windows = opt.tile_windows > 0 ? opt.tile_windows : 16 * std::int64_t(batch_);
  // Whole map rows per tile: at most tile_windows windows and (unless one row needs more) at most
  // kMaxTileBytes of source pixels, so a large stride does not make tiles of many image rows.
  const std::int64_t rows_by_bytes = kMaxTileBytes / std::max<std::int64_t>(1, std::int64_t(S) * W * 3);
  const std::int64_t rows_per_tile = std::max<std::int64_t>(1, std::min(tile_windows / mw, rows_by_bytes));
  const std::int64_t tiles = (mh + rows_per_tile - 1) / rows_per_tile;

  // Nodata: a cell is nodata when its centre pixel is (the source's mask, or --nodata's colour).
  const bool masked = src.has_mask() || opt.has_nodata_rgb;
  SegmentResult r;
  r.map_h = mh, r.map_w = mw, r.stride = S, r.valid.assign(masked ? std::size_t(cells) : 0, 1);

  // The source rectangle of every tile, and the largest tile (one staging allocation).
  std::vector<PixelRect> rects(static_cast<std::size_t>(tiles));
  std::size_t max_px = 0;
  for (std::int64_t t = 0; t < tiles; ++t) {
    WindowArgs a = base;
    const std::int64_t r0 = t * rows_per_tile, r1 = std::min(mh, r0 + rows_per_tile);
    a.first = r0 * mw, a.count = (r1 - r0) * mw;
    rects[std::size_t(t)] = window_source_rect(a);
    const PixelRect& q = rects[std::size_t(t)];
    max_px = std::max(max_px, std::size_t((q.y1 - q.y0) * (q.x1 - q.x0)));
  }
  const std::size_t tile_cells = std::size_t(std::min(rows_per_tile, mh) * mw);
  const std::size_t mask_off = align256(max_px * 3);
  const std::size_t stage_bytes = mask_off + (masked ? tile_cells : 0);
  DevBuf d_stage(dev, stage_bytes);
  DevBuf d_top(dev, tile_cells * 4);
  DevBuf d_probs(dev, opt.want_probs ? tile_cells * std::size_t(K) * 4 : 0);
  DevBuf d_counts(dev, (std::size_t(K) + 2) * 8);
  r.stats.device_bytes = d_stage.bytes() + d_top.bytes() + d_probs.bytes() + d_counts.bytes();
  std::vector<std::uint8_t> pixel_valid(src.has_mask() ? max_px : 0);
  TileSlots slots(dev, stage_bytes, tile_cells);

  r.cls.resize(std::size_t(cells));
  if (opt.want_probs && !opt.probs_sink) r.probs.resize(std::size_t(cells) * std::size_t(K));
  std::vector<float> tile_probs;
  if (opt.want_probs && opt.probs_sink) tile_probs.resize(tile_cells * std::size_t(K));
  std::int64_t done = 0;
  for (std::int64_t t = 0; t < tiles; ++t) {
    LC_NVTX_RANGE("tile ", t);
    std::uint8_t* stage = slots.acquire(t, r.cls);  // tile t-2's slot
    const std::int64_t r0 = t * rows_per_tile, r1 = std::min(mh, r0 + rows_per_tile);
    const std::int64_t first = r0 * mw, count = (r1 - r0) * mw;
    const PixelRect& q = rects[std::size_t(t)];
    const std::int64_t th = q.y1 - q.y0, tw = q.x1 - q.x0;
    // Read the tile's pixels into the staging buffer, its cells' mask after them: one upload.
    src.read(q, stage, src.has_mask() ? pixel_valid.data() : nullptr);
    if (masked) {
      tile_mask(stage, src.has_mask() ? pixel_valid.data() : nullptr, q, r0, r1, r, opt, H, W);
      std::memcpy(&stage[mask_off], &r.valid[std::size_t(first)], std::size_t(count));
    }
    dev.copy_h2d(d_stage.as<std::uint8_t>(), stage, masked ? mask_off + std::size_t(count) : std::size_t(th * tw * 3), s);

    for (std::int64_t b0 = 0; b0 < count; b0 += batch_) {
      LC_NVTX_RANGE("batch ", r.stats.batches);
      const int nb = int(std::min<std::int64_t>(batch_, count - b0));
      WindowArgs a = base;
      a.tile_y0 = q.y0, a.tile_x0 = q.x0, a.tile_h = th, a.tile_w = tw;
      a.first = first + b0, a.count = nb;
      run_extract(kind, a, d_stage.as<std::uint8_t>(), windows_, s);
      net_->predict(windows_, nb, opt.want_probs ? d_probs.as<float>() + b0 * K : nullptr,
                    d_top.as<std::int32_t>() + b0);
      ++r.stats.batches;
      done += nb;
      if (opt.progress) opt.progress(done, cells);
    }
    ClassMapArgs ca;
    ca.n = count, ca.classes = K, ca.accumulate = t > 0;
    run_class_map(kind, ca, d_top.as<std::int32_t>(), masked ? d_stage.as<std::uint8_t>() + mask_off : nullptr, palette_,
                  d_counts.as<std::int64_t>(), nullptr, s);
    slots.release(t, d_top.as<std::int32_t>(), first, count, s);  // the tile's result, not waited for
    if (opt.want_probs) {
      float* dst = opt.probs_sink ? tile_probs.data() : &r.probs[std::size_t(first) * std::size_t(K)];
      dev.copy_d2h(dst, d_probs.as<float>(), std::size_t(count) * std::size_t(K) * 4, s);
      if (opt.probs_sink) {
        backend_.synchronize();
        opt.probs_sink(first, count, tile_probs.data());
      }
    }
  }
  slots.finish(r.cls);
  r.counts.assign(std::size_t(K) + 2, 0);
  dev.copy_d2h(r.counts.data(), d_counts.as<std::int64_t>(), r.counts.size() * 8, s);
  backend_.synchronize();
  r.pixels = block_areas(r, K, H, W);
  r.stats.forwards = cells;
  r.stats.tiles = tiles;
  return r;
}

}  // namespace lc

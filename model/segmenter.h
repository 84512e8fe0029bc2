// Land-cover segmentation of whole images with a trained classifier (`landcover segment`).
// Depends on: model/inference.h (LoadedModel, networks, InputImage), model/palette.h (palette),
// runtime/graph.h (Network::predict), kernels/image/image.h (extract_windows, flat_patches,
// class_map), runtime/nvtx.h.
//
// Two modes:
//
// pixel (the seed's method, done right): the image is resized to size x size (area averaging when
//   shrinking, bilinear when enlarging: lc::resize_rgb, the exact integer resize of the image op)
//   and every pixel is classified by its colour alone, as a flat model-input-sized patch of that
//   colour. Pixels of one colour give one forward pass (colours deduplicated on the host); the unique
//   colours are uploaded once, their patches generated on the device (flat_patches) and classified
//   in batches, and the classes (and probabilities) downloaded once. The map is size x size.
//   A flat patch is evaluated exactly on the network's reduced images (runtime/flat_geometry.h:
//   5x5 .. 10x10 instead of 64x64 .. 8x8 for the seed network, 4.6x fewer multiply-adds);
//   reduce_flat = false classifies the full-size patches instead (for comparison).
//   --nodata and alpha do not apply (the seed's method works on resized RGB only).
//
// window (what land-cover users need): map cell (i, j) of an output grid with stride S (map
//   ceil(H/S) x ceil(W/S)) is classified from the K x K window (K = the model input, 64) of the
//   full-resolution image centred on the middle pixel of the cell's S x S block; the window's centre
//   pixel sits at window row/column K/2. Border handling: reflect-101 (OpenCV BORDER_REFLECT_101,
//   edge pixel not repeated), folded as often as needed; see kernels/image/image.h for why.
//   Nodata: a cell is nodata when its centre pixel is (the source's mask: alpha == 0 when the file
//   has an alpha channel and use_alpha, a raster's nodata value or mask band; or its RGB equals
//   --nodata); nodata cells are still classified (the batch is
//   fixed work) but excluded from the map colours and the fractions.
//   Tiling: the map is processed in tiles of whole map rows, at most tile_windows windows per tile
//   (at least one row). For each tile the image rows its windows read (after reflection) are read
//   from the ImageSource (a GDAL raster read by blocks, model/raster.h: the whole scene is never in
//   host memory) into one host buffer, the tile's nodata mask after them, and uploaded with ONE host-to-device
//   copy; windows are cut on the device in batches of `batch` (extract_windows) and classified
//   (Network::predict); the class counts accumulate on the device (class_map); the tile's classes
//   come back with ONE device-to-host copy (plus one for the probabilities when asked for), and the
//   counts with one copy per image. Device memory per image, besides the network (weights + its
//   arena for `batch` windows), is bounded by
//     tile:    (rows_per_tile * S + K) * W * 3 bytes + cells_per_tile bytes (mask)
//     outputs: cells_per_tile * (4 + 4 * classes) bytes,  windows: batch * K * K * 3 * 4 bytes
//   with rows_per_tile = max(1, min(tile_windows / map_w, 64 MiB / (S * W * 3))): independent of
//   the image height (and of S), so any height runs in bounded memory (a 10980-wide image at stride 1 and the default tile of 16384
//   windows: about 2.3 MB tile + 0.7 MB outputs + 48 MB windows for batch 1024).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/image_source.h"
#include "model/inference.h"
#include "model/palette.h"
#include "runtime/device.h"

namespace lc {

enum class SegmentMode { pixel, window };

struct SegmentOptions {
  SegmentMode mode = SegmentMode::window;
  int size = 64;                  // pixel mode: the image is resized to size x size (1..4096)
  int stride = 8;                 // window mode: output grid step in pixels (1..4096)
  std::int64_t tile_windows = 0;  // window mode: windows per tile (0: 16 * batch); whole map rows
  bool use_alpha = true;          // window mode: alpha == 0 marks nodata
  bool has_nodata_rgb = false;    // window mode: this colour marks nodata
  Rgb nodata_rgb = {0, 0, 0};
  bool reduce_flat = true;        // pixel mode: reduced flat-patch evaluation (false: full patches)
  bool want_probs = false;        // keep the per-class probabilities
  // With want_probs: receives each tile's probabilities [cells][classes] for map cells
  // [first_cell, first_cell + cells) in order (streaming, bounded host memory). When not set, the
  // probabilities are kept in SegmentResult::probs.
  std::function<void(std::int64_t first_cell, std::int64_t cells, const float* probs)> probs_sink;
  // Progress: forward passes done of total (after every batch).
  std::function<void(std::int64_t done, std::int64_t total)> progress;
};

struct SegmentStats {
  std::int64_t forwards = 0;      // images classified (windows, or unique colours in pixel mode)
  std::int64_t tiles = 0, batches = 0;
  double seconds = 0;             // wall time of segment() (an ImageSource's tile reads included)
  TransferCounts transfers;       // host<->device copies during segment() (device counters)
  std::size_t device_bytes = 0;   // scratch the segmenter allocated for this image (network excluded)
};

struct SegmentResult {
  std::int64_t map_h = 0, map_w = 0;
  int stride = 0;                    // window mode: S; pixel mode: 0 (the map is stretched over the image)
  std::vector<std::int32_t> cls;     // [map_h * map_w] class per map cell
  std::vector<std::uint8_t> valid;   // empty: all valid; else [map_h * map_w], 0 = nodata
  std::vector<std::int64_t> counts;  // [classes + 2]: per class (valid cells), nodata, out of range
  // The same bins in image pixels (what the fractions are computed from). Window mode: each cell
  // stands for its block of the image, S x S, smaller in the last row and column (the map upsamples
  // by input(y, x) <- map(y / S, x / S)), so they sum to H * W. Pixel mode: the cells themselves
  // (pixels of the size x size resized image).
  std::vector<std::int64_t> pixels;
  std::vector<float> probs;          // [cells][classes] with want_probs and no probs_sink
  SegmentStats stats;
};

class Segmenter {
 public:
  // Builds an inference network of `batch` images (weights uploaded once) and uploads the palette.
  Segmenter(const LoadedModel& model, Backend& backend, int batch = 1024);
  ~Segmenter();
  Segmenter(const Segmenter&) = delete;
  Segmenter& operator=(const Segmenter&) = delete;

  // Throws lc::Error for bad options or an image the model cannot take (window mode needs a
  // square model input).
  SegmentResult segment(const InputImage& in, const SegmentOptions& opt);
  // The same from a source read tile by tile (window mode never holds the whole image; pixel mode
  // reads it whole). The source's own mask marks nodata (opt.use_alpha applies to InputImage only).
  SegmentResult segment(ImageSource& src, const SegmentOptions& opt);

  // The seed's way, for comparison: pixel mode without batching or deduplication, one forward
  // pass of batch 1 per pixel (upload that pixel's flat patch, predict, download its class), over
  // the first `limit` pixels (0: all) of the size x size resized image. Returns their classes
  // (row-major) and the wall time.
  struct NaiveRun {
    std::vector<std::int32_t> cls;
    double seconds = 0;
  };
  NaiveRun naive_pixel(const RgbImage& img, int size, std::int64_t limit);

  const LoadedModel& model() const { return model_; }
  int batch() const { return batch_; }
  Network& network() { return *net_; }

 private:
  SegmentResult segment_pixel(const InputImage& in, const SegmentOptions& opt);
  SegmentResult segment_window(ImageSource& src, const SegmentOptions& opt);
  template <class F>
  SegmentResult timed(F&& run);

  const LoadedModel& model_;
  Backend& backend_;
  int batch_;
  std::unique_ptr<Network> net_;
  std::unique_ptr<Network> net1_;  // batch 1, for naive_pixel (built on first use)
  std::uint8_t* palette_ = nullptr;  // device [classes][3]
  float* windows_ = nullptr;         // device [batch][K][K][3]
};

}  // namespace lc

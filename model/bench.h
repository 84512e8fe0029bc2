// Segmentation benchmark for `landcover bench` (tools/cmd_bench.cpp): times Segmenter on a random
// square image with an untrained model: window mode, and pixel mode with reduced and full-size flat
// patches. Kept in model/ so that tools/cmd_bench.cpp,
// which works on the kernel contracts, stays apart from the model layer's headers.
// Depends on: model/segmenter.h, model/inference.h (bench.cpp only), runtime/backend.h, runtime/layers.h.
#pragma once

#include <cstdint>

#include "runtime/backend.h"
#include "runtime/layers.h"

namespace lc {

struct SegmentBench {
  int side = 0, stride = 0, batch = 0;
  std::int64_t windows = 0;      // windows classified in the timed run
  double seconds = 0;            // Segmenter's own wall time of the timed run (decoding excluded)
  double windows_per_s = 0;      // windows / seconds
  double pixels_per_s = 0;       // image pixels (side * side) / seconds
  // Pixel mode on the same image resized to 64x64 (random colours: nearly 4096 unique).
  std::int64_t colours = 0;
  double colours_per_s = 0;       // reduced flat-patch evaluation (the default)
  double colours_per_s_full = 0;  // full-size patches
};

// One warm-up segment() of the image, then one timed run. `classes` random-initialised classes.
SegmentBench bench_segment(Backend& backend, const ModelSpec& spec, int side, int stride, int batch,
                           int classes = 10);

}  // namespace lc

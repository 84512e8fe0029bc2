// Benchmark library for `landcover bench` (tools/cmd_bench.cpp, which keeps only the command line
// and the output):
//  - time_op: the timing method for one op call (below), the same for every backend;
//  - bench_segment (and segment_json, its record in the results file): Segmenter on a random
//    square image with an untrained model: window mode, and pixel mode with reduced and full-size
//    flat patches;
//  - bench_device_json: the device record of the results file.
// The op cases (one table per op family), their validation, timing and roofline table are in
// model/bench_cases.h.
// Depends on: model/segmenter.h, model/inference.h (bench.cpp only), runtime/backend.h,
// runtime/graph_capture.h (bench.cpp only), runtime/layers.h, nlohmann/json.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/backend.h"
#include "runtime/layers.h"

namespace lc {

// How one op is timed (time_op), as GPU benchmarking practice has it:
//  - `warmup` calls first (library setup, algorithm choice, caches), then a synchronisation;
//  - each of `runs` timed runs: the L2 cache is flushed (a memset over twice its size, on the
//    stream, before the first event), then `calls` back-to-back calls between ONE pair of events;
//    on a GPU the calls are captured once into a CUDA Graph and the run is one graph launch, so
//    the host's enqueue work (descriptor creation, library dispatch) is not in the interval and
//    custom kernels and cuDNN are measured alike; where capture fails the calls are enqueued
//    between the events instead (method "events");
//  - per run, time / calls; reported: median, min and max over the runs.
// On cpu / sim (host devices) calls is 1, nothing is flushed and the events are host clocks.
// Within a run the op's inputs may stay in L2 from the previous call (as in a training step,
// where the previous layer has just written them); only the first call of a run is cold.
struct TimingPlan {
  int warmup = 10;
  int runs = 15;
  int calls = 20;  // per run, GPU only
  bool flush_l2 = true;
};
struct TimingStats {
  double median_ms = 0, min_ms = 0, max_ms = 0;  // per call
  int runs = 0, calls = 0;
  std::string method;  // "cuda-graph", "events" (GPU, capture failed), "host clock"
};
TimingStats time_op(Backend& backend, const std::function<void(stream_t)>& call, const TimingPlan& plan);

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

// The results file's record of one segmentation benchmark.
nlohmann::json segment_json(const SegmentBench& s);

// The device a backend's times were taken on, for the results file (GPU model, clocks, L2 and the
// timing method; {"name": "host"} for cpu / sim).
nlohmann::json bench_device_json(BackendKind k);

}  // namespace lc

// Segmentation benchmark (see model/bench.h).
// Depends on: model/bench.h, model/segmenter.h, model/inference.h.
#include "model/bench.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/inference.h"
#include "model/segmenter.h"
#include "runtime/graph_capture.h"

namespace lc {

TimingStats time_op(Backend& backend, const std::function<void(stream_t)>& call, const TimingPlan& plan) {
  LC_CHECK(plan.runs >= 1 && plan.calls >= 1 && plan.warmup >= 0, "bench: runs and calls must be >= 1");
  Device& dev = backend.device();
  const stream_t s = backend.stream();
  const bool gpu = dev.kind() == DeviceKind::cuda;
  for (int i = 0; i < plan.warmup; ++i) call(s);
  backend.synchronize();
  TimingStats st;
  st.runs = plan.runs, st.calls = gpu ? plan.calls : 1;
  st.method = gpu ? "cuda-graph" : "host clock";
  CapturedGraph graph;
  if (gpu) {
    try {
      graph.capture(s, [&] {
        for (int i = 0; i < st.calls; ++i) call(s);
      });
    } catch (const Error&) {
      st.method = "events";  // some library call refused capture: enqueue the calls instead
    }
  }
  const std::size_t flush_bytes = gpu && plan.flush_l2 ? 2 * std::max<std::size_t>(dev.info().l2_bytes, 8u << 20) : 0;
  void* flush = flush_bytes ? dev.alloc(flush_bytes) : nullptr;
  CUevent_st* e0 = dev.create_event();
  CUevent_st* e1 = dev.create_event();
  std::vector<double> t;
  for (int r = 0; r < plan.runs; ++r) {
    if (flush) dev.memset(flush, r & 0xFF, flush_bytes, s);
    dev.record_event(e0, s);
    if (graph.ready())
      graph.launch(s);
    else
      for (int i = 0; i < st.calls; ++i) call(s);
    dev.record_event(e1, s);
    t.push_back(double(dev.elapsed_ms(e0, e1)) / st.calls);
  }
  dev.destroy_event(e0);
  dev.destroy_event(e1);
  dev.free(flush);
  std::sort(t.begin(), t.end());
  const std::size_t m = t.size() / 2;
  st.median_ms = t.size() % 2 ? t[m] : 0.5 * (t[m - 1] + t[m]);
  st.min_ms = t.front(), st.max_ms = t.back();
  return st;
}

SegmentBench bench_segment(Backend& backend, const ModelSpec& spec, int side, int stride, int batch, int classes) {
  LC_CHECK(side >= 2 && stride >= 1 && batch >= 1 && classes >= 1, "bench: bad segmentation sizes (image ", side,
           ", stride ", stride, ", batch ", batch, ")");
  std::vector<std::string> names;
  for (int i = 0; i < classes; ++i) names.push_back("class" + std::to_string(i));
  const LoadedModel model = make_untrained_model(spec, names, 7);
  Segmenter seg(model, backend, batch);
  InputImage in;
  in.image.width = in.image.height = side;
  in.image.rgb.resize(std::size_t(side) * std::size_t(side) * 3);
  std::mt19937 rng(3);
  for (auto& v : in.image.rgb) v = std::uint8_t(rng() & 255u);
  SegmentOptions opt;
  opt.mode = SegmentMode::window;
  opt.stride = stride;
  seg.segment(in, opt);  // warm-up: library setup, first touch of the arena
  const SegmentResult r = seg.segment(in, opt);
  SegmentBench b;
  b.side = side, b.stride = stride, b.batch = batch, b.windows = r.stats.forwards, b.seconds = r.stats.seconds;
  b.windows_per_s = r.stats.seconds > 0 ? double(r.stats.forwards) / r.stats.seconds : 0;
  b.pixels_per_s = r.stats.seconds > 0 ? double(side) * side / r.stats.seconds : 0;
  opt.mode = SegmentMode::pixel;
  for (const bool reduce : {true, false}) {
    opt.reduce_flat = reduce;
    seg.segment(in, opt);  // warm-up
    const SegmentResult p = seg.segment(in, opt);
    b.colours = p.stats.forwards;
    (reduce ? b.colours_per_s : b.colours_per_s_full) =
        p.stats.seconds > 0 ? double(p.stats.forwards) / p.stats.seconds : 0;
  }
  return b;
}

nlohmann::json segment_json(const SegmentBench& s) {
  return {{"image_side", s.side},
          {"stride", s.stride},
          {"batch", s.batch},
          {"windows", s.windows},
          {"seconds", s.seconds},
          {"windows_per_s", s.windows_per_s},
          {"pixels_per_s", s.pixels_per_s},
          {"pixel_mode_colours", s.colours},
          {"colours_per_s", s.colours_per_s},
          {"colours_per_s_full_patches", s.colours_per_s_full}};
}

nlohmann::json bench_device_json(BackendKind k) {
  if (k != BackendKind::cuda && k != BackendKind::cudnn) return {{"name", "host"}};
  const DeviceInfo d = Backend(k).device().info();
  return {{"name", d.name},
          {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
          {"sm_count", d.sm_count},
          {"peak_sm_clock_mhz", d.clock_khz / 1000},
          {"peak_mem_clock_mhz", d.mem_clock_khz / 1000},
          {"l2_bytes", d.l2_bytes},
          {"global_bytes", d.global_bytes},
          {"timing", "per call: median/min/max over runs; L2 flushed before each run; calls per run in one CUDA Graph"}};
}

}  // namespace lc

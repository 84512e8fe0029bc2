// Segmentation benchmark (see model/bench.h).
// Depends on: model/bench.h, model/segmenter.h, model/inference.h.
#include "model/bench.h"

#include <random>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/inference.h"
#include "model/segmenter.h"

namespace lc {

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

}  // namespace lc

// `landcover bench`: per-op benchmarks and a roofline model of the seed network.
//
//   landcover bench [--backend cuda,cudnn,cpu,sim] [--batch 16,1024] [--ops conv2d,dense]
//                   [--json FILE] [--repeats N] [--calls N] [--warmup N] [--roofline [--peak-tflops T]
//                   [--peak-tbps B] [--steps-per-epoch S]] [--no-segment] [--conv-version 1,2,3]
//
// 1. Validation: every op of the model (forward and backward per layer, softmax-CE, Adam) runs at a
//    small batch on the backend and on lc::ref with the same random inputs; the outputs are compared
//    (tolerances per op in model/bench_cases.cpp). Any mismatch fails the command before anything is
//    timed; otherwise it prints "all results match, starting benchmarks".
// 2. Timing at the model's real shapes for each --batch (16: a training step; 1024: a segmentation
//    batch) by model/bench.h's time_op, with GFLOP/s, GB/s and, on a GPU, % of the roofline bound
//    (peak from --peak-tflops / --peak-tbps) and the ratio to cudnn on the same shapes. `sim` (the
//    SIMT emulator) is validated only and printed as "correctness only": its times mean nothing.
//    `cpu` times are CPU times and are labelled so.
// 3. Segmentation: windows/s and image pixels/s of Segmenter (window mode) on a random image with
//    an untrained model (speed does not depend on the weights).
// 4. --roofline: per op FLOPs, bytes, arithmetic intensity and the lower bound on its time on the
//    chosen GPU (H100 SXM defaults: 67 TFLOP/s FP32, 3.35 TB/s), sums per training step and per
//    epoch, and the measured time next to it when a GPU backend is usable. Needs no GPU.
// The op cases, their FLOP and byte counts (conventions in model/bench_cases.h), validation, timing
// and the roofline table live in model/bench_cases.h; this file has the command line and output.
//
// Depends on: model/bench_cases.h, model/bench.h (segmentation timing), model/model_spec.h,
// model/output_set.h, runtime/backend.h, runtime/device.h, nlohmann/json, tools/command.h.
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "kernels/conv2d/conv2d.h"
#include "model/bench.h"
#include "model/bench_cases.h"
#include "model/model_spec.h"
#include "model/output_set.h"
#include "runtime/backend.h"
#include "runtime/device.h"
#include "runtime/layers.h"
#include "tools/command.h"

namespace lc::tools {
namespace {

using bench::find_timed;
using bench::OpCase;
using bench::Peak;
using bench::selected;
using bench::Timed;

struct Options {
  std::string backends, batches = "16,1024", ops, json, conv_versions;
  int warmup = -1, repeats = -1, calls = 20, validate_batch = 2;
  bool roofline = false, no_segment = false;
  Peak peak;
  int steps_per_epoch = 1350;
  int seg_side = 0, seg_stride = 0, seg_batch = 0;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) out.push_back(x);
  return out;
}

// Comma-separated integers in lo..hi, for option `opt`.
std::vector<int> parse_ints(const std::string& s, const char* opt, int lo, int hi, const char* what) {
  std::vector<int> out;
  for (const std::string& b : split(s)) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(b, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LC_CHECK(used == b.size() && v >= lo && v <= hi, "bench: ", opt, " values must be ", what, ", got '", b, "'");
    out.push_back(v);
  }
  return out;
}

bool is_gpu(BackendKind k) { return k == BackendKind::cuda || k == BackendKind::cudnn; }

std::string today() {
  const std::time_t t = std::time(nullptr);
  char b[32];
  std::strftime(b, sizeof b, "%Y%m%d-%H%M%S", std::localtime(&t));
  return b;
}

void write_json(const std::string& path, const nlohmann::json& j) {
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream f(path);
  LC_CHECK(f.good(), "bench: cannot write ", path);
  f << j.dump(2) << "\n";
  LC_CHECK(f.good(), "bench: cannot write ", path);
  std::printf("results written to %s\n", path.c_str());
}

void run_bench(const Options& o) {
  const ModelSpec spec = parse_model_json(default_model_json(), "built-in model");
  const std::vector<LayerInfo> layers = infer_layers(spec, 10);
  const std::int64_t params = trainable_parameter_count(layers);
  const std::vector<int> batches = parse_ints(o.batches, "--batch", 1, 1 << 30, "positive integers");
  const std::vector<int> versions =
      parse_ints(o.conv_versions, "--conv-version", 0, kConv2dMaxVersion, "conv2d versions 0..3");
  LC_CHECK(!batches.empty(), "bench: --batch is empty");
  const std::vector<std::string> ops = split(o.ops);
  for (const std::string& op : ops) {
    bool any = false;
    for (const OpCase& c : bench::model_cases(layers, batches.front(), params, versions))
      any = any || selected(c, {op});
    LC_CHECK(any, "bench: --ops ", op, " matches no op (give an op function, a layer type or part of a case name)");
  }
  // The results file is checked and locked before any work.
  OutputSet json_out;
  if (!o.json.empty()) {
    json_out.add(o.json, "--json");
    json_out.open();
  }
  std::printf("model %s: %zu layers, %lld trainable parameters, 10 classes\n", spec.name.c_str(), layers.size(),
              static_cast<long long>(params));

  // Backends: the asked ones (must be usable), or every usable one of cuda, cudnn, cpu.
  std::vector<BackendKind> kinds;
  if (o.backends.empty()) {
    for (BackendKind k : {BackendKind::cuda, BackendKind::cudnn, BackendKind::cpu}) {
      const BackendStatus st = backend_status(k);
      if (st.usable)
        kinds.push_back(k);
      else
        std::printf("backend %s skipped: %s\n", backend_name(k), st.why.c_str());
    }
    // --roofline without an explicit backend times GPUs only (CPU times mean nothing to it).
    if (o.roofline) std::erase_if(kinds, [](BackendKind k) { return !is_gpu(k); });
  } else {
    for (const std::string& b : split(o.backends)) kinds.push_back(parse_backend(b));
  }

  // 1. Validation.
  std::vector<std::unique_ptr<Backend>> bes;
  for (BackendKind k : kinds) bes.push_back(std::make_unique<Backend>(k));
  std::vector<std::string> bad;
  for (auto& be : bes) {
    const int vb = be->kind() == BackendKind::sim ? 1 : o.validate_batch;
    std::printf("validating %s against the reference at batch %d\n", be->name(), vb);
    auto b = bench::validate(*be, layers, vb, params, ops, versions);
    bad.insert(bad.end(), b.begin(), b.end());
  }
  if (!bad.empty()) {
    for (const std::string& s : bad) std::fprintf(stderr, "mismatch: %s\n", s.c_str());
    LC_FAIL("bench: ", bad.size(), " result(s) differ from the reference; nothing timed");
  }
  if (!bes.empty()) std::printf("all results match, starting benchmarks\n");

  // 2. Timing.
  std::map<BackendKind, std::vector<Timed>> timed;
  std::map<BackendKind, std::vector<SegmentBench>> segs;
  for (auto& be : bes) {
    const BackendKind k = be->kind();
    if (k == BackendKind::sim) {
      std::printf("\nbackend sim: correctness only (the SIMT emulator's times say nothing about GPU speed)\n");
      continue;
    }
    const bool gpu = is_gpu(k);
    for (int n : batches) {
      TimingPlan plan;
      plan.warmup = o.warmup >= 0 ? o.warmup : (gpu ? 10 : 1);
      plan.runs = o.repeats > 0 ? o.repeats : (gpu ? 15 : (n >= 256 ? 3 : 9));
      plan.calls = o.calls;
      std::printf("\n%s timings, backend %s, batch %d (per call: median, min and max of %d runs%s, after %d warm-up)\n",
                  gpu ? "GPU" : "CPU (not GPU speed)", be->name(), n, plan.runs,
                  gpu ? (" of " + std::to_string(plan.calls) + " calls each, L2 flushed between runs").c_str() : "",
                  plan.warmup);
      std::printf("%-28s %10s %10s %10s %10s %10s %s\n", "op", "ms", "min", "max", "GFLOP/s", "GB/s",
                  gpu ? "  % bound   vs cudnn" : "");
      std::fflush(stdout);
      auto t = bench::time_cases(*be, layers, n, params, ops, plan, versions);
      for (const Timed& x : t) {
        std::printf("%-28s %10.4f %10.4f %10.4f %10.2f %10.2f%s", x.name.c_str(), x.ms, x.stats.min_ms,
                    x.stats.max_ms, x.flops / (x.ms * 1e6), x.bytes / (x.ms * 1e6),
                    x.stats.method == "events" ? " (not captured)" : "");
        if (gpu) {
          std::printf("  %6.1f%%", 100.0 * o.peak.bound_ms(x.flops, x.bytes) / x.ms);
          if (k == BackendKind::cuda && timed.count(BackendKind::cudnn)) {
            if (const Timed* c = find_timed(timed[BackendKind::cudnn], x.name, n))
              std::printf("  %6.2fx", x.ms / c->ms);
          }
        }
        std::printf("\n");
      }
      timed[k].insert(timed[k].end(), t.begin(), t.end());
    }
    if (!o.no_segment && !o.roofline) {
      const int side = o.seg_side ? o.seg_side : (gpu ? 1024 : 128);
      const int stride = o.seg_stride ? o.seg_stride : (gpu ? 4 : 8);
      const int sb = o.seg_batch ? o.seg_batch : (gpu ? 1024 : 256);
      const SegmentBench s = bench_segment(*be, spec, side, stride, sb);
      std::printf("\nsegmentation (%s, backend %s): %dx%d image, stride %d, batch %d: %lld windows in %.3f s = "
                  "%.1f windows/s, %.0f image pixels/s\n",
                  gpu ? "GPU" : "CPU, not GPU speed", be->name(), side, side, stride, sb,
                  static_cast<long long>(s.windows), s.seconds, s.windows_per_s, s.pixels_per_s);
      std::printf("pixel mode, %lld colours: %.1f colours/s with reduced flat patches, %.1f with full-size patches "
                  "(%.2fx)\n",
                  static_cast<long long>(s.colours), s.colours_per_s, s.colours_per_s_full,
                  s.colours_per_s_full > 0 ? s.colours_per_s / s.colours_per_s_full : 0.0);
      segs[k].push_back(s);
    }
  }
  // cudnn ratios when cudnn was timed after cuda (kinds order is cuda, cudnn): print them now.
  if (timed.count(BackendKind::cuda) && timed.count(BackendKind::cudnn)) {
    std::printf("\nratio cuda / cudnn (time; < 1: ours faster), same shapes:\n");
    for (const Timed& x : timed[BackendKind::cuda])
      if (const Timed* c = find_timed(timed[BackendKind::cudnn], x.name, x.batch))
        std::printf("  %-28s batch %-5d %6.2f\n", x.name.c_str(), x.batch, x.ms / c->ms);
  }

  // 3. Roofline.
  if (o.roofline) {
    std::vector<Timed> meas;
    std::string on;
    for (BackendKind k : {BackendKind::cuda, BackendKind::cudnn})
      if (timed.count(k) && meas.empty()) meas = timed[k], on = backend_name(k);
    bench::print_roofline(layers, params, batches, ops, o.peak, o.steps_per_epoch, meas, on);
  }

  // 4. JSON.
  auto to_json = [&](BackendKind k) {
    const bool with_cudnn = k == BackendKind::cuda && timed.count(BackendKind::cudnn);
    return bench::results_json(k, timed[k], with_cudnn ? &timed[BackendKind::cudnn] : nullptr, segs[k], o.peak);
  };
  if (!o.json.empty()) {
    nlohmann::json all = nlohmann::json::array();
    for (auto& be : bes) all.push_back(to_json(be->kind()));
    json_out.replace(o.json, all.dump(2) + "\n");
    std::printf("results written to %s\n", o.json.c_str());
  } else {
    for (auto& be : bes)
      if (timed.count(be->kind()))
        write_json("profiling/results/bench_" + std::string(be->name()) + "_" + today() + ".json",
                   to_json(be->kind()));
  }
}

void bench_setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("bench", "Validate every op against the reference, time it at the model's shapes, "
                                          "roofline bounds");
  cmd->add_option("--backend", o->backends,
                  "Comma-separated backends (default: every usable one of cuda, cudnn, cpu; sim: correctness only)");
  cmd->add_option("--batch", o->batches, "Comma-separated batch sizes")->capture_default_str();
  cmd->add_option("--ops", o->ops, "Comma-separated filter: op function, layer type or part of a case name");
  cmd->add_option("--conv-version", o->conv_versions,
                  "Comma-separated conv2d kernel versions to validate and time each (0 auto, 1 direct, 2 implicit "
                  "GEMM, 3 small-channel; sim/cuda run them, other backends ignore the version)");
  cmd->add_option("--json", o->json, "Results file (default: profiling/results/bench_<backend>_<date>.json)");
  cmd->add_option("--warmup", o->warmup, "Warm-up calls per op (default: 10 on a GPU, 1 on cpu)");
  cmd->add_option("--repeats", o->repeats, "Timed runs per op (default: 15 on a GPU; cpu 9, 3 at batch >= 256)");
  cmd->add_option("--calls", o->calls, "GPU: calls per timed run (one CUDA Graph)")->capture_default_str();
  cmd->add_option("--validate-batch", o->validate_batch, "Batch of the reference comparison (sim uses 1)")
      ->capture_default_str();
  cmd->add_flag("--roofline", o->roofline, "Print FLOPs, bytes, intensity and the lower bound per op");
  cmd->add_option("--peak-tflops", o->peak.tflops, "Roofline peak FP32 TFLOP/s (H100 SXM)")->capture_default_str();
  cmd->add_option("--peak-tbps", o->peak.tbps, "Roofline peak memory TB/s (H100 SXM)")->capture_default_str();
  cmd->add_option("--steps-per-epoch", o->steps_per_epoch, "Roofline steps per epoch (EuroSAT at batch 16)")
      ->capture_default_str();
  cmd->add_flag("--no-segment", o->no_segment, "Skip the segmentation benchmark");
  cmd->add_option("--seg-image", o->seg_side, "Segmentation: side of the random square image (GPU 1024, cpu 128)");
  cmd->add_option("--seg-stride", o->seg_stride, "Segmentation: window stride (GPU 4, cpu 8)");
  cmd->add_option("--seg-batch", o->seg_batch, "Segmentation: windows per batch (GPU 1024, cpu 256)");
  cmd->callback([o] {
    LC_CHECK(o->peak.tflops > 0 && o->peak.tbps > 0, "bench: peaks must be positive");
    LC_CHECK(o->steps_per_epoch > 0, "bench: --steps-per-epoch must be positive");
    run_bench(*o);
  });
}

}  // namespace
}  // namespace lc::tools

LC_REGISTER_COMMAND(bench, lc::tools::bench_setup);

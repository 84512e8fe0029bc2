// Validation, timing and the roofline table over the op cases (see model/bench_cases.h).
// Depends on: model/bench_cases.h, model/bench.h, runtime/backend.h, runtime/device.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "kernels/adam/adam.h"
#include "kernels/common/check.h"
#include "model/bench_cases.h"
#include "runtime/device.h"

namespace lc::bench {
namespace {


struct HostBufs {
  std::vector<std::vector<std::uint64_t>> store;  // 8-byte aligned
  Ptrs ptrs;
};

HostBufs make_inputs(const OpCase& c, std::uint64_t seed) {
  HostBufs h;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uni(-1.f, 1.f), pos(0.5f, 2.f);
  for (const Buf& b : c.bufs) {
    h.store.emplace_back((b.bytes + 7) / 8 + 1, 0);
    void* p = h.store.back().data();
    h.ptrs.push_back(p);
    const std::size_t nf = b.bytes / 4;
    switch (b.fill) {
      case Fill::uniform:
        for (std::size_t i = 0; i < nf; ++i) static_cast<float*>(p)[i] = uni(rng);
        break;
      case Fill::positive:
        for (std::size_t i = 0; i < nf; ++i) static_cast<float*>(p)[i] = pos(rng);
        break;
      case Fill::labels:
        for (std::size_t i = 0; i < nf; ++i) static_cast<std::int32_t*>(p)[i] = std::int32_t(rng() % std::uint64_t(b.classes));
        break;
      case Fill::argmax:
        for (std::size_t i = 0; i < b.bytes; ++i) static_cast<std::uint8_t*>(p)[i] = std::uint8_t(rng() % 4);
        break;
      case Fill::zero:
        break;
      case Fill::step:
        *static_cast<std::int64_t*>(p) = 5;
        break;
      case Fill::adam_state: {
        AdamState st;
        st.step = 3;
        std::memcpy(p, &st, sizeof st);
        break;
      }
    }
  }
  if (c.prepare) c.prepare(h.ptrs);
  return h;
}

// Device copies of the host buffers plus a workspace, freed on destruction.
struct DevBufs {
  Device& dev;
  Ptrs ptrs;
  void* ws = nullptr;
  std::size_t ws_bytes = 0;
  DevBufs(Device& d, const OpCase& c, const HostBufs& h, std::size_t wsb, stream_t s) : dev(d) {
    for (std::size_t i = 0; i < c.bufs.size(); ++i) {
      void* p = dev.alloc(std::max<std::size_t>(c.bufs[i].bytes, 8));
      dev.copy_h2d(p, h.ptrs[i], c.bufs[i].bytes, s);
      ptrs.push_back(p);
    }
    ws_bytes = wsb;
    if (wsb) ws = dev.alloc(wsb);
    dev.synchronize(s);
  }
  ~DevBufs() {
    for (void* p : ptrs) dev.free(p);
    if (ws) dev.free(ws);
  }
  DevBufs(const DevBufs&) = delete;
  DevBufs& operator=(const DevBufs&) = delete;
};

// Compares the outputs; returns "" or a description of the first mismatch.
std::string compare(const OpCase& c, const Ptrs& got, const Ptrs& want) {
  for (std::size_t i = 0; i < c.bufs.size(); ++i) {
    const Buf& b = c.bufs[i];
    if (b.role == Role::in || b.type == Type::raw) continue;
    if (b.type == Type::f32) {
      const float* g = static_cast<const float*>(got[i]);
      const float* w = static_cast<const float*>(want[i]);
      const std::size_t nf = b.bytes / 4;
      double scale = 1;
      for (std::size_t j = 0; j < nf; ++j) scale = std::max(scale, double(std::fabs(w[j])));
      for (std::size_t j = 0; j < nf; ++j) {
        const double e = w[j], a = g[j];
        if (!(std::fabs(a - e) <= c.tol.atol * scale + c.tol.rtol * std::fabs(e)))
          return detail::concat(b.name, "[", j, "] = ", a, ", reference ", e, " (atol ", c.tol.atol, " x scale ",
                                scale, ", rtol ", c.tol.rtol, ")");
      }
    } else {
      if (std::memcmp(got[i], want[i], b.bytes) != 0) {
        const std::size_t es = b.type == Type::i32 ? 4 : 1;
        for (std::size_t j = 0; j < b.bytes / es; ++j) {
          long a = es == 4 ? static_cast<const std::int32_t*>(got[i])[j] : static_cast<const std::uint8_t*>(got[i])[j];
          long e = es == 4 ? static_cast<const std::int32_t*>(want[i])[j] : static_cast<const std::uint8_t*>(want[i])[j];
          if (a != e) return detail::concat(b.name, "[", j, "] = ", a, ", reference ", e, " (exact)");
        }
      }
    }
  }
  return "";
}

}  // namespace

std::string validate_case(Backend& be, const OpCase& c, std::uint64_t seed) {
  HostBufs ref = make_inputs(c, seed);
  HostBufs got = make_inputs(c, seed);
  std::vector<std::uint64_t> ref_ws(c.ws ? (c.ws(Impl::ref, be.kind()) + 7) / 8 : 0);
  c.run(Impl::ref, be.kind(), ref.ptrs, Workspace{ref_ws.data(), ref_ws.size() * 8}, nullptr);
  {
    DevBufs d(be.device(), c, got, c.ws ? c.ws(Impl::backend, be.kind()) : 0, be.stream());
    c.run(Impl::backend, be.kind(), d.ptrs, Workspace{d.ws, d.ws_bytes}, be.stream());
    for (std::size_t i = 0; i < c.bufs.size(); ++i)
      if (c.bufs[i].role != Role::in) be.device().copy_d2h(got.ptrs[i], d.ptrs[i], c.bufs[i].bytes, be.stream());
    be.synchronize();
  }
  return compare(c, got.ptrs, ref.ptrs);
}

std::vector<std::string> validate(Backend& be, const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                                  const std::vector<std::string>& ops, const std::vector<int>& conv_versions) {
  std::vector<std::string> bad;
  const std::vector<OpCase> cases = model_cases(layers, n, params, conv_versions);
  std::uint64_t seed = 1000;
  for (const OpCase& c : cases) {
    ++seed;
    if (!selected(c, ops)) continue;
    const std::string why = validate_case(be, c, seed);
    std::printf("  %-28s batch %-3d %s\n", c.name.c_str(), n, why.empty() ? "ok" : "MISMATCH");
    std::fflush(stdout);
    if (!why.empty()) bad.push_back(c.name + " [" + be.name() + "]: " + why);
  }
  return bad;
}

std::vector<Timed> time_cases(Backend& be, const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                              const std::vector<std::string>& ops, const TimingPlan& plan,
                              const std::vector<int>& conv_versions) {
  std::vector<Timed> out;
  std::uint64_t seed = 5000;
  for (const OpCase& c : model_cases(layers, n, params, conv_versions)) {
    ++seed;
    if (!selected(c, ops)) continue;
    HostBufs h = make_inputs(c, seed);
    DevBufs d(be.device(), c, h, c.ws ? c.ws(Impl::backend, be.kind()) : 0, be.stream());
    const Workspace w{d.ws, d.ws_bytes};
    const TimingStats st = time_op(be, [&](stream_t s) { c.run(Impl::backend, be.kind(), d.ptrs, w, s); }, plan);
    out.push_back(Timed{c.name, c.op, n, c.train, c.infer, c.flops, c.bytes, st.median_ms, st});
  }
  return out;
}

nlohmann::json timed_json(const Timed& x, const Peak& pk) {
  return {{"name", x.name},
          {"op", x.op},
          {"batch", x.batch},
          {"ms", x.ms},
          {"min_ms", x.stats.min_ms},
          {"max_ms", x.stats.max_ms},
          {"runs", x.stats.runs},
          {"calls_per_run", x.stats.calls},
          {"method", x.stats.method},
          {"flops", x.flops},
          {"bytes", x.bytes},
          {"gflops", x.flops / (x.ms * 1e6)},
          {"gbps", x.bytes / (x.ms * 1e6)},
          {"bound_ms", pk.bound_ms(x.flops, x.bytes)}};
}

nlohmann::json results_json(BackendKind k, const std::vector<Timed>& timed, const std::vector<Timed>* cudnn,
                            const std::vector<SegmentBench>& segs, const Peak& pk) {
  const bool gpu = k == BackendKind::cuda || k == BackendKind::cudnn;
  nlohmann::json j;
  j["backend"] = backend_name(k);
  j["timing_meaning"] = k == BackendKind::sim ? "correctness only" : (gpu ? "GPU" : "CPU (not GPU speed)");
  j["validated"] = true;
  j["peak_tflops"] = pk.tflops, j["peak_tbps"] = pk.tbps;
  j["device"] = bench_device_json(k);
  j["ops"] = nlohmann::json::array();
  for (const Timed& x : timed) {
    nlohmann::json r = timed_json(x, pk);
    if (const Timed* c = cudnn ? find_timed(*cudnn, x.name, x.batch) : nullptr) r["ratio_to_cudnn"] = x.ms / c->ms;
    j["ops"].push_back(r);
  }
  j["segmentation"] = nlohmann::json::array();
  for (const SegmentBench& s : segs) j["segmentation"].push_back(segment_json(s));
  return j;
}

double Peak::bound_ms(double flops, double bytes) const {
  return std::max(flops / (tflops * 1e12), bytes / (tbps * 1e12)) * 1e3;
}

const Timed* find_timed(const std::vector<Timed>& t, const std::string& name, int batch) {
  for (const Timed& x : t)
    if (x.name == name && x.batch == batch) return &x;
  return nullptr;
}

void print_roofline(const std::vector<LayerInfo>& layers, std::int64_t params, const std::vector<int>& batches,
                    const std::vector<std::string>& ops, const Peak& pk, int steps_per_epoch,
                    const std::vector<Timed>& measured, const std::string& measured_on) {
  std::printf("\nroofline: lower bound = max(FLOPs / %.3g TFLOP/s, bytes / %.3g TB/s)%s\n", pk.tflops, pk.tbps,
              measured_on.empty() ? " (no GPU timing: none usable or none asked for)"
                                  : (" ; measured on " + measured_on).c_str());
  for (int n : batches) {
    std::printf("\nbatch %d\n%-28s %12s %12s %8s %10s %6s %s\n", n, "op", "MFLOP", "MB", "FLOP/B", "bound us",
                "bound", measured_on.empty() ? "" : "measured us   % of bound");
    double step_ms = 0, infer_ms = 0, step_meas = 0, infer_meas = 0;
    bool all_meas_train = !measured_on.empty(), all_meas_inf = !measured_on.empty();
    for (const OpCase& c : model_cases(layers, n, params)) {
      if (!selected(c, ops)) continue;
      const double b = pk.bound_ms(c.flops, c.bytes);
      const bool compute = c.flops / (pk.tflops * 1e12) >= c.bytes / (pk.tbps * 1e12);
      const Timed* m = find_timed(measured, c.name, n);
      char meas[64] = "";
      if (m) std::snprintf(meas, sizeof meas, "%11.2f   %5.1f%%", m->ms * 1e3, 100.0 * b / m->ms);
      std::printf("%-28s %12.3f %12.3f %8.2f %10.3f %6s %s\n", c.name.c_str(), c.flops / 1e6, c.bytes / 1e6,
                  c.bytes > 0 ? c.flops / c.bytes : 0.0, b * 1e3, compute ? "FLOP" : "mem", meas);
      if (c.train) step_ms += b, step_meas += m ? m->ms : 0, all_meas_train &= m != nullptr;
      if (c.infer) infer_ms += b, infer_meas += m ? m->ms : 0, all_meas_inf &= m != nullptr;
    }
    if (step_ms > 0) {
      std::printf("training step (batch %d, every op once, no launch gaps): bound %.3f us", n, step_ms * 1e3);
      if (all_meas_train) std::printf(", measured sum %.3f us", step_meas * 1e3);
      std::printf("\n");
      if (n == 16) {  // --steps-per-epoch is EuroSAT's count at the model's training batch, 16
        std::printf("per epoch (%d steps): bound %.3f ms", steps_per_epoch, step_ms * steps_per_epoch);
        if (all_meas_train) std::printf(", measured sum %.3f ms", step_meas * steps_per_epoch);
        std::printf("\n");
      }
    }
    if (infer_ms > 0) {
      std::printf("inference forward (batch %d): bound %.3f us = at most %.0f windows/s", n, infer_ms * 1e3,
                  n / (infer_ms * 1e-3));
      if (all_meas_inf) std::printf(", measured sum %.3f us = %.0f windows/s", infer_meas * 1e3, n / (infer_meas * 1e-3));
      std::printf("\n");
    }
  }
}

}  // namespace lc::bench

// `landcover bench`: per-op benchmarks and a roofline model of the seed network.
//
//   landcover bench [--backend cuda,cudnn,cpu,sim] [--batch 16,1024] [--ops conv2d,dense]
//                   [--json FILE] [--repeats N] [--calls N] [--warmup N] [--roofline [--peak-tflops T]
//                   [--peak-tbps B] [--steps-per-epoch S]] [--no-segment]
//
// 1. Validation: every op of the model (forward and backward per layer, softmax-CE, Adam) runs at a
//    small batch on the backend and on lc::ref with the same random inputs; the outputs are compared
//    (tolerances per op below). Any mismatch fails the command before anything is timed; otherwise
//    it prints "all results match, starting benchmarks".
// 2. Timing at the model's real shapes for each --batch (16: a training step; 1024: a segmentation
//    batch) by model/bench.h's time_op (warm-up; runs of many calls between one event pair, on a
//    GPU one CUDA Graph per run, L2 flushed between runs; median, min and max per call), with
//    GFLOP/s, GB/s and, on a GPU,
//    % of the roofline bound (peak from --peak-tflops / --peak-tbps) and the ratio to cudnn on the
//    same shapes. `sim` (the SIMT emulator) is validated only and printed as "correctness only":
//    its times mean nothing. `cpu` times are CPU times and are labelled so.
// 3. Segmentation: windows/s and image pixels/s of Segmenter (window mode) on a random image with
//    an untrained model (speed does not depend on the weights).
// 4. --roofline: per op FLOPs, bytes, arithmetic intensity and the lower bound on its time on the
//    chosen GPU (H100 SXM defaults: 67 TFLOP/s FP32, 3.35 TB/s), sums per training step and per
//    epoch, and the measured time next to it when a GPU backend is usable. Needs no GPU.
//
// Counting conventions (one place, used by the roofline and the GFLOP/s / GB/s columns):
//   FLOPs: a multiply-add is 2 FLOPs. conv forward, backward-data and backward-weights each
//     2*N*H*W*K*R*S*C (stride 1, same padding; bias and fused ELU epilogues not counted); dense
//     forward 2*N*in*out, backward 4*N*in*out (dx and dw); batch norm training forward 7 per element
//     (sum, square+sum, subtract, scale, gamma, beta), inference 2 per element (folded scale/shift),
//     backward 10 per element; ELU backward 2 per element; max-pool forward 3 compares per output,
//     backward 0; dropout 1 per element (the Philox hash is not counted); softmax-CE 6 per logit,
//     softmax-predict 4 per logit; Adam 12 per parameter.
//   Bytes: the minimal compulsory traffic: every input (activations, weights, saved statistics,
//     argmax bytes, labels) read once and every output written once, FP32 = 4 bytes; workspaces,
//     re-reads (e.g. the second pass of batch norm), im2col buffers and caches are NOT counted, so
//     the bound is a true lower bound.
//   Lower bound on time: max(FLOPs / peak FLOP/s, bytes / peak bytes/s).
//
// Depends on: every op contract under kernels/*/ (lc::ref and the backends via LC_DISPATCH),
// runtime/backend.h, runtime/device.h, runtime/layers.h, model/model_spec.h,
// model/bench.h (segmentation timing), nlohmann/json, tools/command.h.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/adam/adam.h"
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/common/check.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/dense/dense.h"
#include "kernels/dropout/dropout.h"
#include "kernels/elu/elu.h"
#include "kernels/maxpool/maxpool.h"
#include "kernels/softmax_ce/softmax_ce.h"
#include "model/bench.h"
#include "model/model_spec.h"
#include "model/output_set.h"
#include "runtime/backend.h"
#include "runtime/device.h"
#include "runtime/layers.h"
#include "tools/command.h"

namespace lc::tools {
namespace {

// ---- Op cases ---------------------------------------------------------------------------------

enum class Impl { ref, backend };
enum class Fill { uniform, positive, labels, argmax, zero, step, adam_state };
enum class Role { in, out, inout };
enum class Type { f32, i32, u8, raw };

struct Buf {
  std::string name;
  std::size_t bytes = 0;
  Role role = Role::in;
  Type type = Type::f32;
  Fill fill = Fill::uniform;
  int classes = 0;  // Fill::labels
};

// Tolerance: |a - e| <= atol * scale + rtol * |e|, scale = max(1, max |e| of that output).
struct Tol {
  double atol = 1e-5, rtol = 1e-5;
};

using Ptrs = std::vector<void*>;
struct OpCase {
  std::string name;  // "L01 conv2d fwd"
  std::string op;    // contract function: "conv2d_forward" (--ops matches op or layer type)
  std::string type;  // layer type / op family: "conv2d"
  bool train = false, infer = false;  // part of the training step / of the inference forward
  double flops = 0, bytes = 0;
  std::vector<Buf> bufs;
  Tol tol;
  // Workspace bytes for the implementation (lc::ref or the backend `k`).
  std::function<std::size_t(Impl, BackendKind)> ws;
  // Runs the op: Impl::ref -> lc::ref::fn with host pointers, else LC_DISPATCH(k, fn, ...).
  std::function<void(Impl, BackendKind, const Ptrs&, Workspace, stream_t)> run;
  // Host-side fix-up of the random inputs (e.g. max-pool backward needs y and argmax of x).
  std::function<void(const Ptrs&)> prepare;
};

#define LC_BENCH_CALL(impl, kind, fn, ...)        \
  do {                                            \
    if ((impl) == Impl::ref) {                    \
      ::lc::ref::fn(__VA_ARGS__);                 \
      return;                                     \
    }                                             \
    LC_DISPATCH(kind, fn, __VA_ARGS__);           \
  } while (0)

template <class T>
T* P(const Ptrs& p, std::size_t i) {
  return static_cast<T*>(p[i]);
}

Buf fbuf(std::string name, std::int64_t floats, Role role, Fill fill = Fill::uniform) {
  return Buf{std::move(name), std::size_t(floats) * 4, role, Type::f32, fill, 0};
}

// Every op of one training step and of one inference forward, at batch n, for the layer table.
std::vector<OpCase> model_cases(const std::vector<LayerInfo>& layers, int n, std::int64_t params) {
  std::vector<OpCase> out;
  const Tol elementwise{1e-6, 1e-5};
  // Sums of up to R*S*C (576) products forward / backward-data, and of N*H*W (up to 2*64*64 at the
  // validation batch) for weights and batch-norm reductions: FP32 reordering errors grow like
  // sqrt(terms) * 2^-24 * |terms|; 1e-4 of the output's scale leaves a wide margin while a wrong
  // index or a missing term (errors of order 1e-2 and up) still fails.
  const Tol reduction{1e-4, 1e-3};
  for (const LayerInfo& L : layers) {
    const std::string pre = L.prefix();
    char lname[32];
    std::snprintf(lname, sizeof lname, "L%02d %s", L.index, L.type_name());
    const std::string ln = lname;
    const std::int64_t Ein = std::int64_t(n) * L.in.numel(), Eout = std::int64_t(n) * L.out.numel();
    auto elu_bwd = [&](std::int64_t E) {
      OpCase c;
      c.name = ln + " elu bwd", c.op = "elu_backward", c.type = "elu", c.train = true;
      c.flops = 2.0 * double(E), c.bytes = 12.0 * double(E), c.tol = elementwise;
      c.bufs = {fbuf("y", E, Role::in), fbuf("dy", E, Role::in), fbuf("dx", E, Role::out)};
      const EluArgs a{E};
      c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
        LC_BENCH_CALL(im, k, elu_backward, a, P<const float>(p, 0), P<const float>(p, 1), P<float>(p, 2), s);
      };
      out.push_back(std::move(c));
    };
    const std::string type = L.type_name();
    {
      if (type == "batchnorm") {
        const BatchNormArgs a{n, L.in.h, L.in.w, L.in.c, L.spec.epsilon, L.spec.momentum};
        const std::int64_t C = L.in.c, E = a.elements();
        auto ws = [a](Impl im, BackendKind k) -> std::size_t {
          if (im == Impl::ref) return lc::ref::batchnorm_workspace_bytes(a);
          LC_DISPATCH(k, batchnorm_workspace_bytes, a);
        };
        {
          OpCase c;
          c.name = ln + " fwd", c.op = "batchnorm_forward_training", c.type = "batchnorm", c.train = true;
          c.flops = 7.0 * double(E), c.bytes = 4.0 * double(2 * E + 8 * C), c.tol = reduction, c.ws = ws;
          c.bufs = {fbuf("x", E, Role::in),          fbuf("gamma", C, Role::in, Fill::positive),
                    fbuf("beta", C, Role::in),       fbuf("y", E, Role::out),
                    fbuf("moving_mean", C, Role::inout), fbuf("moving_var", C, Role::inout, Fill::positive),
                    fbuf("save_mean", C, Role::out), fbuf("save_inv_std", C, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
            LC_BENCH_CALL(im, k, batchnorm_forward_training, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<const float>(p, 2), P<float>(p, 3), P<float>(p, 4), P<float>(p, 5), P<float>(p, 6),
                          P<float>(p, 7), w, s);
          };
          out.push_back(std::move(c));
        }
        {
          OpCase c;
          c.name = ln + " infer", c.op = "batchnorm_forward_inference", c.type = "batchnorm", c.infer = true;
          c.flops = 2.0 * double(E), c.bytes = 4.0 * double(2 * E + 4 * C), c.tol = elementwise;
          c.bufs = {fbuf("x", E, Role::in), fbuf("gamma", C, Role::in, Fill::positive), fbuf("beta", C, Role::in),
                    fbuf("moving_mean", C, Role::in), fbuf("moving_var", C, Role::in, Fill::positive),
                    fbuf("y", E, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
            LC_BENCH_CALL(im, k, batchnorm_forward_inference, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<const float>(p, 2), P<const float>(p, 3), P<const float>(p, 4), P<float>(p, 5), s);
          };
          out.push_back(std::move(c));
        }
        {
          OpCase c;
          c.name = ln + " bwd", c.op = "batchnorm_backward", c.type = "batchnorm", c.train = true;
          c.flops = 10.0 * double(E), c.bytes = 4.0 * double(3 * E + 5 * C), c.tol = reduction, c.ws = ws;
          c.bufs = {fbuf("x", E, Role::in),
                    fbuf("dy", E, Role::in),
                    fbuf("gamma", C, Role::in, Fill::positive),
                    fbuf("save_mean", C, Role::in),
                    fbuf("save_inv_std", C, Role::in, Fill::positive),
                    fbuf("dx", E, Role::out),
                    fbuf("dgamma", C, Role::out),
                    fbuf("dbeta", C, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
            LC_BENCH_CALL(im, k, batchnorm_backward, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<const float>(p, 2), P<const float>(p, 3), P<const float>(p, 4), P<float>(p, 5),
                          P<float>(p, 6), P<float>(p, 7), w, s);
          };
          out.push_back(std::move(c));
        }
      } else if (type == "conv2d") {
        Conv2dArgs a;
        a.n = n, a.h = L.in.h, a.w = L.in.w, a.c = L.in.c, a.k = L.spec.filters, a.r = a.s = L.spec.kernel;
        a.fuse_elu = L.spec.elu;
        const std::int64_t px = std::int64_t(n) * a.h * a.w, wsz = std::int64_t(a.k) * a.r * a.s * a.c;
        const double fl = 2.0 * double(px) * a.k * a.r * a.s * a.c;
        auto ws = [a](Impl im, BackendKind k) -> std::size_t {
          if (im == Impl::ref) return lc::ref::conv2d_workspace_bytes(a);
          LC_DISPATCH(k, conv2d_workspace_bytes, a);
        };
        {
          OpCase c;
          c.name = ln + " fwd", c.op = "conv2d_forward", c.type = "conv2d", c.train = c.infer = true;
          c.flops = fl, c.bytes = 4.0 * double(px * a.c + wsz + a.k + px * a.k), c.tol = reduction, c.ws = ws;
          c.bufs = {fbuf("x", px * a.c, Role::in), fbuf("w", wsz, Role::in), fbuf("b", a.k, Role::in),
                    fbuf("y", px * a.k, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
            LC_BENCH_CALL(im, k, conv2d_forward, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<const float>(p, 2), P<float>(p, 3), w, s);
          };
          out.push_back(std::move(c));
        }
        if (L.spec.elu) elu_bwd(Eout);
        {
          OpCase c;
          c.name = ln + " bwd data", c.op = "conv2d_backward_data", c.type = "conv2d", c.train = true;
          c.flops = fl, c.bytes = 4.0 * double(px * a.k + wsz + px * a.c), c.tol = reduction, c.ws = ws;
          c.bufs = {fbuf("dz", px * a.k, Role::in), fbuf("w", wsz, Role::in), fbuf("dx", px * a.c, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
            LC_BENCH_CALL(im, k, conv2d_backward_data, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<float>(p, 2), w, s);
          };
          out.push_back(std::move(c));
        }
        {
          OpCase c;
          c.name = ln + " bwd weights", c.op = "conv2d_backward_weights", c.type = "conv2d", c.train = true;
          c.flops = fl, c.bytes = 4.0 * double(px * a.c + px * a.k + wsz + a.k), c.tol = reduction, c.ws = ws;
          c.bufs = {fbuf("x", px * a.c, Role::in), fbuf("dz", px * a.k, Role::in), fbuf("dw", wsz, Role::out),
                    fbuf("db", a.k, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
            LC_BENCH_CALL(im, k, conv2d_backward_weights, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<float>(p, 2), P<float>(p, 3), w, s);
          };
          out.push_back(std::move(c));
        }
      } else if (type == "maxpool") {
        const MaxPoolArgs a{n, L.in.h, L.in.w, L.in.c};
        {
          OpCase c;
          c.name = ln + " fwd", c.op = "maxpool_forward", c.type = "maxpool", c.train = c.infer = true;
          c.flops = 3.0 * double(Eout), c.bytes = 4.0 * double(Ein + Eout) + double(Eout), c.tol = {0, 0};
          c.bufs = {fbuf("x", Ein, Role::in), fbuf("y", Eout, Role::out),
                    Buf{"argmax", std::size_t(Eout), Role::out, Type::u8, Fill::zero, 0}};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
            LC_BENCH_CALL(im, k, maxpool_forward, a, P<const float>(p, 0), P<float>(p, 1),
                          P<std::uint8_t>(p, 2), s);
          };
          out.push_back(std::move(c));
        }
        {
          OpCase c;
          c.name = ln + " bwd", c.op = "maxpool_backward", c.type = "maxpool", c.train = true;
          // Minimal traffic of the argmax path: argmax bytes and dy read, dx written.
          c.flops = 0, c.bytes = double(Eout) + 4.0 * double(Eout + Ein), c.tol = {0, 0};
          c.bufs = {fbuf("x", Ein, Role::in), fbuf("y", Eout, Role::in),
                    Buf{"argmax", std::size_t(Eout), Role::in, Type::u8, Fill::zero, 0}, fbuf("dy", Eout, Role::in),
                    fbuf("dx", Ein, Role::out)};
          // y and argmax must be those of x (cudnn recomputes the argmax from x and y).
          c.prepare = [a](const Ptrs& p) {
            lc::ref::maxpool_forward(a, P<const float>(p, 0), P<float>(p, 1), P<std::uint8_t>(p, 2), nullptr);
          };
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
            LC_BENCH_CALL(im, k, maxpool_backward, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<const std::uint8_t>(p, 2), P<const float>(p, 3), P<float>(p, 4), s);
          };
          out.push_back(std::move(c));
        }
      } else if (type == "dense") {
        const DenseArgs a{n, L.in.c, L.out.c, L.spec.elu ? DenseActivation::elu : DenseActivation::none};
        const std::int64_t in = a.in, o = a.out;
        {
          OpCase c;
          c.name = ln + " fwd", c.op = "dense_forward", c.type = "dense", c.train = c.infer = true;
          c.flops = 2.0 * double(n) * double(in * o), c.bytes = 4.0 * double(n * in + in * o + o + n * o);
          c.tol = reduction;
          c.bufs = {fbuf("x", n * in, Role::in), fbuf("w", in * o, Role::in), fbuf("b", o, Role::in),
                    fbuf("y", n * o, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
            LC_BENCH_CALL(im, k, dense_forward, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<const float>(p, 2), P<float>(p, 3), s);
          };
          out.push_back(std::move(c));
        }
        if (L.spec.elu) elu_bwd(Eout);
        {
          OpCase c;
          c.name = ln + " bwd", c.op = "dense_backward", c.type = "dense", c.train = true;
          c.flops = 4.0 * double(n) * double(in * o);
          c.bytes = 4.0 * double(2 * n * in + 2 * in * o + n * o + o), c.tol = reduction;
          c.bufs = {fbuf("x", n * in, Role::in),   fbuf("w", in * o, Role::in),   fbuf("dy", n * o, Role::in),
                    fbuf("dx", n * in, Role::out), fbuf("dw", in * o, Role::out), fbuf("db", o, Role::out)};
          c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
            LC_BENCH_CALL(im, k, dense_backward, a, P<const float>(p, 0), P<const float>(p, 1),
                          P<const float>(p, 2), P<float>(p, 3), P<float>(p, 4), P<float>(p, 5), s);
          };
          out.push_back(std::move(c));
        }
      } else if (type == "dropout") {
        DropoutArgs a;
        a.n = Eout, a.rate = L.spec.rate, a.seed = 42, a.stream = std::uint32_t(L.index), a.training = true;
        for (int pass = 0; pass < 2; ++pass) {
          OpCase c;
          c.name = ln + (pass ? " bwd" : " fwd"), c.op = pass ? "dropout_backward" : "dropout_forward";
          c.type = "dropout", c.train = true, c.tol = {0, 0};
          c.flops = double(Eout), c.bytes = 8.0 * double(Eout) + 8;
          c.bufs = {Buf{"step", 8, Role::in, Type::raw, Fill::step, 0}, fbuf("x", Eout, Role::in),
                    fbuf("y", Eout, Role::out)};
          c.run = [a, pass](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
            if (pass == 0)
              LC_BENCH_CALL(im, k, dropout_forward, a, P<const std::int64_t>(p, 0), P<const float>(p, 1),
                            P<float>(p, 2), s);
            else
              LC_BENCH_CALL(im, k, dropout_backward, a, P<const std::int64_t>(p, 0), P<const float>(p, 1),
                            P<float>(p, 2), s);
          };
          out.push_back(std::move(c));
        }
      }  // flatten: no kernel, NHWC memory is the flat vector
    }
  }
  const int classes = layers.back().out.c;
  const SoftmaxCeArgs sa{n, classes};
  const std::int64_t lg = std::int64_t(n) * classes;
  {
    OpCase c;
    c.name = "softmax_ce", c.op = "softmax_ce", c.type = "softmax_ce", c.train = true;
    c.flops = 6.0 * double(lg), c.bytes = 4.0 * double(2 * lg + 3 * n) + double(sizeof(SoftmaxCeTotals));
    c.tol = elementwise;
    c.bufs = {fbuf("logits", lg, Role::in), Buf{"labels", std::size_t(n) * 4, Role::in, Type::i32, Fill::labels, classes},
              fbuf("loss", n, Role::out), fbuf("dlogits", lg, Role::out),
              Buf{"pred", std::size_t(n) * 4, Role::out, Type::i32, Fill::zero, 0},
              // Totals accumulate in double in an implementation-defined order: not compared.
              Buf{"totals", sizeof(SoftmaxCeTotals), Role::inout, Type::raw, Fill::zero, 0}};
    c.run = [sa](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, softmax_ce, sa, P<const float>(p, 0), P<const std::int32_t>(p, 1), P<float>(p, 2),
                    P<float>(p, 3), P<std::int32_t>(p, 4), P<SoftmaxCeTotals>(p, 5), s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    c.name = "softmax_predict", c.op = "softmax_predict", c.type = "softmax_ce", c.infer = true;
    c.flops = 4.0 * double(lg), c.bytes = 4.0 * double(2 * lg + n), c.tol = elementwise;
    c.bufs = {fbuf("logits", lg, Role::in), fbuf("probs", lg, Role::out),
              Buf{"pred", std::size_t(n) * 4, Role::out, Type::i32, Fill::zero, 0}};
    c.run = [sa](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, softmax_predict, sa, P<const float>(p, 0), P<float>(p, 1), P<std::int32_t>(p, 2), s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    AdamArgs a;
    a.n = params;
    c.name = "adam", c.op = "adam_update", c.type = "adam", c.train = true;
    c.flops = 12.0 * double(params), c.bytes = 28.0 * double(params), c.tol = elementwise;
    c.bufs = {fbuf("params", params, Role::inout), fbuf("grads", params, Role::in),
              fbuf("m", params, Role::inout), fbuf("v", params, Role::inout, Fill::positive),
              Buf{"state", sizeof(AdamState), Role::inout, Type::raw, Fill::adam_state, 0}};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, adam_update, a, P<float>(p, 0), P<const float>(p, 1), P<float>(p, 2), P<float>(p, 3),
                    P<AdamState>(p, 4), s);
    };
    out.push_back(std::move(c));
  }
  return out;
}

bool selected(const OpCase& c, const std::vector<std::string>& ops) {
  if (ops.empty()) return true;
  for (const std::string& o : ops)
    if (o == c.op || o == c.type || c.name.find(o) != std::string::npos) return true;
  return false;
}

// ---- Buffers ----------------------------------------------------------------------------------

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

// Runs every selected case at batch n on the backend and on lc::ref; returns the failures.
std::vector<std::string> validate(Backend& be, const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                                  const std::vector<std::string>& ops) {
  std::vector<std::string> bad;
  const std::vector<OpCase> cases = model_cases(layers, n, params);
  std::uint64_t seed = 1000;
  for (const OpCase& c : cases) {
    ++seed;
    if (!selected(c, ops)) continue;
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
    const std::string why = compare(c, got.ptrs, ref.ptrs);
    std::printf("  %-28s batch %-3d %s\n", c.name.c_str(), n, why.empty() ? "ok" : "MISMATCH");
    std::fflush(stdout);
    if (!why.empty()) bad.push_back(c.name + " [" + be.name() + "]: " + why);
  }
  return bad;
}

// ---- Timing -----------------------------------------------------------------------------------

struct Timed {
  std::string name, op;
  int batch = 0;
  bool train = false, infer = false;
  double flops = 0, bytes = 0, ms = 0;  // median per call
  TimingStats stats;
};

std::vector<Timed> time_cases(Backend& be, const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                              const std::vector<std::string>& ops, const TimingPlan& plan) {
  std::vector<Timed> out;
  std::uint64_t seed = 5000;
  for (const OpCase& c : model_cases(layers, n, params)) {
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

// ---- Roofline ---------------------------------------------------------------------------------

struct Peak {
  double tflops = 67.0, tbps = 3.35;  // H100 SXM FP32 (non-tensor) and HBM3
  double bound_ms(double flops, double bytes) const {
    return std::max(flops / (tflops * 1e12), bytes / (tbps * 1e12)) * 1e3;
  }
};

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

// ---- Command ----------------------------------------------------------------------------------

struct Options {
  std::string backends, batches = "16,1024", ops, json;
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

// The device a backend's times were taken on (GPU model, clocks, L2; model/bench.h's method).
nlohmann::json device_json(BackendKind k) {
  if (!is_gpu(k)) return {{"name", "host"}};
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

void run_bench(const Options& o) {
  const ModelSpec spec = parse_model_json(default_model_json(), "built-in model");
  const std::vector<LayerInfo> layers = infer_layers(spec, 10);
  const std::int64_t params = trainable_parameter_count(layers);
  std::vector<int> batches;
  for (const std::string& b : split(o.batches)) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(b, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LC_CHECK(used == b.size() && v >= 1, "bench: --batch values must be positive integers, got '", b, "'");
    batches.push_back(v);
  }
  LC_CHECK(!batches.empty(), "bench: --batch is empty");
  const std::vector<std::string> ops = split(o.ops);
  for (const std::string& op : ops) {
    bool any = false;
    for (const OpCase& c : model_cases(layers, batches.front(), params)) any = any || selected(c, {op});
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
    auto b = validate(*be, layers, vb, params, ops);
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
      auto t = time_cases(*be, layers, n, params, ops, plan);
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
    print_roofline(layers, params, batches, ops, o.peak, o.steps_per_epoch, meas, on);
  }

  // 4. JSON.
  auto to_json = [&](BackendKind k) {
    nlohmann::json j;
    j["backend"] = backend_name(k);
    j["timing_meaning"] = k == BackendKind::sim ? "correctness only" : (is_gpu(k) ? "GPU" : "CPU (not GPU speed)");
    j["validated"] = true;
    j["peak_tflops"] = o.peak.tflops, j["peak_tbps"] = o.peak.tbps;
    j["device"] = device_json(k);
    j["ops"] = nlohmann::json::array();
    for (const Timed& x : timed[k]) {
      nlohmann::json r = {{"name", x.name}, {"op", x.op}, {"batch", x.batch}, {"ms", x.ms},
                          {"min_ms", x.stats.min_ms}, {"max_ms", x.stats.max_ms}, {"runs", x.stats.runs},
                          {"calls_per_run", x.stats.calls}, {"method", x.stats.method},
                          {"flops", x.flops}, {"bytes", x.bytes},
                          {"gflops", x.flops / (x.ms * 1e6)}, {"gbps", x.bytes / (x.ms * 1e6)},
                          {"bound_ms", o.peak.bound_ms(x.flops, x.bytes)}};
      if (k == BackendKind::cuda && timed.count(BackendKind::cudnn))
        if (const Timed* c = find_timed(timed[BackendKind::cudnn], x.name, x.batch)) r["ratio_to_cudnn"] = x.ms / c->ms;
      j["ops"].push_back(r);
    }
    j["segmentation"] = nlohmann::json::array();
    for (const SegmentBench& s : segs[k])
      j["segmentation"].push_back({{"image_side", s.side}, {"stride", s.stride}, {"batch", s.batch},
                                   {"windows", s.windows}, {"seconds", s.seconds},
                                   {"windows_per_s", s.windows_per_s}, {"pixels_per_s", s.pixels_per_s},
                                   {"pixel_mode_colours", s.colours}, {"colours_per_s", s.colours_per_s},
                                   {"colours_per_s_full_patches", s.colours_per_s_full}});
    return j;
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

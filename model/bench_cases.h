// Op cases of `landcover bench`: one case table per op family (shapes, FLOPs and bytes, tolerance,
// and a run function that calls lc::ref or any backend through LC_DISPATCH), built from the
// model's layer table; and what is done with them: validation against lc::ref, timing with
// model/bench.h's time_op, the roofline table. tools/cmd_bench.cpp keeps the command line and
// the output files; tests iterate the same tables (tests/model/bench_cases_test.cpp).
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
// Depends on: every op contract under kernels/*/ (bench_cases.cpp only), model/bench.h,
// runtime/backend.h, runtime/layers.h.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/bench.h"
#include "runtime/backend.h"
#include "runtime/layers.h"

namespace lc::bench {

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
  // Layer cases: batch and the layer's input activation (N, H, W, C; a flat vector is 1 x 1 x C);
  // zero for softmax-CE, softmax-predict and Adam. Kernel tests take the model's shapes from here.
  int n = 0, h = 0, w = 0, c = 0;
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

// Every op of one training step and of one inference forward, at batch n, for the layer table
// (layer order; per layer its op family's table; then softmax-CE, softmax-predict, Adam).
// conv_versions: the convolution cases once per Conv2dArgs::version listed (each 0..3, named
// "... v<N>"; only the first version's cases count in the step / inference sums); empty: once,
// automatic choice (version 0), no suffix.
std::vector<OpCase> model_cases(const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                                const std::vector<int>& conv_versions = {});

// True when `ops` is empty or one entry equals c.op or c.type or is part of c.name.
bool selected(const OpCase& c, const std::vector<std::string>& ops);

// Runs the case on lc::ref and on the backend with the same random inputs (from `seed`); returns
// "" or a description of the first output element beyond the case's tolerance.
std::string validate_case(Backend& be, const OpCase& c, std::uint64_t seed);

// Validates every selected case at batch n, printing one line per case; returns the failures.
std::vector<std::string> validate(Backend& be, const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                                  const std::vector<std::string>& ops, const std::vector<int>& conv_versions = {});

struct Timed {
  std::string name, op;
  int batch = 0;
  bool train = false, infer = false;
  double flops = 0, bytes = 0, ms = 0;  // median per call
  TimingStats stats;
};

// Times every selected case at batch n on the backend (time_op, `plan`).
std::vector<Timed> time_cases(Backend& be, const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                              const std::vector<std::string>& ops, const TimingPlan& plan,
                              const std::vector<int>& conv_versions = {});

const Timed* find_timed(const std::vector<Timed>& t, const std::string& name, int batch);

struct Peak {
  double tflops = 67.0, tbps = 3.35;  // H100 SXM FP32 (non-tensor) and HBM3
  double bound_ms(double flops, double bytes) const;
};

// The results file's record of one timed op (times, rates and the bound for the peak `pk`).
nlohmann::json timed_json(const Timed& x, const Peak& pk);

// The results file's record of one backend: what its times mean, the peaks, the device, every
// timed op (with its time ratio to `cudnn`'s same case where given) and the segmentation runs.
nlohmann::json results_json(BackendKind k, const std::vector<Timed>& timed, const std::vector<Timed>* cudnn,
                            const std::vector<SegmentBench>& segs, const Peak& pk);

// Prints per batch and selected op: FLOPs, bytes, intensity, the lower bound and, where `measured`
// has the op, the measured time; then the sums per training step, per epoch and per inference.
void print_roofline(const std::vector<LayerInfo>& layers, std::int64_t params, const std::vector<int>& batches,
                    const std::vector<std::string>& ops, const Peak& pk, int steps_per_epoch,
                    const std::vector<Timed>& measured, const std::string& measured_on);

}  // namespace lc::bench

// The graph runtime: a Network built from a model spec (runtime/layers.h; parsed by
// model/model_spec.h) for a number of classes, a batch size and a Backend. It derives the backward
// pass, plans activations, gradients and workspaces by liveness into ONE arena, keeps every
// trainable parameter in ONE contiguous buffer (gradients, Adam m and v likewise, in the same
// order, so Adam is one fused call over everything), batch-norm moving statistics in their own
// buffer, and runs on any backend (cpu, sim, cuda, cudnn). On cuda and cudnn the training step
// is captured into a CUDA Graph once and replayed.
//
// Typical use (the trainer, model/trainer.cpp, does this):
//   Network net(spec, classes, backend, {.batch = 16, .seed = seed});
//   net.init_parameters(seed);                      // Glorot uniform, uploaded once
//   net.set_batch_source([&](stream_t s) { ... gather_batch(..., net.input().data<float>()) ...
//                                          ... labels into net.labels() ... });
//   net.reset_train_totals();
//   for (...) net.train_step();                     // no host<->device copy inside
//   Totals t = net.read_train_totals();             // one small copy per epoch
//   net.reset_eval_totals();
//   for (each validation batch of n <= batch images in input()/labels()) net.eval_batch(n, pred);
//   Totals v = net.read_eval_totals();
// The batch source is not part of the captured step on cuda/cudnn: it runs eagerly before each
// replay, so host-side arguments that change per step (kernels/image's gather_batch takes the
// step and the index offset as host arguments) reach every step. A failed capture (capture_note())
// leaves training on eager steps instead of stopping it.
//
// Evaluation and prediction of n <= batch images compute the first n rows only (buffers and
// workspaces are planned for the full batch; a conv whose workspace for n would not fit, and
// every node on cudnn, whose algorithm choice is per shape, compute the full batch). The loss,
// accuracy and predictions take the first n rows only, so whatever the rows past n hold never
// counts (inference is per image: batch norm uses moving statistics).
//
// Golden tests and checkpoints: write("L01.conv2d.kernel", values), read(name), read_grad(name),
// read_logits() (the last forward's [batch][classes] logits), last_loss() (its batch mean loss),
// optimizer_step() / set_optimizer_step(t), read_adam(name) / write_adam(name, m, v).
//
// Semantics of one training step (train_step):
//   1. the batch source (if set) writes input() [batch][H][W][C] f32 and labels() [batch] i32;
//   2. forward in training mode: batch norm with batch statistics (moving statistics updated,
//      momentum from the model file), conv2d / dense with their fused ELU, 2x2 max-pool (argmax
//      saved on cpu/sim/cuda; cudnn recomputes from x and y), dropout keyed by
//      (seed, stream = layer index, step = Adam steps completed, read from device memory);
//   3. softmax cross-entropy from the logits (batch mean; loss, correct count and samples added
//      to the device-side training totals);
//   4. backward: the reverse of the layers, parameter gradients overwritten (never accumulated);
//   4b. with options.grad_allreduce: the gradient buffer handed to it (the all-reduce over ranks);
//   5. Adam over the whole parameter buffer; the step count lives and advances on the device.
// Kernel launches of the last step are counted (last_step_launches()); on cuda/cudnn the first
// step runs eagerly (libraries may choose algorithms or allocate there), the second is captured
// and every later step replays the graph (1 graph launch, 0 kernel launches from the host).
//
// Parameter initialisation (init_parameters(seed)), Keras' defaults (docs/MODEL.md), as each layer
// type declares it (ParamInit, runtime/layers.h):
//   conv2d / dense kernels: Glorot uniform U(-l, l), l = sqrt(6 / (fan_in + fan_out)),
//     conv fan_in = k*k*in_channels, fan_out = k*k*filters; dense fan_in = in, fan_out = out;
//   biases 0; batch norm gamma 1, beta 0, moving mean 0, moving variance 1; Adam m = v = 0, step 0.
//   Random numbers: parameter number p (0-based over all trainable tensors in layer order) draws
//   from splitmix64 seeded with seed ^ (0x9E3779B97F4A7C15 * (p + 1)); each value takes the next
//   64-bit output r, u = (r >> 40) * 2^-24 in [0, 1), w = float((2u - 1) * l) in double.
//   Generated on the host once and uploaded once.
//
// The layers' nodes come from their types (runtime/layer_type.h, runtime/layers/); this file plans,
// allocates and runs them.
// Depends on: runtime/layers.h, runtime/layer_type.h (in graph.cpp), runtime/flat_geometry.h, runtime/backend.h, runtime/tensor.h, runtime/graph_memory.h,
// runtime/graph_capture.h, kernels/* op contracts (in graph.cpp only), kernels/common/launch_count.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/launch_count.h"
#include "runtime/backend.h"
#include "runtime/flat_geometry.h"
#include "runtime/graph_memory.h"
#include "runtime/layers.h"
#include "runtime/tensor.h"

namespace lc {

struct NetworkOptions {
  int batch = 16;              // images per training step; also the largest eval / predict batch
  bool training = true;        // false: inference only (no backward, gradients or Adam state)
  std::uint64_t seed = 0;      // dropout key (the run's --seed)
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;  // Adam (docs/MODEL.md)
  bool cuda_graph = true;      // cuda / cudnn: capture the training step and replay it
  // Tests only: also attempt the capture on cpu / sim, where it always fails, to exercise the
  // fallback to eager steps (capture_note()) without a GPU.
  bool capture_on_host = false;
  bool flat_inference = false; // inference only: also plan predict_flat (runtime/flat_geometry.h)
  // Data-parallel training (model/trainer.cpp, runtime/comm.h): called with the whole gradient
  // buffer (grad_buffer(), param_buffer_floats() floats, device memory) and the stream, between
  // the backward pass and Adam, as one node of the training step ("allreduce grads"; captured
  // with the step on cuda/cudnn). Empty: no such node.
  std::function<void(float* grads, std::int64_t n, stream_t s)> grad_allreduce;
};

// One named tensor of the parameter or state buffer, in device memory.
struct ParamView {
  std::string name;                 // "L01.conv2d.kernel"
  std::vector<std::int64_t> shape;  // {16, 5, 5, 3}
  bool trainable = true;            // false: batch-norm moving statistics (state buffer)
  std::int64_t offset = 0;          // floats from the start of its buffer (params or state)
  std::int64_t numel = 0;
  float* data = nullptr;            // device pointer
  float* grad = nullptr;            // device pointer into the gradient buffer (trainable, training)
};

// Device-side running totals of loss and accuracy (see kernels/softmax_ce/softmax_ce.h).
struct Totals {
  double loss_sum = 0;
  std::int64_t samples = 0, correct = 0, invalid_labels = 0;
  double mean_loss() const;  // loss_sum / samples (NaN when no samples)
  double accuracy() const;   // correct / samples (NaN when no samples)
};

class Network {
 public:
  Network(const ModelSpec& spec, int classes, Backend& backend, const NetworkOptions& options = {});
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // ---- Description
  const std::vector<LayerInfo>& layers() const { return layers_; }
  Backend& backend() const { return backend_; }
  const NetworkOptions& options() const { return opts_; }
  int batch() const { return opts_.batch; }
  int classes() const { return classes_; }
  ActShape input_shape() const { return layers_.front().in; }
  std::int64_t parameter_count() const;  // trainable floats, without alignment padding
  // Peak bytes of the one arena (the training plan when training, else the inference plan) and
  // what the same buffers would take without sharing.
  std::size_t arena_bytes() const { return arena_bytes_; }
  std::size_t arena_unshared_bytes() const { return arena_unshared_; }
  // Bytes of every persistent buffer (parameters, gradients, Adam, statistics, input, totals).
  std::size_t persistent_bytes() const { return persistent_bytes_; }
  // A few lines: arena peak, lower bound, unshared total, persistent bytes, the largest buffers.
  std::string memory_report() const;

  // ---- Parameters and state (device memory)
  const std::vector<ParamView>& params() const { return params_; }
  const ParamView& param(const std::string& name) const;  // throws lc::Error for an unknown name
  // The whole buffers: trainable parameters (with padding between tensors, which stays 0),
  // gradients, Adam m and v (same layout, null when not training), batch-norm statistics.
  float* param_buffer() const { return params_buf_; }
  std::int64_t param_buffer_floats() const { return param_floats_; }
  float* grad_buffer() const { return grads_buf_; }
  float* adam_m_buffer() const;  // same layout as param_buffer(); null when not training
  float* adam_v_buffer() const;
  float* state_buffer() const { return state_buf_; }
  std::int64_t state_buffer_floats() const { return state_floats_; }

  void init_parameters(std::uint64_t seed);
  // Named host copies of a whole set (one device-to-host copy per buffer): parameters and
  // statistics (trainable tensors first, then state, in layer order), or the Adam moments of the
  // trainable tensors. import_tensors writes the named tensors given (others keep their values);
  // an unknown name, a wrong size, or a state tensor for an Adam set is an lc::Error naming
  // `origin`. One host-to-device copy per buffer, then a synchronisation.
  enum class TensorSet { params, adam_m, adam_v };
  std::vector<NamedTensor> export_tensors(TensorSet set) const;
  void import_tensors(const std::vector<NamedTensor>& list, TensorSet set, const std::string& origin = "tensors");
  std::vector<float> read(const std::string& name) const;  // parameter or statistic, d2h
  void write(const std::string& name, const std::vector<float>& values);  // h2d
  std::vector<float> read_grad(const std::string& name) const;
  // Adam moment estimates of a trainable parameter; the optimizer step (updates applied).
  void read_adam(const std::string& name, std::vector<float>& m, std::vector<float>& v) const;
  void write_adam(const std::string& name, const std::vector<float>& m, const std::vector<float>& v);
  std::int64_t optimizer_step() const;
  void set_optimizer_step(std::int64_t t);  // outside a step (one copy); m and v are left as they are

  // ---- Training
  Tensor input() const { return input_; }    // [batch][H][W][C] f32, device
  Tensor labels() const { return labels_; }  // [batch] i32, device
  // The work that fills input() and labels() at the start of every training step, enqueued on the
  // stream it is given (the batch gather). It is never captured: on cuda/cudnn it runs eagerly on
  // the stream before each replay of the captured step, so it may take host-side arguments that
  // change per step (a step number, an offset). Setting it drops a captured graph.
  void set_batch_source(std::function<void(stream_t)> fill);
  void train_step();
  void reset_train_totals();   // a memset, outside steps
  Totals read_train_totals();  // one small d2h copy (synchronises the stream)

  // ---- Evaluation (inference mode: moving statistics, no dropout)
  // Forward of the first n (1 <= n <= batch) images of input() against labels(): adds loss and
  // accuracy to the eval totals and writes the n predicted classes to `pred` (device, may be null).
  void eval_batch(int n, std::int32_t* pred = nullptr);
  void reset_eval_totals();
  Totals read_eval_totals();

  // ---- Inference (classify / segment): n <= batch images x [n][H][W][C] f32 (device) ->
  // probabilities [n][classes] and the top class [n] (device; either may be null).
  void predict(const float* x, int n, float* probs, std::int32_t* top);

  // ---- Flat-colour inference (segmentation's pixel mode; needs options.flat_inference): every
  // input image is one colour everywhere, evaluated exactly on the reduced images of
  // runtime/flat_geometry.h. x holds `batch` flat images of flat_input_shape() (device; rows past
  // n may be read, as on cudnn, and are ignored); results as predict() gives for the same colours
  // at full size.
  ActShape flat_input_shape() const;
  const FlatGeometry& flat_geometry() const;
  void predict_flat(const float* x, int n, float* probs, std::int32_t* top);

  // ---- Inspection
  std::vector<float> read_logits() const;  // [batch][classes] of the last forward (train or eval)
  float last_loss() const;                 // batch mean loss of the last training step (d2h)
  LaunchCounts last_step_launches() const { return last_launches_; }
  bool last_step_replayed() const { return last_replayed_; }  // the last train_step launched a CUDA Graph
  std::size_t captured_nodes() const;  // kernel/memset/copy nodes of the captured step (0 when none)
  std::size_t captured_other_nodes() const;  // any other node (allocations...) of the captured step
  // Why the training step is not captured: "" while capture works or was not asked for; after a
  // failed capture, the reason (training goes on with eager steps, which compute the same).
  const std::string& capture_note() const { return capture_note_; }
  // One training step run eagerly, node by node, synchronising after each: wall milliseconds per
  // node ("L07 conv2d fwd [cpu]", ...) for profiling. A real step (parameters are updated).
  struct NodeTime {
    std::string name;
    double ms = 0;
  };
  std::vector<NodeTime> profile_train_step();

 private:
  struct Impl;
  ModelSpec spec_;
  int classes_;
  Backend& backend_;
  NetworkOptions opts_;
  std::vector<LayerInfo> layers_;
  std::vector<ParamView> params_;
  std::map<std::string, std::size_t> param_index_;
  float *params_buf_ = nullptr, *grads_buf_ = nullptr, *state_buf_ = nullptr;
  std::int64_t param_floats_ = 0, state_floats_ = 0;
  Tensor input_, labels_;
  std::size_t arena_bytes_ = 0, arena_unshared_ = 0, persistent_bytes_ = 0;
  LaunchCounts last_launches_;
  bool last_replayed_ = false;
  std::string capture_note_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lc

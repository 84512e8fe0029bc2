// The graph runtime (see graph.h): parameter layout, the training and inference schedules
// (forward, loss, derived backward, Adam), liveness-planned arena, execution on any backend and
// CUDA Graph capture of the training step on cuda / cudnn.
#include "runtime/graph.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>

#include "kernels/adam/adam.h"
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/common/check.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/dense/dense.h"
#include "kernels/dropout/dropout.h"
#include "kernels/elu/elu.h"
#include "kernels/image/image.h"
#include "kernels/maxpool/maxpool.h"
#include "kernels/softmax_ce/softmax_ce.h"
#include "runtime/flat_geometry.h"
#include "runtime/graph_capture.h"
#include "runtime/layer_type.h"
#include "runtime/nvtx.h"

namespace lc {

double Totals::mean_loss() const { return samples ? loss_sum / double(samples) : std::nan(""); }
double Totals::accuracy() const { return samples ? double(correct) / double(samples) : std::nan(""); }

namespace {

constexpr std::int64_t kParamAlignFloats = 64;  // 256 bytes between tensors of the parameter buffer

std::int64_t align_up(std::int64_t x, std::int64_t a) { return (x + a - 1) / a * a; }

std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Totals to_totals(const SoftmaxCeTotals& t) { return {t.loss_sum, t.samples, t.correct, t.invalid_labels}; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// The schedules. A Plan is a list of nodes (one op call each, or a small fused group) and the
// arena buffers they use; a buffer's lifetime runs from the first node that uses it to the last.
struct Network::Impl {
  struct Buf {
    std::string name;
    std::size_t bytes = 0;
    bool pin_to_end = false;  // kept alive to the end of the plan (logits, for read_logits)
  };
  struct Node {
    std::string name;
    std::vector<int> bufs;
    std::function<void()> run;
  };
  struct Plan {
    std::vector<Buf> bufs;
    std::vector<Node> nodes;
    MemoryPlan mem;
    int logits = -1;
  };

  Network& net;
  BackendKind kind;
  stream_t stream;
  Tensor arena, grads, adam_m, adam_v, adam_state, train_totals, eval_totals, loss, params, state;
  char* arena_base = nullptr;
  Plan train, infer, flat;  // flat: flat-colour inference on reduced images (flat_geometry.h)
  std::unique_ptr<FlatGeometry> flat_geom;
  Tensor flat_maps;                             // every gather's rows and cols, int32, device
  std::vector<const std::int32_t*> flat_rows, flat_cols;  // [layer] device pointers (null: none)
  Plan* last_plan = nullptr;

  float* input_ptr = nullptr;        // the training plan's input (net.input_)
  float* infer_x = nullptr;          // the inference plan's input, set per call
  float* flat_x = nullptr;           // the flat plan's input, set per call
  const std::int32_t* labels_ptr = nullptr;
  // The inference head, set per call: eval (loss + accuracy + predictions) or predict.
  bool head_eval = true;
  int head_n = 0;
  // Images an inference plan computes, set per call (see live_rows).
  int infer_rows = 0;
  std::int32_t* head_pred = nullptr;
  float* head_probs = nullptr;

  std::function<void(stream_t)> source;
  CapturedGraph graph;
  int eager_steps = 0;

  Impl(Network& n, BackendKind k, stream_t s) : net(n), kind(k), stream(s) {}

  float* ptr(const Plan& p, const Val& v) const {
    if (v.buf < 0) return *v.ext;
    return reinterpret_cast<float*>(arena_base + p.mem.offsets[std::size_t(v.buf)]);
  }
  void* raw(const Plan& p, int buf) const { return arena_base + p.mem.offsets[std::size_t(buf)]; }
  Workspace ws(const Plan& p, int buf) const {
    if (buf < 0) return {};
    return {raw(p, buf), p.bufs[std::size_t(buf)].bytes};
  }

  static int add_buf(Plan& p, std::string name, std::size_t bytes) {
    if (bytes == 0) return -1;
    p.bufs.push_back({std::move(name), bytes, false});
    return int(p.bufs.size()) - 1;
  }
  static Val new_val(Plan& p, std::string name, std::int64_t floats) {
    return Val{add_buf(p, std::move(name), std::size_t(floats) * sizeof(float)), nullptr};
  }
  static void add_node(Plan& p, std::string name, const std::vector<Val>& vals, const std::vector<int>& extra,
                       std::function<void()> run) {
    Node n{std::move(name), {}, std::move(run)};
    for (const Val& v : vals)
      if (v.buf >= 0) n.bufs.push_back(v.buf);
    for (int b : extra)
      if (b >= 0) n.bufs.push_back(b);
    p.nodes.push_back(std::move(n));
  }
  class Builder;
  class Context;

  void build_train();
  // An inference plan (forward + head) over a layer table, reading its input from *x; with a flat
  // geometry, the gathers between its segments.
  void build_infer(Plan& p, float* const* x, const std::vector<LayerInfo>& layers, bool with_gathers);
  // Forward of every layer into plan p (training or inference mode) from value x; returns the
  // activations: acts[i] is the input of layer i, acts[layers] the logits. Per layer, the buffers
  // its forward saved for its backward.
  std::vector<Val> build_forward(Builder& b, Val x, std::vector<SavedBufs>& saved,
                                 const std::vector<LayerInfo>& layers, bool with_gathers);
  void plan_memory_of(Plan& p);
  void run_plan(Plan& p);
  std::string tag() const { return std::string(" [") + backend_name(kind) + "]"; }
  // Rows of the batch an inference node computes: the call's n (infer_rows), except on cudnn,
  // whose algorithm choice and workspace are per shape, so it always runs the full batch.
  int live_rows(int N) const { return kind == BackendKind::cudnn || infer_rows < 1 ? N : infer_rows; }
};

// The schedule under construction as the layer types see it (runtime/layer_type.h).
class Network::Impl::Context final : public NodeContext {
 public:
  Context(const Impl& im, const Plan& p, bool training) : im_(im), p_(p), training_(training) {}
  float* f(Val v) const override { return im_.ptr(p_, v); }
  void* raw(int buf) const override { return buf < 0 ? nullptr : im_.raw(p_, buf); }
  Workspace ws(int buf) const override { return im_.ws(p_, buf); }
  int rows() const override { return training_ ? im_.net.opts_.batch : im_.live_rows(im_.net.opts_.batch); }
  BackendKind kind() const override { return im_.kind; }
  stream_t stream() const override { return im_.stream; }

 private:
  const Impl& im_;
  const Plan& p_;
  bool training_;
};

class Network::Impl::Builder final : public PlanBuilder {
 public:
  Builder(Impl& im, Plan& p, bool training) : im_(im), p_(p), training_(training) {}
  BackendKind kind() const override { return im_.kind; }
  stream_t stream() const override { return im_.stream; }
  int batch() const override { return im_.net.opts_.batch; }
  bool training() const override { return training_; }
  std::string tag() const override { return im_.tag(); }
  Val new_val(const std::string& name, std::int64_t floats) override { return Impl::new_val(p_, name, floats); }
  int add_buf(const std::string& name, std::size_t bytes) override { return Impl::add_buf(p_, name, bytes); }
  void add_node(const std::string& name, std::vector<Val> vals, std::vector<int> bufs,
                std::function<void(const NodeContext&)> run) override {
    Impl::add_node(p_, name, vals, bufs, [ctx = Context(im_, p_, training_), run = std::move(run)] { run(ctx); });
  }
  float* param(const LayerInfo& L, int j) const override { return view(L, j).data; }
  float* grad(const LayerInfo& L, int j) const override { return view(L, j).grad; }
  std::uint64_t seed() const override { return im_.net.opts_.seed; }
  const std::int64_t* step() const override { return &static_cast<AdamState*>(im_.adam_state.data())->step; }
  Plan& plan() { return p_; }

 private:
  const ParamView& view(const LayerInfo& L, int j) const {
    return im_.net.params_[im_.net.param_index_.at(L.params.at(std::size_t(j)).name)];
  }
  Impl& im_;
  Plan& p_;
  bool training_;
};

std::vector<Val> Network::Impl::build_forward(Builder& b, Val x, std::vector<SavedBufs>& saved,
                                              const std::vector<LayerInfo>& layers, bool with_gathers) {
  Plan& p = b.plan();
  const int N = net.opts_.batch;
  const BackendKind k = kind;
  const stream_t s = stream;
  std::vector<Val> acts{x};
  saved.assign(layers.size(), SavedBufs{});
  for (const LayerInfo& L : layers) {
    const std::size_t li = std::size_t(L.index);
    if (with_gathers && flat_rows[li]) {
      // Flat-colour inference: pick the rows and columns this segment runs on (flat_geometry.h).
      const Val X = acts.back();
      const LayerInfo& prev = layers[li - 1];
      GatherRowsColsArgs a;
      a.count = N, a.in_h = prev.out.h, a.in_w = prev.out.w, a.channels = L.in.c, a.out_h = L.in.h, a.out_w = L.in.w;
      const std::int32_t *rows = flat_rows[li], *cols = flat_cols[li];
      const Val Y = new_val(p, L.prefix() + ".gathered", std::int64_t(N) * L.in.numel());
      add_node(p, L.prefix() + " gather rows/cols" + tag(), {X, Y}, {}, [=, this, &p] {
        const float* xp = ptr(p, X);
        float* yp = ptr(p, Y);
        GatherRowsColsArgs an = a;
        an.count = live_rows(N);
        LC_DISPATCH(k, gather_rows_cols, an, xp, rows, cols, yp, s);
      });
      acts.back() = Y;  // the layer's input is the gathered activation
    }
    acts.push_back(L.spec.type->forward(b, L, acts.back(), saved[li]));
  }
  return acts;
}

void Network::Impl::build_train() {
  Plan& p = train;
  const int N = net.opts_.batch;
  const BackendKind k = kind;
  const stream_t s = stream;
  p.nodes.push_back({"batch source", {}, [this] {
                       if (source) source(stream);
                     }});
  Builder b(*this, p, true);
  std::vector<SavedBufs> saved;
  const std::vector<Val> acts = build_forward(b, Val{-1, &input_ptr}, saved, net.layers_, false);
  const std::size_t nl = net.layers_.size();

  // Loss head: softmax cross-entropy, training totals on the device.
  const Val logits = acts.back();
  LC_CHECK(logits.buf >= 0, "the model's logits alias its input");
  p.logits = logits.buf;
  p.bufs[std::size_t(logits.buf)].pin_to_end = true;
  const SoftmaxCeArgs ca{N, net.classes_};
  Val grad = new_val(p, "dlogits", std::int64_t(N) * net.classes_);
  {
    const std::int32_t* const* lab = &labels_ptr;
    float* lossp = loss.data<float>();
    SoftmaxCeTotals* tot = static_cast<SoftmaxCeTotals*>(train_totals.data());
    add_node(p, "loss softmax_ce" + tag(), {logits, grad}, {}, [=, this, &p] {
      const float* lg = ptr(p, logits);
      float* dl = ptr(p, grad);
      LC_DISPATCH(k, softmax_ce, ca, lg, *lab, lossp, dl, nullptr, tot, s);
    });
  }

  // Backward, layer by layer in reverse: grad is dL/d(output of layer i) on entry, dL/d(input) after.
  for (std::size_t ri = nl; ri-- > 0;) {
    const LayerInfo& L = net.layers_[ri];
    grad = L.spec.type->backward(b, L, acts[ri], acts[ri + 1], grad, saved[ri], ri == 0);
  }

  // Adam over the whole parameter buffer (padding: zero gradients keep it zero).
  AdamArgs aa;
  aa.n = net.param_floats_, aa.lr = net.opts_.lr, aa.beta1 = net.opts_.beta1, aa.beta2 = net.opts_.beta2;
  aa.epsilon = net.opts_.epsilon;
  float *pp = params.data<float>(), *gp = grads.data<float>(), *mp = adam_m.data<float>(), *vp = adam_v.data<float>();
  AdamState* st = static_cast<AdamState*>(adam_state.data());
  if (aa.n > 0 && net.opts_.grad_allreduce) {  // data parallelism (runtime/comm.h)
    const auto reduce = net.opts_.grad_allreduce;
    const std::int64_t n = aa.n;
    p.nodes.push_back({"allreduce grads", {}, [=] { reduce(gp, n, s); }});
  }
  if (aa.n > 0)
    p.nodes.push_back({"adam" + tag(), {}, [=] { LC_DISPATCH(k, adam_update, aa, pp, gp, mp, vp, st, s); }});
  plan_memory_of(p);
}

void Network::Impl::build_infer(Plan& p, float* const* x, const std::vector<LayerInfo>& layers, bool with_gathers) {
  const BackendKind k = kind;
  const stream_t s = stream;
  const int N = net.opts_.batch;
  Builder b(*this, p, false);
  std::vector<SavedBufs> saved;
  const std::vector<Val> acts = build_forward(b, Val{-1, x}, saved, layers, with_gathers);
  const Val logits = acts.back();
  LC_CHECK(logits.buf >= 0, "the model's logits alias its input");
  p.logits = logits.buf;
  p.bufs[std::size_t(logits.buf)].pin_to_end = true;
  const int classes = net.classes_;
  SoftmaxCeTotals* tot = static_cast<SoftmaxCeTotals*>(eval_totals.data());
  add_node(p, "head" + tag(), {logits}, {}, [=, this, &p] {
    const float* lg = ptr(p, logits);
    const SoftmaxCeArgs a{head_n, classes};
    if (head_eval) {
      const std::int32_t* lab = labels_ptr;
      std::int32_t* pred = head_pred;
      LC_DISPATCH(k, softmax_ce, a, lg, lab, nullptr, nullptr, pred, tot, s);
    } else {
      float* probs = head_probs;
      std::int32_t* pred = head_pred;
      LC_DISPATCH(k, softmax_predict, a, lg, probs, pred, s);
    }
  });
  (void)N;
  plan_memory_of(p);
}

void Network::Impl::plan_memory_of(Plan& p) {
  const int end = int(p.nodes.size()) - 1;
  std::vector<BufferRequest> req(p.bufs.size());
  for (std::size_t b = 0; b < p.bufs.size(); ++b) req[b] = {p.bufs[b].name, p.bufs[b].bytes, INT_MAX, -1};
  for (int n = 0; n <= end; ++n)
    for (int b : p.nodes[std::size_t(n)].bufs) {
      req[std::size_t(b)].first = std::min(req[std::size_t(b)].first, n);
      req[std::size_t(b)].last = std::max(req[std::size_t(b)].last, n);
    }
  for (std::size_t b = 0; b < p.bufs.size(); ++b) {
    LC_CHECK(req[b].last >= 0, "graph: buffer ", p.bufs[b].name, " is never used");
    if (p.bufs[b].pin_to_end) req[b].last = end;
  }
  p.mem = plan_memory(req, 256);
  const std::string bad = check_memory_plan(req, p.mem, 256);
  LC_CHECK(bad.empty(), "graph: invalid memory plan: ", bad);
}

// NVTX phase of a training-plan node, from its name: backward nodes say " bwd", Adam is "adam",
// the rest (batch, forward layers, loss) is the forward. Inference plans have no phase level:
// the caller's range (`eval`, `batch N`) holds their nodes directly.
static const char* train_phase(const std::string& node) {
  if (node.rfind("adam", 0) == 0) return "optim";
  if (node.rfind("allreduce", 0) == 0) return "allreduce";
  return node.find(" bwd") != std::string::npos ? "bwd" : "fwd";
}

// LC_SYNC_DEBUG=1: synchronise after every node (no CUDA Graph capture), so an asynchronous
// device error is reported at the node that caused it. Every error leaving a node names it.
static bool sync_debug() {
  static const bool on = [] {
    const char* v = std::getenv("LC_SYNC_DEBUG");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

void Network::Impl::run_plan(Plan& p) {
  const bool training_plan = &p == &train;
  std::optional<nvtx::Range> phase_range;
  const char* phase = nullptr;
  for (Node& n : p.nodes) {
    if (training_plan) {
      const char* ph = train_phase(n.name);
      if (ph != phase) {
        phase_range.reset();
        phase_range.emplace(ph);
        phase = ph;
      }
    }
    LC_NVTX_RANGE(n.name);
    try {
      n.run();
      if (sync_debug()) net.backend_.synchronize();
    } catch (const Error& e) {
      throw Error("graph node '" + n.name + "': " + e.what());
    }
  }
  last_plan = &p;
}

// ---------------------------------------------------------------------------------------------

Network::Network(const ModelSpec& spec, int classes, Backend& backend, const NetworkOptions& options)
    : spec_(spec), classes_(classes), backend_(backend), opts_(options) {
  LC_CHECK(opts_.batch >= 1, "network: batch must be at least 1, got ", opts_.batch);
  layers_ = infer_layers(spec_, classes_);
  Device& dev = backend_.device();
  impl_ = std::make_unique<Impl>(*this, backend_.kind(), backend_.stream());

  // Parameter layout: trainable tensors in layer order, each starting on a 64-float boundary,
  // in one buffer; moving statistics packed in another.
  for (const LayerInfo& L : layers_)
    for (const ParamInfo& pi : L.params) {
      ParamView v;
      v.name = pi.name;
      v.shape = pi.shape;
      v.trainable = pi.trainable;
      v.numel = pi.numel();
      if (pi.trainable) {
        v.offset = param_floats_;
        param_floats_ = align_up(param_floats_ + v.numel, kParamAlignFloats);
      } else {
        v.offset = state_floats_;
        state_floats_ += v.numel;
      }
      param_index_[v.name] = params_.size();
      params_.push_back(std::move(v));
    }
  Impl& im = *impl_;
  im.params = Tensor::zeros(dev, {std::max<std::int64_t>(param_floats_, 1)});
  im.state = Tensor::zeros(dev, {std::max<std::int64_t>(state_floats_, 1)});
  params_buf_ = im.params.data<float>();
  state_buf_ = im.state.data<float>();
  if (opts_.training) {
    im.grads = Tensor::zeros(dev, {std::max<std::int64_t>(param_floats_, 1)});
    im.adam_m = Tensor::zeros(dev, {std::max<std::int64_t>(param_floats_, 1)});
    im.adam_v = Tensor::zeros(dev, {std::max<std::int64_t>(param_floats_, 1)});
    grads_buf_ = im.grads.data<float>();
  }
  im.adam_state = Tensor::zeros(dev, {std::int64_t(sizeof(AdamState))}, DType::u8);
  im.train_totals = Tensor::zeros(dev, {std::int64_t(sizeof(SoftmaxCeTotals))}, DType::u8);
  im.eval_totals = Tensor::zeros(dev, {std::int64_t(sizeof(SoftmaxCeTotals))}, DType::u8);
  im.loss = Tensor::zeros(dev, {1});
  for (ParamView& v : params_) {
    v.data = (v.trainable ? params_buf_ : state_buf_) + v.offset;
    v.grad = v.trainable && grads_buf_ ? grads_buf_ + v.offset : nullptr;
  }
  const ActShape in = input_shape();
  input_ = Tensor::zeros(dev, {opts_.batch, in.h, in.w, in.c});
  labels_ = Tensor::zeros(dev, {opts_.batch}, DType::i32);
  im.input_ptr = input_.data<float>();
  im.labels_ptr = labels_.data<std::int32_t>();

  if (opts_.training) im.build_train();
  im.build_infer(im.infer, &im.infer_x, layers_, false);
  if (opts_.flat_inference) {
    LC_CHECK(!opts_.training, "network: flat-colour inference needs an inference network");
    im.flat_geom = std::make_unique<FlatGeometry>(derive_flat_geometry(layers_));
    const FlatGeometry& g = *im.flat_geom;
    // All gather maps in one device buffer, uploaded once.
    std::vector<std::int32_t> maps;
    std::vector<std::size_t> row_at(layers_.size()), col_at(layers_.size());
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      row_at[i] = maps.size();
      maps.insert(maps.end(), g.rows[i].begin(), g.rows[i].end());
      col_at[i] = maps.size();
      maps.insert(maps.end(), g.cols[i].begin(), g.cols[i].end());
    }
    im.flat_maps = Tensor::zeros(dev, {std::max<std::int64_t>(std::int64_t(maps.size()), 1)}, DType::i32);
    if (!maps.empty())
      dev.copy_h2d(im.flat_maps.data(), maps.data(), maps.size() * sizeof(std::int32_t), im.stream);
    const std::int32_t* base = im.flat_maps.data<std::int32_t>();
    im.flat_rows.assign(layers_.size(), nullptr);
    im.flat_cols.assign(layers_.size(), nullptr);
    for (std::size_t i = 0; i < layers_.size(); ++i)
      if (!g.rows[i].empty()) im.flat_rows[i] = base + row_at[i], im.flat_cols[i] = base + col_at[i];
    im.build_infer(im.flat, &im.flat_x, g.layers, true);
  }
  arena_bytes_ = opts_.training ? im.train.mem.peak : std::max(im.infer.mem.peak, im.flat.mem.peak);
  arena_unshared_ = opts_.training ? im.train.mem.unshared : std::max(im.infer.mem.unshared, im.flat.mem.unshared);
  const std::size_t arena = std::max({im.train.mem.peak, im.infer.mem.peak, im.flat.mem.peak});
  im.arena = Tensor::empty(dev, {std::int64_t(std::max<std::size_t>(arena, 1))}, DType::u8);
  // Poison: all-ones bytes are NaN as floats, so a read of memory no node wrote shows up as NaN.
  dev.memset(im.arena.data(), 0xFF, im.arena.bytes(), im.stream);
  im.arena_base = static_cast<char*>(im.arena.data());
  persistent_bytes_ = im.params.bytes() + im.state.bytes() + im.grads.bytes() + im.adam_m.bytes() +
                      im.adam_v.bytes() + im.adam_state.bytes() + im.train_totals.bytes() +
                      im.eval_totals.bytes() + im.loss.bytes() + input_.bytes() + labels_.bytes();
  backend_.synchronize();
}

Network::~Network() = default;

std::int64_t Network::parameter_count() const { return trainable_parameter_count(layers_); }

const ParamView& Network::param(const std::string& name) const {
  auto it = param_index_.find(name);
  LC_CHECK(it != param_index_.end(), "network: no parameter named '", name, "'");
  return params_[it->second];
}

std::string Network::memory_report() const {
  const Impl::Plan& p = opts_.training ? impl_->train : impl_->infer;
  std::ostringstream os;
  os << "arena peak " << p.mem.peak << " bytes (" << (opts_.training ? "training" : "inference") << " plan, "
     << p.bufs.size() << " buffers, " << p.nodes.size() << " nodes); live-bytes bound " << p.mem.live_bound
     << "; unshared " << p.mem.unshared << "; persistent " << persistent_bytes_ << " bytes\n";
  std::vector<std::size_t> idx(p.bufs.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return p.bufs[a].bytes > p.bufs[b].bytes; });
  for (std::size_t i = 0; i < std::min<std::size_t>(5, idx.size()); ++i)
    os << "  " << p.bufs[idx[i]].name << " " << p.bufs[idx[i]].bytes << " bytes at " << p.mem.offsets[idx[i]] << "\n";
  return os.str();
}

void Network::init_parameters(std::uint64_t seed) {
  std::vector<float> host_params(std::size_t(param_floats_), 0.f), host_state(std::size_t(state_floats_), 0.f);
  std::size_t p_index = 0;
  for (const LayerInfo& L : layers_) {
    for (const ParamInfo& pi : L.params) {
      const ParamView& v = param(pi.name);
      float* dst = (v.trainable ? host_params.data() : host_state.data()) + v.offset;
      switch (pi.init.kind) {
        case ParamInit::glorot_uniform: {
          const double limit = std::sqrt(6.0 / (pi.init.fan_in + pi.init.fan_out));
          std::uint64_t s = seed ^ (0x9E3779B97F4A7C15ull * (p_index + 1));
          for (std::int64_t i = 0; i < v.numel; ++i) {
            const double u = double(splitmix64(s) >> 40) * (1.0 / 16777216.0);
            dst[i] = float((2.0 * u - 1.0) * limit);
          }
          break;
        }
        case ParamInit::ones: std::fill(dst, dst + v.numel, 1.f); break;
        case ParamInit::zeros: std::fill(dst, dst + v.numel, 0.f); break;
      }
      if (pi.trainable) ++p_index;
    }
  }
  Device& dev = backend_.device();
  const stream_t s = backend_.stream();
  if (param_floats_) dev.copy_h2d(params_buf_, host_params.data(), host_params.size() * 4, s);
  if (state_floats_) dev.copy_h2d(state_buf_, host_state.data(), host_state.size() * 4, s);
  if (opts_.training) {
    dev.memset(impl_->adam_m.data(), 0, impl_->adam_m.bytes(), s);
    dev.memset(impl_->adam_v.data(), 0, impl_->adam_v.bytes(), s);
    dev.memset(impl_->grads.data(), 0, impl_->grads.bytes(), s);
  }
  dev.memset(impl_->adam_state.data(), 0, impl_->adam_state.bytes(), s);
  backend_.synchronize();
}

namespace {
// A tensor set's device buffers and their host copies.
struct SetBuffers {
  float* trainable = nullptr;  // device: parameters, or Adam m / v (same layout)
  float* state = nullptr;      // device: statistics (params set only), else null
  std::vector<float> host_trainable, host_state;
};
}  // namespace

// The set's buffers, downloaded (one copy each).
static SetBuffers download_set(const Network& net, Network::TensorSet set) {
  SetBuffers b;
  switch (set) {
    case Network::TensorSet::params: b.trainable = net.param_buffer(), b.state = net.state_buffer(); break;
    case Network::TensorSet::adam_m: b.trainable = net.adam_m_buffer(); break;
    case Network::TensorSet::adam_v: b.trainable = net.adam_v_buffer(); break;
  }
  LC_CHECK(b.trainable, "network: no optimizer state on an inference network");
  Device& dev = net.backend().device();
  const stream_t s = net.backend().stream();
  b.host_trainable.resize(std::size_t(net.param_buffer_floats()));
  if (b.state) b.host_state.resize(std::size_t(net.state_buffer_floats()));
  if (!b.host_trainable.empty()) dev.copy_d2h(b.host_trainable.data(), b.trainable, b.host_trainable.size() * 4, s);
  if (!b.host_state.empty()) dev.copy_d2h(b.host_state.data(), b.state, b.host_state.size() * 4, s);
  return b;
}

std::vector<NamedTensor> Network::export_tensors(TensorSet set) const {
  const SetBuffers b = download_set(*this, set);
  std::vector<NamedTensor> out;
  for (int pass = 0; pass < 2; ++pass)
    for (const ParamView& v : params_) {
      if (v.trainable != (pass == 0) || (!v.trainable && !b.state)) continue;
      const float* src = (v.trainable ? b.host_trainable.data() : b.host_state.data()) + v.offset;
      out.push_back({v.name, v.shape, std::vector<float>(src, src + v.numel)});
    }
  return out;
}

void Network::import_tensors(const std::vector<NamedTensor>& list, TensorSet set, const std::string& origin) {
  // Whole buffers assembled on the host (tensors not in the list and the padding keep their
  // values), one copy each way.
  SetBuffers b = download_set(*this, set);
  for (const NamedTensor& t : list) {
    auto it = param_index_.find(t.name);
    LC_CHECK(it != param_index_.end(), origin, ": tensor ", t.name, " is not a parameter of the model");
    const ParamView& v = params_[it->second];
    LC_CHECK(v.trainable || b.state, origin, ": tensor ", t.name, " has no optimizer state");
    LC_CHECK(t.numel() == v.numel && std::int64_t(t.data.size()) == v.numel, origin, ": tensor ", t.name, " has ",
             t.data.size(), " values, the model expects ", v.numel);
    std::copy(t.data.begin(), t.data.end(), (v.trainable ? b.host_trainable.data() : b.host_state.data()) + v.offset);
  }
  Device& dev = backend_.device();
  const stream_t s = backend_.stream();
  if (!b.host_trainable.empty()) dev.copy_h2d(b.trainable, b.host_trainable.data(), b.host_trainable.size() * 4, s);
  if (!b.host_state.empty()) dev.copy_h2d(b.state, b.host_state.data(), b.host_state.size() * 4, s);
  backend_.synchronize();
}

std::vector<float> Network::read(const std::string& name) const {
  const ParamView& v = param(name);
  std::vector<float> out(std::size_t(v.numel));
  backend_.device().copy_d2h(out.data(), v.data, out.size() * 4, backend_.stream());
  return out;
}

void Network::write(const std::string& name, const std::vector<float>& values) {
  const ParamView& v = param(name);
  LC_CHECK(std::int64_t(values.size()) == v.numel, "network: ", name, " has ", v.numel, " values, got ",
           values.size());
  backend_.device().copy_h2d(v.data, values.data(), values.size() * 4, backend_.stream());
  backend_.synchronize();
}

std::vector<float> Network::read_grad(const std::string& name) const {
  const ParamView& v = param(name);
  LC_CHECK(v.grad != nullptr, "network: ", name, " has no gradient (not trainable, or not a training network)");
  std::vector<float> out(std::size_t(v.numel));
  backend_.device().copy_d2h(out.data(), v.grad, out.size() * 4, backend_.stream());
  return out;
}

void Network::read_adam(const std::string& name, std::vector<float>& m, std::vector<float>& v) const {
  const ParamView& pv = param(name);
  LC_CHECK(pv.trainable && opts_.training, "network: ", name, " has no optimizer state");
  m.resize(std::size_t(pv.numel));
  v.resize(std::size_t(pv.numel));
  Device& dev = backend_.device();
  dev.copy_d2h(m.data(), impl_->adam_m.data<float>() + pv.offset, m.size() * 4, backend_.stream());
  dev.copy_d2h(v.data(), impl_->adam_v.data<float>() + pv.offset, v.size() * 4, backend_.stream());
}

void Network::write_adam(const std::string& name, const std::vector<float>& m, const std::vector<float>& v) {
  const ParamView& pv = param(name);
  LC_CHECK(pv.trainable && opts_.training, "network: ", name, " has no optimizer state");
  LC_CHECK(std::int64_t(m.size()) == pv.numel && std::int64_t(v.size()) == pv.numel, "network: Adam state of ",
           name, " needs ", pv.numel, " values, got ", m.size(), " and ", v.size());
  Device& dev = backend_.device();
  dev.copy_h2d(impl_->adam_m.data<float>() + pv.offset, m.data(), m.size() * 4, backend_.stream());
  dev.copy_h2d(impl_->adam_v.data<float>() + pv.offset, v.data(), v.size() * 4, backend_.stream());
  backend_.synchronize();
}

std::int64_t Network::optimizer_step() const {
  AdamState st;
  backend_.device().copy_d2h(&st, impl_->adam_state.data(), sizeof st, backend_.stream());
  return st.step;
}

void Network::set_optimizer_step(std::int64_t t) {
  LC_CHECK(t >= 0, "network: optimizer step must be >= 0, got ", t);
  AdamState st;
  st.step = t;
  backend_.device().copy_h2d(impl_->adam_state.data(), &st, sizeof st, backend_.stream());
  backend_.synchronize();
}

void Network::set_batch_source(std::function<void(stream_t)> fill) {
  impl_->source = std::move(fill);
  impl_->graph.reset();
  impl_->eager_steps = 0;
}

void Network::train_step() {
  LC_CHECK(opts_.training, "network: train_step on an inference-only network");
  Impl& im = *impl_;
  const LaunchCounts before = launch_counts();
  const bool gpu = backend_.kind() == BackendKind::cuda || backend_.kind() == BackendKind::cudnn;
  last_replayed_ = false;
  if (opts_.cuda_graph && (gpu || opts_.capture_on_host) && capture_note_.empty() && !sync_debug()) {
    if (!im.graph.ready() && im.eager_steps > 0) {
      // The batch source stays out of the graph (its host-side arguments change per step).
      auto source = std::move(im.source);
      im.source = nullptr;
      try {
        LC_CHECK(gpu, "CUDA Graph capture needs the cuda or cudnn backend, not ", backend_.name());
        im.graph.capture(im.stream, [&] { im.run_plan(im.train); });
      } catch (const Error& e) {
        im.graph.reset();
        capture_note_ = std::string("CUDA Graph capture of the training step failed, steps run eagerly: ") + e.what();
      }
      im.source = std::move(source);
    }
    if (im.graph.ready()) {
      if (im.source) im.source(im.stream);  // eagerly, ordered before the replay on the same stream
      im.graph.launch(im.stream);
      im.last_plan = &im.train;
      last_replayed_ = true;
    } else {
      im.run_plan(im.train);  // first step eagerly: libraries may allocate or search algorithms here
      ++im.eager_steps;
    }
  } else {
    im.run_plan(im.train);
  }
  const LaunchCounts after = launch_counts();
  last_launches_ = {after.kernels - before.kernels, after.graphs - before.graphs};
}

void Network::reset_train_totals() {
  backend_.device().memset(impl_->train_totals.data(), 0, impl_->train_totals.bytes(), backend_.stream());
}

Totals Network::read_train_totals() {
  SoftmaxCeTotals t;
  backend_.device().copy_d2h(&t, impl_->train_totals.data(), sizeof t, backend_.stream());
  return to_totals(t);
}

void Network::reset_eval_totals() {
  backend_.device().memset(impl_->eval_totals.data(), 0, impl_->eval_totals.bytes(), backend_.stream());
}

Totals Network::read_eval_totals() {
  SoftmaxCeTotals t;
  backend_.device().copy_d2h(&t, impl_->eval_totals.data(), sizeof t, backend_.stream());
  return to_totals(t);
}

void Network::eval_batch(int n, std::int32_t* pred) {
  LC_CHECK(n >= 1 && n <= opts_.batch, "network: eval_batch of ", n, " images, batch is ", opts_.batch);
  Impl& im = *impl_;
  // The forward computes the first n rows (live_rows); the loss and the predictions take those
  // n, so stale rows past n never count.
  im.infer_x = input_.data<float>();
  im.head_eval = true, im.head_n = n, im.head_pred = pred, im.head_probs = nullptr;
  im.infer_rows = n;
  im.run_plan(im.infer);
}

void Network::predict(const float* x, int n, float* probs, std::int32_t* top) {
  LC_CHECK(n >= 1 && n <= opts_.batch, "network: predict of ", n, " images, batch is ", opts_.batch);
  Impl& im = *impl_;
  if (n == opts_.batch) {
    im.infer_x = const_cast<float*>(x);  // read only
  } else {
    // Fewer images than the batch: copy them (device to device) into the input tensor so the
    // full-batch forward never reads past the caller's buffer.
    backend_.device().copy_d2d(input_.data(), x, std::size_t(n) * std::size_t(input_shape().numel()) * 4,
                               backend_.stream());
    im.infer_x = input_.data<float>();
  }
  im.head_eval = false, im.head_n = n, im.head_pred = top, im.head_probs = probs;
  im.infer_rows = n;
  im.run_plan(im.infer);
}

ActShape Network::flat_input_shape() const {
  LC_CHECK(impl_->flat_geom, "network: built without flat_inference");
  return impl_->flat_geom->input;
}

const FlatGeometry& Network::flat_geometry() const {
  LC_CHECK(impl_->flat_geom, "network: built without flat_inference");
  return *impl_->flat_geom;
}

void Network::predict_flat(const float* x, int n, float* probs, std::int32_t* top) {
  LC_CHECK(impl_->flat_geom, "network: built without flat_inference");
  LC_CHECK(n >= 1 && n <= opts_.batch, "network: predict_flat of ", n, " images, batch is ", opts_.batch);
  Impl& im = *impl_;
  // Rows past n may be read (live_rows): the caller's buffer holds `batch` images.
  im.flat_x = const_cast<float*>(x);  // read only
  im.head_eval = false, im.head_n = n, im.head_pred = top, im.head_probs = probs;
  im.infer_rows = n;
  im.run_plan(im.flat);
}

std::vector<float> Network::read_logits() const {
  const Impl& im = *impl_;
  LC_CHECK(im.last_plan != nullptr, "network: no forward has run yet");
  const Impl::Plan& p = *im.last_plan;
  std::vector<float> out(std::size_t(opts_.batch) * std::size_t(classes_));
  backend_.device().copy_d2h(out.data(), im.raw(p, p.logits), out.size() * 4, backend_.stream());
  return out;
}

float Network::last_loss() const {
  float v = 0;
  backend_.device().copy_d2h(&v, impl_->loss.data(), sizeof v, backend_.stream());
  return v;
}

float* Network::adam_m_buffer() const { return opts_.training ? impl_->adam_m.data<float>() : nullptr; }
float* Network::adam_v_buffer() const { return opts_.training ? impl_->adam_v.data<float>() : nullptr; }

std::vector<Network::NodeTime> Network::profile_train_step() {
  LC_CHECK(opts_.training, "network: profile_train_step on an inference-only network");
  Impl& im = *impl_;
  std::vector<NodeTime> out;
  backend_.synchronize();
  for (Impl::Node& n : im.train.nodes) {
    const auto t0 = std::chrono::steady_clock::now();
    n.run();
    backend_.synchronize();
    out.push_back({n.name, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()});
  }
  im.last_plan = &im.train;
  return out;
}

std::size_t Network::captured_nodes() const { return impl_->graph.node_count(); }
std::size_t Network::captured_other_nodes() const { return impl_->graph.other_node_count(); }

}  // namespace lc

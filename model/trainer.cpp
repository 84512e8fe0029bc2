// The trainer (see trainer.h): data, network, epochs, validation, early stopping, checkpoints,
// metrics, resume.
#include "model/trainer.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <limits>
#include <optional>

#include "kernels/common/check.h"
#include "kernels/image/image.h"
#include "model/checkpoint.h"
#include "model/dataset.h"
#include "model/model_spec.h"
#include "model/output_set.h"
#include "runtime/comm.h"
#include "runtime/graph.h"
#include "runtime/nvtx.h"

namespace lc {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Augment parse_augment(const std::string& s) {
  if (s == "none") return Augment::none;
  if (s == "flip") return Augment::flip;
  if (s == "flip+rot90") return Augment::flip_rot90;
  LC_FAIL("unknown --augment '", s, "' (choose none, flip or flip+rot90)");
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string exact(double v) { return fmt("%.17g", v); }

std::string strip_extension(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == 0) return path;
  return path.substr(0, dot);
}

void gather(BackendKind k, const GatherBatchArgs& a, const std::uint8_t* images, const std::int32_t* idx, float* out,
            stream_t s) {
  LC_DISPATCH(k, gather_batch, a, images, idx, out, s);
}

// A fresh run (or one resumed from another file) may replace --out only when it holds the
// checkpoint of a finished run: an unfinished run's checkpoint, or any other file, is kept.
void check_out_replaceable(const std::string& out, const std::string& resume) {
  struct stat o {}, r {};
  if (::stat(out.c_str(), &o) != 0) return;
  if (!resume.empty() && ::stat(resume.c_str(), &r) == 0 && r.st_dev == o.st_dev && r.st_ino == o.st_ino) return;
  Checkpoint old;
  try {
    old = load_checkpoint(out);
  } catch (const Error& e) {
    LC_FAIL("--out ", out, " exists and is not a readable landcover checkpoint; refusing to replace it (",
            e.what(), ")");
  }
  const std::string* done = old.find_meta("complete");
  LC_CHECK(done && *done == "1", "--out ", out, " holds an unfinished run (", old.position.epoch,
           " epochs done); continue it with --resume ", out, ", or remove it or choose another --out");
}

// The settings a checkpoint keeps in its meta section. On resume each is taken from the
// checkpoint; an explicit option that differs is an error (must_match), except --epochs, which may
// be raised or lowered explicitly. gsd_m is absent in checkpoints older than --gsd: then the
// option's value stays.
struct Setting {
  const char* key;     // meta key
  const char* option;  // command-line option
  bool must_match;
  std::function<std::string(const TrainConfig&)> get;  // canonical text
  std::function<void(TrainConfig&, const std::string&)> set;
};

template <class T>
Setting integer(const char* key, const char* option, T TrainConfig::*field, bool must_match = true) {
  return {key, option, must_match, [=](const TrainConfig& c) { return std::to_string(c.*field); },
          [=](TrainConfig& c, const std::string& v) {
            std::size_t used = 0;
            const unsigned long long x = std::stoull(v, &used);
            LC_CHECK(used == v.size(), "not an integer: ", v);
            c.*field = T(x);
          }};
}
Setting real(const char* key, const char* option, double TrainConfig::*field) {
  return {key, option, true, [=](const TrainConfig& c) { return exact(c.*field); },
          [=](TrainConfig& c, const std::string& v) { c.*field = std::stod(v); }};
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table{
      integer("seed", "--seed", &TrainConfig::seed),
      integer("batch", "--batch", &TrainConfig::batch),
      real("lr", "--lr", &TrainConfig::lr),
      real("val_split", "--val-split", &TrainConfig::val_split),
      {"augment", "--augment", true, [](const TrainConfig& c) { return c.augment; },
       [](TrainConfig& c, const std::string& v) { c.augment = v; }},
      integer("max_images", "--max-images", &TrainConfig::max_images),
      integer("patience", "--patience", &TrainConfig::patience),
      real("min_delta", "--min-delta", &TrainConfig::min_delta),
      integer("epochs", "--epochs", &TrainConfig::epochs, false),
      real("gsd_m", "--gsd", &TrainConfig::gsd_m),
  };
  return table;
}

// Takes the resumed run's settings; an explicit option that disagrees is an error.
void apply_resume_settings(TrainConfig& c, const Checkpoint& ck) {
  const std::string& o = c.resume;
  for (const Setting& st : settings()) {
    const std::string* v = ck.find_meta(st.key);
    if (!v && std::string(st.key) == "gsd_m") continue;
    LC_CHECK(v != nullptr, "checkpoint ", o, ": no '", st.key, "' setting: not written by `landcover train`");
    TrainConfig theirs = c;
    try {
      st.set(theirs, *v);
    } catch (const std::exception&) {
      LC_FAIL("checkpoint ", o, ": setting '", st.key, "' has a bad value '", *v, "'");
    }
    const bool explicit_option = c.explicit_options.count(st.option) > 0;
    LC_CHECK(!st.must_match || !explicit_option || st.get(c) == st.get(theirs), st.option, " ", st.get(c),
             " differs from the value ", st.get(theirs), " the checkpoint ", o,
             " was trained with (leave it out to resume)");
    if (!explicit_option) c = theirs;
  }
  LC_CHECK(!c.explicit_options.count("--model"), "--model cannot be combined with --resume: the checkpoint ", o,
           " holds its model");
  const std::string* done = ck.find_meta("complete");
  LC_CHECK(!(done && *done == "1"), "checkpoint ", o,
           " is of a finished run (its best weights were restored); nothing to resume");
}

// Totals summed over the ranks (every rank gets rank 0's sums).
Totals sum_totals(Communicator& c, const Totals& t) {
  std::vector<double> v{t.loss_sum, double(t.samples), double(t.correct), double(t.invalid_labels)};
  c.sum_host(v);
  Totals r;
  r.loss_sum = v[0], r.samples = std::int64_t(v[1]), r.correct = std::int64_t(v[2]), r.invalid_labels = std::int64_t(v[3]);
  return r;
}

// FNV-1a over bytes: the fingerprint LC_DIST_CHECK compares between ranks.
std::uint64_t fnv1a(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

// LC_TEST_FAULT=kill:R:S | hang:R:S (trainer.h): rank R dies or hangs before its step S+1.
void test_fault(int rank, std::int64_t steps_done) {
  static const char* spec = std::getenv("LC_TEST_FAULT");
  if (!spec) return;
  char what[8] = {};
  int r = -1;
  long long at = -1;
  if (std::sscanf(spec, "%7[a-z]:%d:%lld", what, &r, &at) != 3 || r != rank || at != steps_done) return;
  if (std::string(what) == "kill") ::raise(SIGKILL);
  if (std::string(what) == "hang")
    for (;;) ::pause();
}

}  // namespace

std::vector<std::int32_t> epoch_order(const std::vector<std::int32_t>& train, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int32_t> a = train;
  std::uint64_t state = seed ^ (0xD1B54A32D192ED03ull * std::uint64_t(epoch));
  for (std::size_t i = a.size(); i-- > 1;) {
    const std::uint64_t bound = std::uint64_t(i) + 1;
    const std::uint64_t threshold = (0 - bound) % bound;
    std::uint64_t r;
    do r = splitmix64(state);
    while (r < threshold);
    std::swap(a[i], a[std::size_t(r % bound)]);
  }
  return a;
}

// ---- The training session ----------------------------------------------------------------------

struct TrainingSession::State {
  TrainConfig cfg;
  TrainCallbacks cb;
  OutputSet outputs;             // checkpoint, metrics, confusion matrix: checked and locked first
  std::optional<Checkpoint> ck;  // the run resumed from
  // Data parallelism (trainer.h): world's ranks; on cuda/cudnn the gradients go through NCCL.
  Communicator* comm = nullptr;
  std::unique_ptr<Communicator> dev_comm;
  int rank = 0, ranks = 1;
  bool lead = true;        // rank 0: prints and writes
  bool dist_check = false; // LC_DIST_CHECK=1
  std::int64_t replica_checks = 0;
  std::int64_t val_lo = 0, val_hi = 0;  // this rank's validation images
  ModelSpec spec;
  Augment augment = Augment::none;
  std::string confusion_path;
  std::unique_ptr<Backend> backend;
  BackendKind kind = BackendKind::cpu;
  bool gpu = false;  // cuda / cudnn: the batch gather runs before each step (see prepare_data)
  Dataset ds;
  Split split;
  std::int64_t n_train = 0, n_val = 0, steps = 0;
  DeviceDataset dd;
  std::unique_ptr<Network> net;
  NetworkOptions nopt;
  // Device-side index lists: validation once, training once per epoch.
  Tensor val_idx, val_lab, val_pred, order_dev, order_lab;
  std::vector<std::int32_t> val_labels_host;
  GatherBatchArgs gtrain;
  // Progress.
  std::vector<EpochMetrics> history;
  EarlyStopState stop;
  std::int64_t epoch = 0, global_step = 0, step_in_epoch = 0, steps_this_process = 0;
  bool stopped = false;
  double train_seconds_total = 0, train_images_total = 0;

  Communicator& grad_comm() const { return dev_comm ? *dev_comm : *comm; }
  void print(const std::string& s) const {
    if (!lead) return;
    if (cb.print)
      cb.print(s);
    else
      std::printf("%s\n", s.c_str()), std::fflush(stdout);
  }
  void note(const std::string& s) const {
    if (!lead) return;
    if (cb.note)
      cb.note(s);
    else
      std::fprintf(stderr, "landcover: %s\n", s.c_str());
  }
  Device& dev() const { return backend->device(); }
  stream_t stream() const { return backend->stream(); }
  // The batch gather of training step `step_in_epoch` into the network's input and labels.
  void fill(stream_t s) {
    GatherBatchArgs a = gtrain;
    a.step = std::uint64_t(global_step);
    gather(kind, a, dd.images.data<std::uint8_t>(), order_dev.data<std::int32_t>() + step_in_epoch * cfg.batch,
           net->input().data<float>(), s);
    dev().copy_d2d(net->labels().data(), order_lab.data<std::int32_t>() + step_in_epoch * cfg.batch,
                   std::size_t(cfg.batch) * 4, s);
  }
};

TrainingSession::TrainingSession(const TrainConfig& config, const TrainCallbacks& callbacks)
    : s_(std::make_unique<State>()) {
  s_->cfg = config;
  s_->cb = callbacks;
  load_settings();
  prepare_data();
  resume();
}

TrainingSession::~TrainingSession() = default;

const TrainConfig& TrainingSession::config() const { return s_->cfg; }

// Settings, model and backend.
void TrainingSession::load_settings() {
  State& s = *s_;
  TrainConfig& cfg = s.cfg;
  s.comm = &world();
  s.rank = s.comm->rank(), s.ranks = s.comm->size(), s.lead = s.rank == 0;
  const char* dc = std::getenv("LC_DIST_CHECK");
  s.dist_check = dc && std::string(dc) == "1";
  if (!cfg.resume.empty()) {
    s.ck = load_checkpoint(cfg.resume);
    apply_resume_settings(cfg, *s.ck);
    s.spec = parse_model_json(s.ck->model_json, "checkpoint " + cfg.resume + " model");
  } else if (!cfg.model_path.empty()) {
    s.spec = load_model_file(cfg.model_path);
  } else {
    s.spec = parse_model_json(default_model_json(), "built-in eurosat_cnn");
  }
  LC_CHECK(!cfg.data_dir.empty(), "--data is required");
  LC_CHECK(cfg.epochs >= 1, "--epochs must be at least 1, got ", cfg.epochs);
  LC_CHECK(cfg.batch >= 1 && cfg.batch <= 65536, "--batch must be in 1..65536, got ", cfg.batch);
  LC_CHECK(cfg.lr > 0 && std::isfinite(cfg.lr), "--lr must be positive, got ", cfg.lr);
  LC_CHECK(cfg.val_split > 0 && cfg.val_split < 1, "--val-split must be in (0, 1), got ", cfg.val_split);
  LC_CHECK(cfg.gsd_m > 0 && std::isfinite(cfg.gsd_m), "--gsd must be a positive number of metres, got ", cfg.gsd_m);
  LC_CHECK(cfg.patience >= 0, "--patience must be >= 0, got ", cfg.patience);
  LC_CHECK(cfg.min_delta >= 0, "--min-delta must be >= 0, got ", cfg.min_delta);
  LC_CHECK(cfg.max_images >= 0, "--max-images must be >= 0, got ", cfg.max_images);
  s.augment = parse_augment(cfg.augment);
  const ModelSpec& spec = s.spec;
  LC_CHECK(spec.height == spec.width && spec.channels == 3, "model '", spec.name, "' takes ", spec.height, "x",
           spec.width, "x", spec.channels, " images; training needs square RGB input");
  if (cfg.metrics.empty()) cfg.metrics = strip_extension(cfg.out) + "_metrics.csv";
  s.confusion_path = strip_extension(cfg.metrics) + "_confusion.csv";
  // Outputs (rank 0's): checked, locked and cleared of stale temporary files before any work.
  if (s.lead) {
    s.outputs.add(cfg.out, "--out");
    s.outputs.add(cfg.metrics, "--metrics");
    s.outputs.add(s.confusion_path, "confusion matrix");
    s.outputs.open();
    check_out_replaceable(cfg.out, cfg.resume);
  }

  s.kind = parse_backend(cfg.backend);
  const BackendStatus st = backend_status(s.kind);
  if (!st.usable) throw Error(std::string("backend ") + backend_name(s.kind) + " is not usable: " + st.why);
  s.backend = std::make_unique<Backend>(s.kind);
  s.gpu = s.kind == BackendKind::cuda || s.kind == BackendKind::cudnn;
  s.dev_comm = make_device_communicator(s.gpu);
  if (s.ck) {
    const std::string* was = s.ck->find_meta("backend");
    if (was && *was != s.backend->name())
      s.note("warning: resuming a run trained on backend " + *was + " with " + s.backend->name() +
             ": the numbers will not match an uninterrupted run exactly");
  }
}

// Data set, split, device copies, network and the batch gather.
void TrainingSession::prepare_data() {
  State& s = *s_;
  const TrainConfig& cfg = s.cfg;
  DatasetOptions dopt;
  dopt.image_size = s.spec.height;
  dopt.max_images_per_class = cfg.max_images;
  dopt.use_cache = cfg.use_cache;
  dopt.cache_dir = cfg.cache_dir;
  dopt.note = [&s](const std::string& m) { s.note(m); };
  dopt.warn = [&s](const std::string& m) { s.note("warning: " + m); };
  s.ds = load_dataset(cfg.data_dir, dopt);
  const int classes = s.ds.num_classes();
  LC_CHECK(classes >= 2, "data set ", s.ds.root, " has ", classes, " class; training needs at least 2");
  if (s.ck)
    LC_CHECK(s.ck->class_names == s.ds.class_names, "checkpoint ", cfg.resume, " was trained on other classes than ",
             s.ds.root, " holds");
  s.split = stratified_split(s.ds.labels, classes, cfg.seed, cfg.val_split);
  s.n_train = std::int64_t(s.split.train.size()), s.n_val = std::int64_t(s.split.val.size());
  const std::int64_t global_batch = std::int64_t(cfg.batch) * s.ranks;
  s.steps = s.n_train / global_batch;
  LC_CHECK(s.steps >= 1, "only ", s.n_train, " training images: fewer than one batch of ", global_batch,
           s.ranks > 1 ? " (" + std::to_string(cfg.batch) + " per rank x " + std::to_string(s.ranks) + " ranks)" : "");
  s.val_lo = s.n_val * s.rank / s.ranks, s.val_hi = s.n_val * (s.rank + 1) / s.ranks;
  LC_CHECK(s.n_val >= 1, "no validation images: the data set is too small for --val-split ", cfg.val_split);
  Device& dev = s.dev();
  s.dd = upload_dataset(s.ds, dev, s.stream());

  s.nopt.batch = cfg.batch;
  s.nopt.seed = cfg.seed;
  s.nopt.lr = float(cfg.lr);
  if (s.ranks > 1) {
    Communicator* gc = &s.grad_comm();
    s.nopt.grad_allreduce = [gc](float* g, std::int64_t n, stream_t st) { gc->allreduce(g, n, Reduce::mean, st); };
  }
  s.net = std::make_unique<Network>(s.spec, classes, *s.backend, s.nopt);
  s.net->init_parameters(cfg.seed);

  s.val_idx = Tensor::empty(dev, {s.n_val}, DType::i32);
  s.val_lab = Tensor::empty(dev, {s.n_val}, DType::i32);
  s.val_pred = Tensor::zeros(dev, {s.n_val}, DType::i32);
  s.val_labels_host.resize(std::size_t(s.n_val));
  for (std::int64_t i = 0; i < s.n_val; ++i)
    s.val_labels_host[std::size_t(i)] = s.ds.labels[std::size_t(s.split.val[std::size_t(i)])];
  s.val_idx.upload(s.split.val.data(), s.stream());
  s.val_lab.upload(s.val_labels_host.data(), s.stream());
  s.order_dev = Tensor::empty(dev, {s.steps * cfg.batch}, DType::i32);
  s.order_lab = Tensor::empty(dev, {s.steps * cfg.batch}, DType::i32);

  GatherBatchArgs& g = s.gtrain;
  g.num_images = std::int64_t(s.ds.size());
  g.batch = cfg.batch;
  g.height = g.width = s.ds.image_size;
  g.channels = 3;
  g.augment = s.augment;
  g.seed = cfg.seed + std::uint64_t(s.rank) * 0x9E3779B97F4A7C15ull;  // rank 0: a one-rank run's draws
  // On cuda/cudnn the gather's step and index offset are host arguments (kernels/image), which a
  // captured graph would freeze: there it runs before each replay, outside it (as the Network
  // would run a batch source; here so that the launch counts show the step alone).
  if (!s.gpu) s.net->set_batch_source([&s](stream_t st) { s.fill(st); });
}

// Weights, optimizer state, position and history of the resumed run.
void TrainingSession::resume() {
  State& s = *s_;
  Network& net = *s.net;
  if (s.ck) {
    const Checkpoint& ck = *s.ck;
    const std::string& o = s.cfg.resume;
    check_checkpoint_shapes(ck, net.layers(), o);
    check_checkpoint_finite(ck, o);
    LC_CHECK(!ck.adam.m.empty(), "checkpoint ", o, " has no optimizer state to resume from");
    LC_CHECK(ck.position.step == 0, "checkpoint ", o, " stops inside an epoch (step ", ck.position.step,
             "); only epoch boundaries can be resumed");
    net.import_tensors(ck.params, Network::TensorSet::params, "checkpoint " + o);
    net.import_tensors(ck.adam.m, Network::TensorSet::adam_m, "checkpoint " + o);
    net.import_tensors(ck.adam.v, Network::TensorSet::adam_v, "checkpoint " + o);
    net.set_optimizer_step(ck.adam.t);
    s.epoch = ck.position.epoch;
    s.global_step = ck.position.global_step;
    LC_CHECK(ck.adam.t == s.global_step, "checkpoint ", o, ": Adam step ", ck.adam.t, " != global step ",
             s.global_step);
    s.history = ck.history;
    s.stop = ck.early_stop;
    LC_CHECK(std::int64_t(s.history.size()) == s.epoch, "checkpoint ", o, ": ", s.history.size(),
             " epochs of history for ", s.epoch, " epochs completed");
    // A run that stopped early and was interrupted before its final checkpoint stays stopped.
    s.stopped = !s.history.empty() && s.stop.epochs_without_improvement >= s.cfg.patience;
    const std::string* was_ranks = ck.find_meta("ranks");
    const std::int64_t before = was_ranks ? std::stoll(*was_ranks) : 1;
    if (before != s.ranks)
      s.note("resuming a run of " + std::to_string(before) + " rank(s) with " + std::to_string(s.ranks) +
             ": global batch " + std::to_string(before * s.cfg.batch) + " becomes " +
             std::to_string(std::int64_t(s.ranks) * s.cfg.batch));
    s.note("resuming " + o + " after epoch " + std::to_string(s.epoch) + " (step " + std::to_string(s.global_step) +
           ")");
  }
  s.print("model " + s.spec.name + ": " + std::to_string(net.layers().size()) + " layers, " +
          std::to_string(net.parameter_count()) + " parameters, " + std::to_string(s.ds.num_classes()) +
          " classes; arena peak " + fmt("%.2f", double(net.arena_bytes()) / (1 << 20)) + " MiB; backend " +
          s.backend->name());
  s.print("data " + s.ds.root + ": " + std::to_string(s.ds.size()) + " images, " + std::to_string(s.n_train) +
          " train / " + std::to_string(s.n_val) + " val, " + std::to_string(s.steps) + " steps of " +
          std::to_string(s.cfg.batch) + " per epoch" +
          (s.ranks > 1 ? " per rank x " + std::to_string(s.ranks) + " ranks (global batch " +
                             std::to_string(std::int64_t(s.cfg.batch) * s.ranks) + ", gradients all-reduced by " +
                             s.grad_comm().name() + (s.cfg.sync_bn ? ", batch-norm statistics synchronised" : "") + ")"
                       : ""));
}

bool TrainingSession::done() const { return s_->stopped || s_->epoch >= s_->cfg.epochs; }

TrainingSession::Evaluation TrainingSession::evaluate(ConfusionMatrix* cm) {
  State& s = *s_;
  Network& net = *s.net;
  const int B = s.cfg.batch;
  LC_NVTX_RANGE("eval");
  net.reset_eval_totals();
  GatherBatchArgs a = s.gtrain;
  a.augment = Augment::none;
  a.step = 0;
  // This rank's share of the validation images (all of them for one rank).
  for (std::int64_t at = s.val_lo; at < s.val_hi; at += B) {
    const int n = int(std::min<std::int64_t>(B, s.val_hi - at));
    a.batch = n;
    gather(s.kind, a, s.dd.images.data<std::uint8_t>(), s.val_idx.data<std::int32_t>() + at,
           net.input().data<float>(), s.stream());
    s.dev().copy_d2d(net.labels().data(), s.val_lab.data<std::int32_t>() + at, std::size_t(n) * 4, s.stream());
    net.eval_batch(n, s.val_pred.data<std::int32_t>() + at);
  }
  const Totals t = s.ranks > 1 ? sum_totals(*s.comm, net.read_eval_totals()) : net.read_eval_totals();
  LC_CHECK(t.invalid_labels == 0, "validation: ", t.invalid_labels, " labels out of range");
  LC_CHECK(t.samples == s.n_val, "validation covered ", t.samples, " of ", s.n_val, " images");
  if (cm) {
    auto pred = s.val_pred.to_host<std::int32_t>(s.stream());
    if (s.ranks > 1) {  // every rank's share, summed into place
      std::vector<double> all(pred.size(), 0.0);
      for (std::int64_t i = s.val_lo; i < s.val_hi; ++i) all[std::size_t(i)] = pred[std::size_t(i)];
      s.comm->sum_host(all);
      for (std::size_t i = 0; i < all.size(); ++i) pred[i] = std::int32_t(all[i]);
    }
    *cm = ConfusionMatrix(s.ds.class_names);
    cm->add(s.val_labels_host.data(), pred.data(), pred.size());
  }
  return {t.mean_loss(), t.accuracy()};
}

const EpochMetrics& TrainingSession::run_epoch() {
  State& s = *s_;
  const TrainConfig& cfg = s.cfg;
  Network& net = *s.net;
  LC_CHECK(!done(), "training session: no epoch left to run");
  const std::int64_t epoch = ++s.epoch;
  LC_NVTX_RANGE("epoch ", epoch);
  const auto t0 = Clock::now();
  const std::vector<std::int32_t> all = epoch_order(s.split.train, cfg.seed, epoch);
  // This rank's slice of every global batch (trainer.h).
  const std::int64_t B = cfg.batch, G = B * s.ranks;
  std::vector<std::int32_t> order(std::size_t(s.steps * B)), order_labels(order.size());
  for (std::int64_t t = 0; t < s.steps; ++t)
    for (std::int64_t j = 0; j < B; ++j) order[std::size_t(t * B + j)] = all[std::size_t(t * G + s.rank * B + j)];
  for (std::size_t i = 0; i < order_labels.size(); ++i) order_labels[i] = s.ds.labels[std::size_t(order[i])];
  s.dev().copy_h2d(s.order_dev.data(), order.data(), order_labels.size() * 4, s.stream());
  s.dev().copy_h2d(s.order_lab.data(), order_labels.data(), order_labels.size() * 4, s.stream());
  net.reset_train_totals();
  for (s.step_in_epoch = 0; s.step_in_epoch < s.steps; ++s.step_in_epoch) {
    if (cfg.interrupt_after_steps > 0 && s.steps_this_process == cfg.interrupt_after_steps)
      throw Error("interrupted (test hook) after " + std::to_string(s.steps_this_process) + " steps");
    test_fault(s.rank, s.steps_this_process);
    LC_NVTX_RANGE("step ", s.global_step);
    if (s.gpu) s.fill(s.stream());
    net.train_step();
    if (cfg.sync_bn && s.ranks > 1 && net.state_buffer_floats() > 0)
      s.grad_comm().allreduce(net.state_buffer(), net.state_buffer_floats(), Reduce::mean, s.stream());
    ++s.global_step, ++s.steps_this_process;
    if (s.dist_check) check_replicas();
    if (s.lead && s.cb.step)
      s.cb.step(int(epoch), cfg.epochs, s.step_in_epoch + 1, s.steps,
                double(s.step_in_epoch + 1) * cfg.batch / std::max(seconds_since(t0), 1e-9));
  }
  Totals tr = net.read_train_totals();  // synchronises: the epoch's work is done
  const double train_s = seconds_since(t0);
  if (s.ranks > 1) {
    tr = sum_totals(*s.comm, tr);
    share_statistics();
  }
  LC_CHECK(tr.invalid_labels == 0, "training: ", tr.invalid_labels, " labels out of range");
  s.train_seconds_total += train_s;
  s.train_images_total += double(s.steps * G);
  const Evaluation va = evaluate(nullptr);

  EpochMetrics m;
  m.epoch = epoch;
  m.loss = tr.mean_loss();
  m.accuracy = tr.accuracy();
  m.val_loss = va.loss;
  m.val_accuracy = va.accuracy;
  m.seconds = seconds_since(t0);
  m.images_per_s = double(s.steps * G) / train_s;
  m.lr = cfg.lr;
  s.history.push_back(m);
  LC_CHECK(std::isfinite(m.loss), "training diverged: loss is ", m.loss, " in epoch ", epoch);

  // Early stopping (Keras): improvement when val_loss < best - min_delta.
  EarlyStopState& stop = s.stop;
  if (m.val_loss < stop.best_val_loss - cfg.min_delta) {
    stop.best_val_loss = m.val_loss;
    stop.best_epoch = epoch;
    stop.epochs_without_improvement = 0;
    stop.best_weights = net.export_tensors(Network::TensorSet::params);
  } else {
    ++stop.epochs_without_improvement;
    if (stop.epochs_without_improvement >= cfg.patience) s.stopped = true;
  }
  if (s.lead && s.cb.epoch_end) s.cb.epoch_end();
  char line[256];
  std::snprintf(line, sizeof line,
                "epoch %" PRId64 "/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  %.1f s  %.0f img/s%s", epoch,
                cfg.epochs, m.loss, m.accuracy, m.val_loss, m.val_accuracy, m.seconds, m.images_per_s,
                stop.best_epoch == epoch ? "  *" : "");
  s.print(line);
  // Metrics first: a run killed between the two files resumes from the older checkpoint and
  // rewrites the metrics from its history.
  if (s.lead) s.outputs.replace(cfg.metrics, metrics_csv(s.history));
  write_checkpoint(epoch, false);
  if (s.stopped)
    s.print("early stop: no improvement of val_loss by " + fmt("%g", cfg.min_delta) + " for " +
            std::to_string(cfg.patience) + " epochs");
  return s.history.back();
}

void TrainingSession::write_checkpoint(std::int64_t epochs_done, bool complete) {
  State& s = *s_;
  if (!s.lead) return;  // rank 0 writes
  const Network& net = *s.net;
  Checkpoint c;
  c.model_json = model_to_json(s.spec);
  c.class_names = s.ds.class_names;
  c.input_height = s.spec.height, c.input_width = s.spec.width, c.input_channels = s.spec.channels;
  c.params = net.export_tensors(Network::TensorSet::params);
  c.adam.t = net.optimizer_step();
  c.adam.lr = s.cfg.lr, c.adam.beta1 = s.nopt.beta1, c.adam.beta2 = s.nopt.beta2, c.adam.epsilon = s.nopt.epsilon;
  c.adam.m = net.export_tensors(Network::TensorSet::adam_m);
  c.adam.v = net.export_tensors(Network::TensorSet::adam_v);
  c.position = {epochs_done, 0, s.global_step};
  c.seed = s.cfg.seed;
  c.rng = {{"shuffle", "splitmix64 Fisher-Yates keyed by seed ^ 0xD1B54A32D192ED03 * epoch (model/trainer.h)"},
           {"augment", "philox4x32-10 keyed by (seed, global step, batch position) (kernels/image/image.h)"},
           {"dropout", "philox4x32-10 keyed by (seed, layer, Adam step) (kernels/dropout/dropout.h)"}};
  c.early_stop = s.stop;
  c.history = s.history;
  for (const Setting& st : settings()) c.meta.push_back({st.key, st.get(s.cfg)});
  c.meta.push_back({"backend", s.backend->name()});
  c.meta.push_back({"data", s.ds.root});
  c.meta.push_back({"steps_per_epoch", std::to_string(s.steps)});
  c.meta.push_back({"complete", complete ? "1" : "0"});
  c.meta.push_back({"ranks", std::to_string(s.ranks)});
  c.meta.push_back({"sync_bn", s.cfg.sync_bn ? "1" : "0"});
  const std::vector<std::uint8_t> bytes = serialize_checkpoint(c, s.cfg.out);
  s.outputs.replace(s.cfg.out, bytes.data(), bytes.size());
}

// Before validation: rank 0's batch-norm moving statistics on every rank (trainer.h).
void TrainingSession::share_statistics() {
  State& s = *s_;
  Network& net = *s.net;
  const std::int64_t n = net.state_buffer_floats();
  if (n == 0) return;
  std::vector<float> host(static_cast<std::size_t>(n));
  s.dev().copy_d2h(host.data(), net.state_buffer(), host.size() * 4, s.stream());
  s.comm->broadcast_host(host.data(), host.size() * 4, 0);
  s.dev().copy_h2d(net.state_buffer(), host.data(), host.size() * 4, s.stream());
}

// LC_DIST_CHECK=1: this rank's parameters (and, with --sync-bn, batch-norm statistics) against
// rank 0's, bit for bit (by a 64-bit hash).
void TrainingSession::check_replicas() {
  State& s = *s_;
  const Network& net = *s.net;
  std::vector<float> host(static_cast<std::size_t>(net.param_buffer_floats()));
  s.dev().copy_d2h(host.data(), net.param_buffer(), host.size() * 4, s.stream());
  std::uint64_t mine = fnv1a(host.data(), host.size() * 4);
  if (s.cfg.sync_bn && net.state_buffer_floats() > 0) {  // --sync-bn: the statistics match too
    host.resize(static_cast<std::size_t>(net.state_buffer_floats()));
    s.dev().copy_d2h(host.data(), net.state_buffer(), host.size() * 4, s.stream());
    mine ^= fnv1a(host.data(), host.size() * 4) * 31;
  }
  std::uint64_t lead = mine;
  s.comm->broadcast_host(&lead, sizeof lead, 0);
  std::vector<double> differ{mine == lead ? 0.0 : 1.0};
  s.comm->sum_host(differ);
  LC_CHECK(differ[0] == 0, "LC_DIST_CHECK: the parameters of ", differ[0], " rank(s) differ from rank 0's after step ",
           s.global_step);
  ++s.replica_checks;
}

TrainResult TrainingSession::finish() {
  State& s = *s_;
  Network& net = *s.net;
  TrainResult res;
  res.backend = s.backend->name();
  res.arena_bytes = net.arena_bytes();
  res.steps_per_epoch = s.steps;
  res.ranks = s.ranks;
  res.replica_checks = s.replica_checks;
  res.metrics_path = s.cfg.metrics;
  res.confusion_path = s.confusion_path;
  if (!s.stop.best_weights.empty()) net.import_tensors(s.stop.best_weights, Network::TensorSet::params, "best weights");
  const Evaluation fin = evaluate(&res.confusion);
  const std::int64_t last_epoch = s.history.empty() ? 0 : s.history.back().epoch;
  write_checkpoint(last_epoch, true);
  if (s.lead) s.outputs.replace(s.confusion_path, res.confusion.csv());
  s.print("validation confusion matrix (rows: true class, columns: predicted), weights of epoch " +
          std::to_string(s.stop.best_epoch) + ":");
  s.print(res.confusion.format());
  s.print("final: val_loss " + fmt("%.4f", fin.loss) + "  val_acc " + fmt("%.4f", fin.accuracy) + " (best epoch " +
          std::to_string(s.stop.best_epoch) + " of " + std::to_string(last_epoch) + ")");
  if (s.steps_this_process > 0) {
    const LaunchCounts lc = net.last_step_launches();
    res.step_kernel_launches = lc.kernels, res.step_graph_launches = lc.graphs;
    s.print("launches per training step: " + std::to_string(lc.kernels) + " kernels, " + std::to_string(lc.graphs) +
            " CUDA graphs" + (s.gpu ? " (plus the batch gather before each replay)" : ""));
  }
  if (!net.capture_note().empty()) s.print("note: " + net.capture_note());
  if (s.dist_check)
    s.print("replica check: parameters bit-identical on " + std::to_string(s.ranks) + " rank(s) after each of " +
            std::to_string(s.replica_checks) + " steps");
  s.print("wrote " + s.cfg.out + ", " + s.cfg.metrics + ", " + s.confusion_path);
  res.history = s.history;
  res.final_val_loss = fin.loss;
  res.final_val_accuracy = fin.accuracy;
  res.best_epoch = s.stop.best_epoch;
  res.stopped_early = s.stopped;
  res.train_images_per_s = s.train_seconds_total > 0 ? s.train_images_total / s.train_seconds_total : 0;
  return res;
}

TrainResult TrainingSession::run() {
  while (!done()) run_epoch();
  return finish();
}

}  // namespace lc

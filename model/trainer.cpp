// The trainer (see trainer.h): data, network, epochs, validation, early stopping, checkpoints,
// metrics, resume.
#include "model/trainer.h"

#include <sys/stat.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "kernels/common/check.h"
#include "kernels/image/image.h"
#include "model/checkpoint.h"
#include "model/dataset.h"
#include "model/model_spec.h"
#include "model/output_set.h"
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

// The settings a checkpoint keeps in its meta section, and the ones that must match on resume.
struct Settings {
  TrainConfig& c;
  std::vector<std::pair<std::string, std::string>> list() const {
    return {{"seed", std::to_string(c.seed)},          {"batch", std::to_string(c.batch)},
            {"lr", exact(c.lr)},                       {"val_split", exact(c.val_split)},
            {"augment", c.augment},                    {"max_images", std::to_string(c.max_images)},
            {"patience", std::to_string(c.patience)},  {"min_delta", exact(c.min_delta)},
            {"epochs", std::to_string(c.epochs)}};
  }
};

const std::string* meta(const Checkpoint& ck, const std::string& key, const std::string& origin) {
  const std::string* v = ck.find_meta(key);
  LC_CHECK(v != nullptr, "checkpoint ", origin, ": no '", key, "' setting: not written by `landcover train`");
  return v;
}

// Takes the resumed run's settings; an explicit option that disagrees is an error.
void apply_resume_settings(TrainConfig& c, const Checkpoint& ck) {
  const std::string& o = c.resume;
  auto differs = [&](const char* opt, const std::string& mine, const std::string& theirs) {
    LC_CHECK(!c.explicit_options.count(opt) || mine == theirs, opt, " ", mine, " differs from the value ", theirs,
             " the checkpoint ", o, " was trained with (leave it out to resume)");
  };
  const auto seed = std::stoull(*meta(ck, "seed", o));
  differs("--seed", std::to_string(c.seed), std::to_string(seed));
  c.seed = seed;
  const int batch = std::stoi(*meta(ck, "batch", o));
  differs("--batch", std::to_string(c.batch), std::to_string(batch));
  c.batch = batch;
  const double lr = std::stod(*meta(ck, "lr", o));
  differs("--lr", exact(c.lr), exact(lr));
  c.lr = lr;
  const double vs = std::stod(*meta(ck, "val_split", o));
  differs("--val-split", exact(c.val_split), exact(vs));
  c.val_split = vs;
  const std::string aug = *meta(ck, "augment", o);
  differs("--augment", c.augment, aug);
  c.augment = aug;
  const int mi = std::stoi(*meta(ck, "max_images", o));
  differs("--max-images", std::to_string(c.max_images), std::to_string(mi));
  c.max_images = mi;
  const int pat = std::stoi(*meta(ck, "patience", o));
  differs("--patience", std::to_string(c.patience), std::to_string(pat));
  c.patience = pat;
  const double md = std::stod(*meta(ck, "min_delta", o));
  differs("--min-delta", exact(c.min_delta), exact(md));
  c.min_delta = md;
  if (!c.explicit_options.count("--epochs")) c.epochs = std::stoi(*meta(ck, "epochs", o));
  LC_CHECK(!c.explicit_options.count("--model"), "--model cannot be combined with --resume: the checkpoint ", o,
           " holds its model");
  const std::string* done = ck.find_meta("complete");
  LC_CHECK(!(done && *done == "1"), "checkpoint ", o,
           " is of a finished run (its best weights were restored); nothing to resume");
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

TrainResult train(const TrainConfig& config, const TrainCallbacks& cb) {
  TrainConfig cfg = config;
  auto print = [&](const std::string& s) {
    if (cb.print)
      cb.print(s);
    else
      std::printf("%s\n", s.c_str()), std::fflush(stdout);
  };
  auto note = [&](const std::string& s) {
    if (cb.note)
      cb.note(s);
    else
      std::fprintf(stderr, "landcover: %s\n", s.c_str());
  };

  // ---- Settings, model, resume point
  std::optional<Checkpoint> ck;
  ModelSpec spec;
  if (!cfg.resume.empty()) {
    ck = load_checkpoint(cfg.resume);
    apply_resume_settings(cfg, *ck);
    spec = parse_model_json(ck->model_json, "checkpoint " + cfg.resume + " model");
  } else if (!cfg.model_path.empty()) {
    spec = load_model_file(cfg.model_path);
  } else {
    spec = parse_model_json(default_model_json(), "built-in eurosat_cnn");
  }
  LC_CHECK(!cfg.data_dir.empty(), "--data is required");
  LC_CHECK(cfg.epochs >= 1, "--epochs must be at least 1, got ", cfg.epochs);
  LC_CHECK(cfg.batch >= 1 && cfg.batch <= 65536, "--batch must be in 1..65536, got ", cfg.batch);
  LC_CHECK(cfg.lr > 0 && std::isfinite(cfg.lr), "--lr must be positive, got ", cfg.lr);
  LC_CHECK(cfg.val_split > 0 && cfg.val_split < 1, "--val-split must be in (0, 1), got ", cfg.val_split);
  LC_CHECK(cfg.patience >= 0, "--patience must be >= 0, got ", cfg.patience);
  LC_CHECK(cfg.min_delta >= 0, "--min-delta must be >= 0, got ", cfg.min_delta);
  LC_CHECK(cfg.max_images >= 0, "--max-images must be >= 0, got ", cfg.max_images);
  const Augment augment = parse_augment(cfg.augment);
  LC_CHECK(spec.height == spec.width && spec.channels == 3, "model '", spec.name, "' takes ", spec.height, "x",
           spec.width, "x", spec.channels, " images; training needs square RGB input");
  LC_CHECK(augment != Augment::flip_rot90 || spec.height == spec.width, "--augment flip+rot90 needs square images");
  if (cfg.metrics.empty()) cfg.metrics = strip_extension(cfg.out) + "_metrics.csv";
  const std::string confusion_path = strip_extension(cfg.metrics) + "_confusion.csv";

  // ---- Outputs: checked, locked and cleared of stale temporary files before any work.
  OutputSet outputs;
  outputs.add(cfg.out, "--out");
  outputs.add(cfg.metrics, "--metrics");
  outputs.add(confusion_path, "confusion matrix");
  outputs.open();
  check_out_replaceable(cfg.out, cfg.resume);

  // ---- Backend
  const BackendKind kind = parse_backend(cfg.backend);
  {
    const BackendStatus st = backend_status(kind);
    if (!st.usable) throw Error(std::string("backend ") + backend_name(kind) + " is not usable: " + st.why);
  }
  Backend backend(kind);
  Device& dev = backend.device();
  const stream_t stream = backend.stream();
  if (ck) {
    const std::string* was = ck->find_meta("backend");
    if (was && *was != backend.name())
      note("warning: resuming a run trained on backend " + *was + " with " + backend.name() +
           ": the numbers will not match an uninterrupted run exactly");
  }

  // ---- Data
  DatasetOptions dopt;
  dopt.image_size = spec.height;
  dopt.max_images_per_class = cfg.max_images;
  dopt.use_cache = cfg.use_cache;
  dopt.cache_dir = cfg.cache_dir;
  dopt.note = note;
  dopt.warn = [&](const std::string& s) { note("warning: " + s); };
  const Dataset ds = load_dataset(cfg.data_dir, dopt);
  const int classes = ds.num_classes();
  LC_CHECK(classes >= 2, "data set ", ds.root, " has ", classes, " class; training needs at least 2");
  if (ck)
    LC_CHECK(ck->class_names == ds.class_names, "checkpoint ", cfg.resume, " was trained on other classes than ",
             ds.root, " holds");
  const Split split = stratified_split(ds.labels, classes, cfg.seed, cfg.val_split);
  const auto n_train = std::int64_t(split.train.size()), n_val = std::int64_t(split.val.size());
  const std::int64_t steps = n_train / cfg.batch;
  LC_CHECK(steps >= 1, "only ", n_train, " training images: fewer than one batch of ", cfg.batch);
  LC_CHECK(n_val >= 1, "no validation images: the data set is too small for --val-split ", cfg.val_split);
  const DeviceDataset dd = upload_dataset(ds, dev, stream);
  const auto* images = dd.images.data<std::uint8_t>();
  const int S = ds.image_size;

  // ---- Network
  NetworkOptions nopt;
  nopt.batch = cfg.batch;
  nopt.seed = cfg.seed;
  nopt.lr = float(cfg.lr);
  Network net(spec, classes, backend, nopt);
  net.init_parameters(cfg.seed);
  const std::vector<ParamView>& pv = net.params();

  // Host copies of the whole parameter / state buffers <-> named tensors.
  auto download = [&](const float* dev_ptr, std::int64_t floats) {
    std::vector<float> h(std::size_t(std::max<std::int64_t>(floats, 0)));
    if (floats) dev.copy_d2h(h.data(), dev_ptr, h.size() * 4, stream);
    return h;
  };
  auto snapshot = [&](bool trainable_only, const float* p_dev, const float* s_dev) {
    const auto hp = download(p_dev, net.param_buffer_floats());
    const auto hs = s_dev ? download(s_dev, net.state_buffer_floats()) : std::vector<float>{};
    std::vector<NamedTensor> out;
    for (int pass = 0; pass < 2; ++pass)
      for (const ParamView& v : pv) {
        if (v.trainable != (pass == 0) || (trainable_only && !v.trainable)) continue;
        const float* src = (v.trainable ? hp.data() : hs.data()) + v.offset;
        out.push_back({v.name, v.shape, std::vector<float>(src, src + v.numel)});
      }
    return out;
  };
  auto upload_tensors = [&](const std::vector<NamedTensor>& list, float* p_dev, float* s_dev) {
    std::vector<float> hp = download(p_dev, net.param_buffer_floats());
    std::vector<float> hs = s_dev ? download(s_dev, net.state_buffer_floats()) : std::vector<float>{};
    for (const NamedTensor& t : list) {
      const ParamView& v = net.param(t.name);
      LC_CHECK(t.numel() == v.numel, "tensor ", t.name, " has ", t.numel(), " values, the model expects ", v.numel);
      float* dst = (v.trainable ? hp.data() : hs.data()) + v.offset;
      std::copy(t.data.begin(), t.data.end(), dst);
    }
    if (!hp.empty()) dev.copy_h2d(p_dev, hp.data(), hp.size() * 4, stream);
    if (s_dev && !hs.empty()) dev.copy_h2d(s_dev, hs.data(), hs.size() * 4, stream);
    backend.synchronize();
  };

  std::vector<EpochMetrics> history;
  EarlyStopState stop;
  std::int64_t start_epoch = 0, global_step = 0;
  if (ck) {
    check_checkpoint_shapes(*ck, net.layers(), cfg.resume);
    check_checkpoint_finite(*ck, cfg.resume);
    LC_CHECK(!ck->adam.m.empty(), "checkpoint ", cfg.resume, " has no optimizer state to resume from");
    LC_CHECK(ck->position.step == 0, "checkpoint ", cfg.resume, " stops inside an epoch (step ", ck->position.step,
             "); only epoch boundaries can be resumed");
    upload_tensors(ck->params, net.param_buffer(), net.state_buffer());
    upload_tensors(ck->adam.m, net.adam_m_buffer(), nullptr);
    upload_tensors(ck->adam.v, net.adam_v_buffer(), nullptr);
    net.set_optimizer_step(ck->adam.t);
    start_epoch = ck->position.epoch;
    global_step = ck->position.global_step;
    LC_CHECK(ck->adam.t == global_step, "checkpoint ", cfg.resume, ": Adam step ", ck->adam.t, " != global step ",
             global_step);
    history = ck->history;
    stop = ck->early_stop;
    LC_CHECK(std::int64_t(history.size()) == start_epoch, "checkpoint ", cfg.resume, ": ", history.size(),
             " epochs of history for ", start_epoch, " epochs completed");
    note("resuming " + cfg.resume + " after epoch " + std::to_string(start_epoch) + " (step " +
         std::to_string(global_step) + ")");
  }

  print("model " + spec.name + ": " + std::to_string(net.layers().size()) + " layers, " +
        std::to_string(net.parameter_count()) + " parameters, " + std::to_string(classes) + " classes; arena peak " +
        fmt("%.2f", double(net.arena_bytes()) / (1 << 20)) + " MiB; backend " + backend.name());
  print("data " + ds.root + ": " + std::to_string(ds.size()) + " images, " + std::to_string(n_train) + " train / " +
        std::to_string(n_val) + " val, " + std::to_string(steps) + " steps of " + std::to_string(cfg.batch) +
        " per epoch");

  // ---- Device-side index lists: validation once, training once per epoch.
  Tensor val_idx = Tensor::empty(dev, {n_val}, DType::i32), val_lab = Tensor::empty(dev, {n_val}, DType::i32);
  Tensor val_pred = Tensor::zeros(dev, {n_val}, DType::i32);
  std::vector<std::int32_t> val_labels_host(static_cast<std::size_t>(n_val));
  for (std::int64_t i = 0; i < n_val; ++i) val_labels_host[std::size_t(i)] = ds.labels[std::size_t(split.val[std::size_t(i)])];
  val_idx.upload(split.val.data(), stream);
  val_lab.upload(val_labels_host.data(), stream);
  Tensor order_dev = Tensor::empty(dev, {steps * cfg.batch}, DType::i32);
  Tensor order_lab = Tensor::empty(dev, {steps * cfg.batch}, DType::i32);

  GatherBatchArgs gtrain;
  gtrain.num_images = std::int64_t(ds.size());
  gtrain.batch = cfg.batch;
  gtrain.height = gtrain.width = S;
  gtrain.channels = 3;
  gtrain.augment = augment;
  gtrain.seed = cfg.seed;
  std::int64_t step_in_epoch = 0;
  auto fill = [&](stream_t s) {
    GatherBatchArgs a = gtrain;
    a.step = std::uint64_t(global_step);
    gather(kind, a, images, order_dev.data<std::int32_t>() + step_in_epoch * cfg.batch, net.input().data<float>(), s);
    dev.copy_d2d(net.labels().data(), order_lab.data<std::int32_t>() + step_in_epoch * cfg.batch,
                 std::size_t(cfg.batch) * 4, s);
  };
  // On cuda/cudnn the gather's step and index offset are host arguments (kernels/image), which a
  // captured graph would freeze: there it runs before each replay instead of inside it.
  const bool gpu = kind == BackendKind::cuda || kind == BackendKind::cudnn;
  if (!gpu) net.set_batch_source(fill);

  auto evaluate = [&](ConfusionMatrix* cm) {
    LC_NVTX_RANGE("eval");
    net.reset_eval_totals();
    GatherBatchArgs a = gtrain;
    a.augment = Augment::none;
    a.step = 0;
    for (std::int64_t b = 0; b * cfg.batch < n_val; ++b) {
      const int n = int(std::min<std::int64_t>(cfg.batch, n_val - b * cfg.batch));
      a.batch = n;
      gather(kind, a, images, val_idx.data<std::int32_t>() + b * cfg.batch, net.input().data<float>(), stream);
      dev.copy_d2d(net.labels().data(), val_lab.data<std::int32_t>() + b * cfg.batch, std::size_t(n) * 4, stream);
      net.eval_batch(n, val_pred.data<std::int32_t>() + b * cfg.batch);
    }
    const Totals t = net.read_eval_totals();
    LC_CHECK(t.invalid_labels == 0, "validation: ", t.invalid_labels, " labels out of range");
    LC_CHECK(t.samples == n_val, "validation covered ", t.samples, " of ", n_val, " images");
    if (cm) {
      const auto pred = val_pred.to_host<std::int32_t>(stream);
      *cm = ConfusionMatrix(ds.class_names);
      cm->add(val_labels_host.data(), pred.data(), pred.size());
    }
    return t;
  };

  auto make_checkpoint = [&](std::int64_t epochs_done, bool complete) {
    Checkpoint c;
    c.model_json = model_to_json(spec);
    c.class_names = ds.class_names;
    c.input_height = spec.height, c.input_width = spec.width, c.input_channels = spec.channels;
    c.params = snapshot(false, net.param_buffer(), net.state_buffer());
    c.adam.t = net.optimizer_step();
    c.adam.lr = cfg.lr, c.adam.beta1 = nopt.beta1, c.adam.beta2 = nopt.beta2, c.adam.epsilon = nopt.epsilon;
    c.adam.m = snapshot(true, net.adam_m_buffer(), nullptr);
    c.adam.v = snapshot(true, net.adam_v_buffer(), nullptr);
    c.position = {epochs_done, 0, global_step};
    c.seed = cfg.seed;
    c.rng = {{"shuffle", "splitmix64 Fisher-Yates keyed by seed ^ 0xD1B54A32D192ED03 * epoch (model/trainer.h)"},
             {"augment", "philox4x32-10 keyed by (seed, global step, batch position) (kernels/image/image.h)"},
             {"dropout", "philox4x32-10 keyed by (seed, layer, Adam step) (kernels/dropout/dropout.h)"}};
    c.early_stop = stop;
    c.history = history;
    Settings st{cfg};
    c.meta = st.list();
    c.meta.push_back({"backend", backend.name()});
    c.meta.push_back({"data", ds.root});
    c.meta.push_back({"steps_per_epoch", std::to_string(steps)});
    c.meta.push_back({"complete", complete ? "1" : "0"});
    return c;
  };

  TrainResult res;
  res.backend = backend.name();
  res.arena_bytes = net.arena_bytes();
  res.steps_per_epoch = steps;
  res.metrics_path = cfg.metrics;
  res.confusion_path = confusion_path;

  // ---- Epochs
  std::int64_t steps_this_process = 0;
  double train_seconds_total = 0, train_images_total = 0;
  // A run that stopped early and was interrupted before its final checkpoint stays stopped.
  bool stopped = !history.empty() && stop.epochs_without_improvement >= cfg.patience;
  for (std::int64_t epoch = start_epoch + 1; epoch <= cfg.epochs && !stopped; ++epoch) {
    LC_NVTX_RANGE("epoch ", epoch);
    const auto t0 = Clock::now();
    const std::vector<std::int32_t> order = epoch_order(split.train, cfg.seed, epoch);
    std::vector<std::int32_t> order_labels(std::size_t(steps * cfg.batch));
    for (std::size_t i = 0; i < order_labels.size(); ++i) order_labels[i] = ds.labels[std::size_t(order[i])];
    dev.copy_h2d(order_dev.data(), order.data(), order_labels.size() * 4, stream);
    dev.copy_h2d(order_lab.data(), order_labels.data(), order_labels.size() * 4, stream);
    net.reset_train_totals();
    for (step_in_epoch = 0; step_in_epoch < steps; ++step_in_epoch) {
      if (cfg.interrupt_after_steps > 0 && steps_this_process == cfg.interrupt_after_steps)
        throw Error("interrupted (test hook) after " + std::to_string(steps_this_process) + " steps");
      LC_NVTX_RANGE("step ", global_step);
      if (gpu) fill(stream);
      net.train_step();
      ++global_step, ++steps_this_process;
      if (cb.step)
        cb.step(int(epoch), cfg.epochs, step_in_epoch + 1, steps,
                double(step_in_epoch + 1) * cfg.batch / std::max(seconds_since(t0), 1e-9));
    }
    const Totals tr = net.read_train_totals();  // synchronises: the epoch's work is done
    const double train_s = seconds_since(t0);
    LC_CHECK(tr.invalid_labels == 0, "training: ", tr.invalid_labels, " labels out of range");
    train_seconds_total += train_s;
    train_images_total += double(steps * cfg.batch);
    const Totals va = evaluate(nullptr);

    EpochMetrics m;
    m.epoch = epoch;
    m.loss = tr.mean_loss();
    m.accuracy = tr.accuracy();
    m.val_loss = va.mean_loss();
    m.val_accuracy = va.accuracy();
    m.seconds = seconds_since(t0);
    m.images_per_s = double(steps * cfg.batch) / train_s;
    m.lr = cfg.lr;
    history.push_back(m);
    LC_CHECK(std::isfinite(m.loss), "training diverged: loss is ", m.loss, " in epoch ", epoch);

    // Early stopping (Keras): improvement when val_loss < best - min_delta.
    if (m.val_loss < stop.best_val_loss - cfg.min_delta) {
      stop.best_val_loss = m.val_loss;
      stop.best_epoch = epoch;
      stop.epochs_without_improvement = 0;
      stop.best_weights = snapshot(false, net.param_buffer(), net.state_buffer());
    } else {
      ++stop.epochs_without_improvement;
      if (stop.epochs_without_improvement >= cfg.patience) stopped = true;
    }
    if (cb.epoch_end) cb.epoch_end();
    char line[256];
    std::snprintf(line, sizeof line,
                  "epoch %" PRId64 "/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  %.1f s  %.0f img/s%s",
                  epoch, cfg.epochs, m.loss, m.accuracy, m.val_loss, m.val_accuracy, m.seconds, m.images_per_s,
                  stop.best_epoch == epoch ? "  *" : "");
    print(line);
    // Metrics first: a run killed between the two files resumes from the older checkpoint and
    // rewrites the metrics from its history.
    outputs.replace(cfg.metrics, metrics_csv(history));
    const std::vector<std::uint8_t> bytes = serialize_checkpoint(make_checkpoint(epoch, false), cfg.out);
    outputs.replace(cfg.out, bytes.data(), bytes.size());
    if (stopped)
      print("early stop: no improvement of val_loss by " + fmt("%g", cfg.min_delta) + " for " +
            std::to_string(cfg.patience) + " epochs");
  }

  // ---- Restore the best weights, evaluate them, write the final checkpoint.
  if (!stop.best_weights.empty()) upload_tensors(stop.best_weights, net.param_buffer(), net.state_buffer());
  const Totals fin = evaluate(&res.confusion);
  const std::int64_t last_epoch = history.empty() ? 0 : history.back().epoch;
  {
    const std::vector<std::uint8_t> bytes = serialize_checkpoint(make_checkpoint(last_epoch, true), cfg.out);
    outputs.replace(cfg.out, bytes.data(), bytes.size());
  }
  outputs.replace(confusion_path, res.confusion.csv());
  print("validation confusion matrix (rows: true class, columns: predicted), weights of epoch " +
        std::to_string(stop.best_epoch) + ":");
  print(res.confusion.format());
  print("final: val_loss " + fmt("%.4f", fin.mean_loss()) + "  val_acc " + fmt("%.4f", fin.accuracy()) +
        " (best epoch " + std::to_string(stop.best_epoch) + " of " + std::to_string(last_epoch) + ")");
  if (steps_this_process > 0) {
    const LaunchCounts lc = net.last_step_launches();
    res.step_kernel_launches = lc.kernels, res.step_graph_launches = lc.graphs;
    print("launches per training step: " + std::to_string(lc.kernels) + " kernels, " + std::to_string(lc.graphs) +
          " CUDA graphs" + (gpu ? " (plus the batch gather before each replay)" : ""));
  }
  print("wrote " + cfg.out + ", " + cfg.metrics + ", " + confusion_path);

  res.history = history;
  res.final_val_loss = fin.mean_loss();
  res.final_val_accuracy = fin.accuracy();
  res.best_epoch = stop.best_epoch;
  res.stopped_early = stopped;
  res.train_images_per_s = train_seconds_total > 0 ? train_images_total / train_seconds_total : 0;
  return res;
}

}  // namespace lc

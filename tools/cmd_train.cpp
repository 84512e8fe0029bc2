// `landcover train`: trains the model on a class-per-folder data set (model/trainer.h) with
// docs/MODEL.md's defaults, each overridable; a progress bar with images/s and ETA on a terminal,
// plain lines otherwise (tools/progress.h); one line per epoch; checkpoint, metrics CSV and the
// validation confusion matrix.
// Depends on: model/trainer.h, tools/data_fetch.h (--data eurosat), tools/progress.h,
// tools/command.h, CLI11.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "kernels/common/check.h"
#include "model/trainer.h"
#include "runtime/comm.h"
#include "tools/command.h"
#include "tools/data_fetch.h"
#include "tools/progress.h"

namespace {

struct Options {
  lc::TrainConfig cfg;
  std::string seed_text = "42";
  bool no_cache = false;
};

void run_train(CLI::App* cmd, Options& o) {
  lc::TrainConfig cfg = o.cfg;
  // --seed accepts any unsigned 64-bit value (CLI11 would parse it through a signed type).
  try {
    std::size_t used = 0;
    cfg.seed = std::stoull(o.seed_text, &used, 0);
    if (used != o.seed_text.size() || o.seed_text.find('-') != std::string::npos) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw lc::Error("--seed must be an unsigned integer, got '" + o.seed_text + "'");
  }
  cfg.use_cache = !o.no_cache;
  // `--data eurosat`: the fetched copy (fetched first when missing), unless a folder has that name.
  if (cfg.data_dir == "eurosat" && !std::filesystem::exists(cfg.data_dir))
    cfg.data_dir = lc::tools::fetched_dataset_dir("eurosat");
  for (const CLI::Option* opt : cmd->get_options())
    if (opt->count() > 0) cfg.explicit_options.insert(opt->get_name());

  std::unique_ptr<lc::tools::Progress> bar;
  const int ranks = lc::world().size();  // the bar counts the images of all ranks (global batch)
  lc::TrainCallbacks cb;
  cb.step = [&](int epoch, int epochs, std::int64_t done, std::int64_t total, double) {
    if (!bar)
      bar = std::make_unique<lc::tools::Progress>("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs),
                                                  total * cfg.batch * ranks, "img");
    bar->update(done * cfg.batch * ranks);
  };
  cb.epoch_end = [&] {
    if (bar) bar->finish();
    bar.reset();
  };
  cb.note = [&](const std::string& s) { std::fprintf(stderr, "landcover: %s\n", s.c_str()); };
  lc::TrainingSession session(cfg, cb);
  while (!session.done()) session.run_epoch();
  const lc::TrainResult r = session.finish();
  if (lc::world().rank() == 0)
    std::printf("final validation accuracy %.4f (%d classes, chance %.4f), %.0f img/s training on %s\n",
                r.final_val_accuracy, r.confusion.classes(), 1.0 / r.confusion.classes(), r.train_images_per_s,
                r.backend.c_str());
}

void setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  lc::TrainConfig& c = o->cfg;
  CLI::App* cmd = app.add_subcommand("train", "Train the land-cover CNN on a class-per-folder image data set");
  cmd->add_option("--data", c.data_dir,
                  "Data set: one folder per class (EuroSAT's 2750/ or EuroSAT_RGB/), or eurosat: the copy "
                  "`landcover data fetch eurosat` makes (fetched first when missing)")
      ->required();
  cmd->add_option("--model", c.model_path, "JSON model file (default: the built-in model/eurosat_cnn.json)");
  cmd->add_option("--epochs", c.epochs, "Epochs")->capture_default_str();
  cmd->add_option("--batch", c.batch, "Images per training step")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--backend", c.backend, "auto | cuda | cudnn | sim | cpu")->capture_default_str();
  cmd->add_option("--seed", o->seed_text, "Seed of the split, initialisation, shuffling, augmentation, dropout")
      ->capture_default_str();
  cmd->add_option("--val-split", c.val_split, "Validation share, stratified per class")->capture_default_str();
  cmd->add_option("--patience", c.patience, "Early stopping: epochs without val_loss improvement")
      ->capture_default_str();
  cmd->add_option("--gsd", c.gsd_m, "Ground sampling distance of the training images in metres (kept in the checkpoint; "
                                    "segment warns on scenes more than 2x off)")
      ->capture_default_str();
  cmd->add_option("--min-delta", c.min_delta, "Early stopping: smallest val_loss decrease that counts")
      ->capture_default_str();
  cmd->add_option("--augment", c.augment, "none | flip | flip+rot90")->capture_default_str();
  cmd->add_option("--out", c.out, "Checkpoint file, rewritten atomically every epoch")->capture_default_str();
  cmd->add_option("--metrics", c.metrics, "Metrics CSV (default: <out without extension>_metrics.csv)");
  cmd->add_option("--resume", c.resume, "Continue the run saved in this checkpoint");
  cmd->add_option("--max-images", c.max_images, "Use only the first N images of each class (0: all)")
      ->capture_default_str();
  cmd->add_option("--cache-dir", c.cache_dir, "Folder of the decoded data cache (default: $XDG_CACHE_HOME/landcover)");
  cmd->add_flag("--sync-bn", c.sync_bn, "Several ranks: average batch-norm moving statistics over the ranks every step");
  cmd->add_flag("--no-cache", o->no_cache, "Decode the images every time; neither read nor write the cache");
  cmd->callback([cmd, o] { run_train(cmd, *o); });
}

}  // namespace

LC_REGISTER_COMMAND(train, setup);

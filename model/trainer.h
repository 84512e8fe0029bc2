// The trainer behind `landcover train`: docs/MODEL.md's recipe on a class-per-folder data set, as
// a TrainingSession (below) whose steps read like the recipe.
//   - data: loaded once (model/dataset.h, decoded cache), stratified split by --seed and
//     --val-split, uploaded to the device once;
//   - every epoch: the training indices shuffled (Fisher-Yates keyed by (seed, epoch), below),
//     uploaded once with their labels; floor(train / batch) steps, the last partial batch dropped;
//     each step gathers its batch on the device (kernels/image gather_batch: flip / rot90 keyed
//     by (seed, global step)), then Network::train_step (no host<->device copy inside);
//   - validation over ALL validation images (the last partial batch too), inference mode; loss,
//     accuracy and predictions accumulate on the device, read once per epoch;
//   - one line per epoch; metrics CSV rewritten after every epoch; checkpoint written atomically
//     after every epoch (model/checkpoint.h) with everything needed to resume exactly;
//   - early stopping on validation loss (Keras: improvement = val_loss < best - min_delta;
//     stop once `patience` epochs in a row brought none). At the end, the best epoch's weights
//     are restored (also when the last epoch ran out without an early stop: Keras restores only
//     on an early stop, which leaves a worse model in the file), evaluated once more, and their
//     validation confusion matrix printed and written as CSV. The final checkpoint holds those
//     weights and is marked complete (it cannot be resumed).
// Resume (--resume FILE): the checkpoint's settings that change the numbers (seed, batch, lr,
// val-split, augment, max-images, patience, min-delta, the model) are used, and giving a different
// value explicitly is an error; training continues at the next epoch with the saved weights,
// batch-norm statistics, Adam state and step: every random choice is a function of
// (seed, epoch, step), so the rest of the run is the same as if it had never stopped (on the same
// backend and machine).
// Data parallelism (runtime/comm.h; started by `mpirun -np N` or `srun`): R ranks, each with the
// whole data set and the same split and shuffle. --batch B is per rank; a step takes the global
// batch G = B x R: rank r trains on positions [t*G + r*B, t*G + (r+1)*B) of the epoch's order in
// step t, so R ranks x B see the same images per step as 1 rank x G; floor(train / G) steps per
// epoch. The gradient buffer is averaged over the ranks in one all-reduce per step (a node of the
// step, between backward and Adam; MPI on cpu/sim, NCCL on cuda/cudnn), so every rank applies
// the same update and holds the same parameters. Augmentation draws of rank r > 0 use the seed
// seed + r * 0x9E3779B97F4A7C15 (rank 0's are those of a one-rank run); dropout masks are keyed
// as in a one-rank run on every rank. Batch-norm moving statistics follow each rank's own batches
// during an epoch (--sync-bn: averaged over the ranks after every step); before validation rank
// 0's are copied to every rank, so the model validated is the model saved. Validation: rank r
// evaluates images [n*r/R, n*(r+1)/R) of the validation list; totals and predictions are summed
// over the ranks. Rank 0 alone prints, checks and locks the outputs and writes the checkpoint,
// the metrics and the confusion matrix. Resume works with any number of ranks (a different R
// changes the global batch: a note says so). LC_DIST_CHECK=1 compares a hash of every rank's
// parameters (with --sync-bn also its batch-norm statistics) with rank 0's after every step (an
// error names the first step that differs).
// Test hook: LC_TEST_FAULT=kill:R:S or hang:R:S makes rank R kill itself (SIGKILL) or sleep
// forever before its step S+1 of this process.
// Shuffle: for epoch e (1-based), a = training indices ascending; for i = n-1 down to 1:
// j = uniform(0..i), swap(a[i], a[j]); uniform draws r = splitmix64(state), state starting at
// seed ^ (0xD1B54A32D192ED03 * e), rejecting r < 2^64 mod (i+1), j = r mod (i+1).
// Depends on: runtime/graph.h, model/dataset.h, model/checkpoint.h, model/metrics.h,
// model/model_spec.h, kernels/image/image.h (gather_batch).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/metrics.h"

namespace lc {

struct TrainConfig {
  std::string data_dir;                 // --data: class-per-folder root (or the folder holding it)
  std::string model_path;               // --model: JSON model file; "" = the seed network
  int epochs = 5;                       // docs/MODEL.md
  int batch = 16;
  double lr = 1e-3;
  std::string backend = "auto";         // auto | cuda | cudnn | sim | cpu
  std::uint64_t seed = 42;
  double val_split = 0.2;
  int patience = 7;
  double min_delta = 0.001;
  double gsd_m = 10;  // ground sampling distance of the training images (metres; checkpoint meta gsd_m)
  std::string augment = "flip";         // none | flip | flip+rot90 (docs/MODEL.md: random horizontal flip)
  std::string out = "landcover.ckpt";   // checkpoint (rewritten every epoch)
  std::string metrics = "";             // metrics CSV; "" = <out without extension>_metrics.csv
  std::string resume;                   // checkpoint to continue from
  int max_images = 0;                   // per class; 0 = all
  std::string cache_dir;                // decoded data cache folder ("" = the default)
  bool use_cache = true;
  bool sync_bn = false;                 // --sync-bn: average batch-norm moving statistics over the ranks every step
  // Options the user gave explicitly (names as on the command line, e.g. "--seed"): on resume,
  // an explicit value that differs from the checkpoint's is an error.
  std::set<std::string> explicit_options;
  // Test hook: stop (as if killed) after this many training steps of this process (0 = never),
  // throwing lc::Error("interrupted") before the step runs.
  std::int64_t interrupt_after_steps = 0;
};

struct TrainCallbacks {
  // One line of output (summaries, epoch lines, the confusion matrix); "" = stdout.
  std::function<void(const std::string&)> print;
  // A note on stderr (cache notes, warnings); "" = stderr.
  std::function<void(const std::string&)> note;
  // After every training step: epoch (1-based), steps done in the epoch, steps per epoch, images
  // per second of this epoch so far. And once per epoch for validation (phase "val").
  std::function<void(int epoch, int epochs, std::int64_t done, std::int64_t total, double images_per_s)> step;
  // After every epoch, before its line is printed (so a progress bar can clear itself).
  std::function<void()> epoch_end;
};

struct TrainResult {
  std::vector<EpochMetrics> history;  // every epoch of the run, resumed ones included
  ConfusionMatrix confusion;          // validation, with the restored best weights
  double final_val_loss = 0, final_val_accuracy = 0;  // of the restored best weights
  std::int64_t best_epoch = 0;
  bool stopped_early = false;
  std::string backend;                // the backend that ran
  std::size_t arena_bytes = 0;        // the network's arena peak
  double train_images_per_s = 0;      // over the epochs of this process
  std::int64_t steps_per_epoch = 0;
  int ranks = 1;                      // data-parallel ranks (runtime/comm.h)
  std::int64_t replica_checks = 0;    // LC_DIST_CHECK=1: steps after which the ranks' parameters matched
  // Host launches of the last training step: kernels (0 when a CUDA Graph was replayed) and graphs.
  std::uint64_t step_kernel_launches = 0, step_graph_launches = 0;
  std::string metrics_path, confusion_path;
};

// One training run, as the recipe reads:
//   TrainingSession session(config, callbacks);  // settings, model, backend, data, network, resume
//   while (!session.done()) session.run_epoch();  // train, validate, early stopping, checkpoint
//   TrainResult r = session.finish();             // best weights restored, evaluated, final checkpoint
// (run() does exactly that). Every step throws lc::Error with a one-line message for bad input.
class TrainingSession {
 public:
  TrainingSession(const TrainConfig& config, const TrainCallbacks& callbacks = {});
  ~TrainingSession();
  TrainingSession(const TrainingSession&) = delete;
  TrainingSession& operator=(const TrainingSession&) = delete;

  const TrainConfig& config() const;  // with the resumed run's settings applied
  bool done() const;                  // all epochs ran, or early stopping stopped the run
  // One epoch: shuffled training steps, validation, early stopping, its line, the metrics CSV and
  // the checkpoint.
  const EpochMetrics& run_epoch();
  // Validation over every validation image with the current weights (inference mode); fills the
  // confusion matrix when given. Returns mean loss and accuracy.
  struct Evaluation {
    double loss = 0, accuracy = 0;
  };
  Evaluation evaluate(ConfusionMatrix* confusion = nullptr);
  // Restores the best epoch's weights, evaluates them, writes the final checkpoint (marked complete)
  // and the confusion matrix.
  TrainResult finish();
  TrainResult run();

 private:
  struct State;
  std::unique_ptr<State> s_;
  void load_settings();
  void prepare_data();
  void resume();
  void write_checkpoint(std::int64_t epochs_done, bool complete);
  void share_statistics();
  void check_replicas();
};

// The shuffled order of epoch `epoch` (see above): exposed for tests.
std::vector<std::int32_t> epoch_order(const std::vector<std::int32_t>& train, std::uint64_t seed, std::int64_t epoch);

}  // namespace lc

// The trainer (model/trainer.h) on a small synthetic class-per-folder data set written here as
// PNG files (3 colour classes, 16x16) with a small model file: determinism, resume equivalence,
// checkpoint contents, early stopping with restore-best, metrics files, bad input, the shuffle.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "kernels/common/check.h"
#include "model/checkpoint.h"
#include "model/image_io.h"
#include "model/metrics.h"
#include "model/model_spec.h"
#include "model/trainer.h"
#include "tests/support/files.h"

namespace lc::test {
namespace {

namespace fs = std::filesystem;

const char* kSmallModel = R"({"name": "small", "input": [16, 16, 3], "layers": [
  {"type": "batchnorm"},
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "flatten"},
  {"type": "dense", "units": 12, "activation": "elu"},
  {"type": "dropout", "rate": 0.25},
  {"type": "dense", "units": "classes"}]})";

// A temporary folder with the data set and the model file, removed at the end.
class CpuTrainer : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lc_trainer_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Class c: noise around a colour; the classes overlap a little so accuracy is not trivially 1.
    const char* names[] = {"blue", "green", "red"};
    std::mt19937 rng(7);
    for (int c = 0; c < 3; ++c) {
      fs::create_directories(dir_ + "/data/" + names[c]);
      for (int i = 0; i < 30; ++i) {
        std::vector<std::uint8_t> px(16 * 16 * 3);
        for (std::size_t p = 0; p < px.size(); ++p) {
          const int ch = int(p % 3);
          const int base = ch == 2 - c ? 150 : 90;
          px[p] = std::uint8_t(std::clamp(base + int(rng() % 101) - 50, 0, 255));
        }
        char file[64];
        std::snprintf(file, sizeof file, "/%s_%02d.png", names[c], i);
        write_png(dir_ + "/data/" + names[c] + file, 16, 16, 3, px.data());
      }
    }
    std::ofstream(dir_ + "/small.json") << kSmallModel;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  TrainConfig config(const std::string& name) const {
    TrainConfig c;
    c.data_dir = dir_ + "/data";
    c.model_path = dir_ + "/small.json";
    c.backend = "cpu";
    c.epochs = 3;
    c.batch = 8;
    c.lr = 3e-3;
    c.seed = 11;
    c.use_cache = false;
    c.out = dir_ + "/" + name + ".ckpt";
    c.metrics = dir_ + "/" + name + "_metrics.csv";
    return c;
  }
  static TrainCallbacks quiet() {
    TrainCallbacks cb;
    cb.print = [](const std::string&) {};
    cb.note = [](const std::string&) {};
    return cb;
  }
  std::string dir_;
};

// The columns that must be identical between runs (time columns are not).
void expect_same_numbers(const std::vector<EpochMetrics>& a, const std::vector<EpochMetrics>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].loss, b[i].loss) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].accuracy, b[i].accuracy) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].val_loss, b[i].val_loss) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy) << "epoch " << a[i].epoch;
  }
}

const NamedTensor& find(const std::vector<NamedTensor>& list, const std::string& name) {
  for (const auto& t : list)
    if (t.name == name) return t;
  throw Error("no tensor " + name);
}

TEST_F(CpuTrainer, LearnsAndWritesItsFiles) {
  const TrainConfig c = config("a");
  const TrainResult r = TrainingSession(c, quiet()).run();
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.steps_per_epoch, 72 / 8);  // 90 images, 18 for validation, 72 / 8 steps
  // Colour classes are easy: well above chance (1/3) after three epochs.
  EXPECT_GT(r.final_val_accuracy, 0.8) << "val accuracy " << r.final_val_accuracy;
  EXPECT_EQ(r.confusion.total(), 18);
  EXPECT_DOUBLE_EQ(r.confusion.accuracy(), r.final_val_accuracy);
  // Metrics CSV: the same history, parsed back.
  const auto parsed = parse_metrics_csv(read_text_file(c.metrics), c.metrics);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_NEAR(parsed[2].val_accuracy, r.history[2].val_accuracy, 1e-6);
  EXPECT_TRUE(fs::exists(r.confusion_path));
  // The final checkpoint: complete, the model and classes, the position, Adam's step.
  const Checkpoint ck = load_checkpoint(c.out);
  EXPECT_EQ(ck.class_names, (std::vector<std::string>{"blue", "green", "red"}));
  EXPECT_EQ(model_to_json(parse_model_json(ck.model_json)), model_to_json(parse_model_json(kSmallModel)));
  EXPECT_EQ(ck.position.epoch, 3);
  EXPECT_EQ(ck.position.global_step, 27);
  EXPECT_EQ(ck.adam.t, 27);
  ASSERT_NE(ck.find_meta("complete"), nullptr);
  EXPECT_EQ(*ck.find_meta("complete"), "1");
  EXPECT_EQ(ck.history.size(), 3u);
  EXPECT_EQ(ck.early_stop.best_epoch, r.best_epoch);
  // The stored weights are the restored best ones.
  ASSERT_FALSE(ck.early_stop.best_weights.empty());
  for (const auto& t : ck.params) EXPECT_EQ(t.data, find(ck.early_stop.best_weights, t.name).data) << t.name;
  // Resuming a finished run is refused.
  TrainConfig again = c;
  again.resume = c.out;
  EXPECT_THROW(TrainingSession(again, quiet()).run(), Error);
}

TEST_F(CpuTrainer, IsDeterministic) {
  const TrainResult a = TrainingSession(config("a"), quiet()).run();
  const TrainResult b = TrainingSession(config("b"), quiet()).run();
  expect_same_numbers(a.history, b.history);
  const Checkpoint ca = load_checkpoint(config("a").out), cb = load_checkpoint(config("b").out);
  ASSERT_EQ(ca.params.size(), cb.params.size());
  for (std::size_t i = 0; i < ca.params.size(); ++i) EXPECT_EQ(ca.params[i].data, cb.params[i].data) << ca.params[i].name;
  // Another seed gives other numbers.
  TrainConfig c = config("c");
  c.seed = 12;
  const TrainResult d = TrainingSession(c, quiet()).run();
  EXPECT_NE(d.history[0].loss, a.history[0].loss);
}

// Stop a run in its third epoch (the checkpoint then holds epoch 2), resume it: the metrics and
// the final weights equal those of an uninterrupted run, bit for bit.
TEST_F(CpuTrainer, ResumeContinuesExactly) {
  const TrainResult whole = TrainingSession(config("whole"), quiet()).run();
  TrainConfig cut = config("cut");
  cut.interrupt_after_steps = 2 * 9 + 4;
  EXPECT_THROW(TrainingSession(cut, quiet()).run(), Error);
  const Checkpoint mid = load_checkpoint(cut.out);
  EXPECT_EQ(mid.position.epoch, 2);
  EXPECT_EQ(*mid.find_meta("complete"), "0");
  TrainConfig resume;
  resume.data_dir = cut.data_dir;
  resume.backend = "cpu";
  resume.use_cache = false;
  resume.out = cut.out;
  resume.metrics = cut.metrics;
  resume.resume = cut.out;
  const TrainResult rest = TrainingSession(resume, quiet()).run();
  expect_same_numbers(rest.history, whole.history);
  EXPECT_EQ(rest.final_val_accuracy, whole.final_val_accuracy);
  const Checkpoint a = load_checkpoint(config("whole").out), b = load_checkpoint(cut.out);
  for (std::size_t i = 0; i < a.params.size(); ++i) EXPECT_EQ(a.params[i].data, b.params[i].data) << a.params[i].name;
  for (std::size_t i = 0; i < a.adam.m.size(); ++i) EXPECT_EQ(a.adam.m[i].data, b.adam.m[i].data) << a.adam.m[i].name;
  EXPECT_EQ(a.adam.t, b.adam.t);
}

TEST_F(CpuTrainer, ResumeRefusesConflictingSettings) {
  TrainConfig cut = config("cut");
  cut.interrupt_after_steps = 9 + 1;
  EXPECT_THROW(TrainingSession(cut, quiet()).run(), Error);
  TrainConfig resume = cut;
  resume.interrupt_after_steps = 0;
  resume.model_path.clear();
  resume.resume = cut.out;
  resume.seed = 99;
  resume.explicit_options = {"--seed"};
  try {
    TrainingSession(resume, quiet()).run();
    ADD_FAILURE() << "resume with another --seed must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--seed 99 differs"), std::string::npos) << e.what();
  }
}

// Early stopping: min_delta so large that only the first epoch counts as an improvement, patience
// 1: the run stops after epoch 2 and the final weights are epoch 1's (equal to a 1-epoch run's).
TEST_F(CpuTrainer, EarlyStoppingRestoresTheBestEpoch) {
  TrainConfig one = config("one");
  one.epochs = 1;
  TrainingSession(one, quiet()).run();
  TrainConfig es = config("es");
  es.epochs = 5;
  es.patience = 1;
  es.min_delta = 100;
  const TrainResult r = TrainingSession(es, quiet()).run();
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.best_epoch, 1);
  EXPECT_EQ(r.final_val_loss, r.history[0].val_loss);
  const Checkpoint a = load_checkpoint(one.out), b = load_checkpoint(es.out);
  for (std::size_t i = 0; i < a.params.size(); ++i) EXPECT_EQ(a.params[i].data, b.params[i].data) << a.params[i].name;
}

// Restore-best when training runs to its last epoch and the best epoch is not the last: min_delta
// so large that only epoch 1 counts as an improvement, patience 10 so no early stop in 3 epochs.
// (The validation loss of this data set falls steadily, so a min_delta that makes a middle epoch
// the last improvement does not exist; the trick above gives the same situation: the final
// weights must be restored although training did not stop early.) They must equal a 1-epoch
// run's, and differ from the last epoch's (a plain 3-epoch run's).
TEST_F(CpuTrainer, RestoresTheBestEpochWhenTrainingRunsToTheEnd) {
  TrainConfig one = config("one");
  one.epochs = 1;
  TrainingSession(one, quiet()).run();
  TrainConfig full = config("full");
  full.epochs = 3;
  full.patience = 10;
  full.min_delta = 100;
  const TrainResult r = TrainingSession(full, quiet()).run();
  EXPECT_FALSE(r.stopped_early);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.best_epoch, 1);
  EXPECT_EQ(r.final_val_loss, r.history[0].val_loss);
  const Checkpoint a = load_checkpoint(one.out), b = load_checkpoint(full.out);
  ASSERT_EQ(a.params.size(), b.params.size());
  for (std::size_t i = 0; i < a.params.size(); ++i) EXPECT_EQ(a.params[i].data, b.params[i].data) << a.params[i].name;
  TrainConfig plain = config("plain");
  plain.epochs = 3;
  plain.patience = 10;
  plain.min_delta = 0;
  const TrainResult p = TrainingSession(plain, quiet()).run();
  ASSERT_EQ(p.best_epoch, 3) << "the plain run's last epoch is its best";
  const Checkpoint last = load_checkpoint(plain.out);
  bool differs = false;
  for (std::size_t i = 0; i < a.params.size(); ++i) differs |= a.params[i].data != last.params[i].data;
  EXPECT_TRUE(differs) << "epoch 1's weights equal epoch 3's: the test cannot tell them apart";
}

// Batch 1: every step's batch-norm statistics come from one image; training still learns.
TEST_F(CpuTrainer, TrainsAtBatchOne) {
  TrainConfig c = config("b1");
  c.batch = 1;
  c.epochs = 1;
  c.lr = 1e-3;
  const TrainResult r = TrainingSession(c, quiet()).run();
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_EQ(r.steps_per_epoch, 72);
  EXPECT_TRUE(std::isfinite(r.history[0].loss) && std::isfinite(r.history[0].val_loss));
  EXPECT_GT(r.final_val_accuracy, 0.6) << "val accuracy " << r.final_val_accuracy;
  const Checkpoint ck = load_checkpoint(c.out);
  EXPECT_EQ(ck.position.global_step, 72);
  EXPECT_EQ(ck.adam.t, 72);
  for (const auto& t : ck.params)
    for (float v : t.data) ASSERT_TRUE(std::isfinite(v)) << t.name;
}

// A learning rate that blows the weights up: the run stops with "training diverged" after the
// first epoch, and writes no checkpoint of the diverged weights.
TEST_F(CpuTrainer, StopsWhenTrainingDiverges) {
  TrainConfig c = config("div");
  c.lr = 1e30;
  try {
    TrainingSession(c, quiet()).run();
    ADD_FAILURE() << "training with lr 1e30 did not stop";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training diverged"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in epoch 1"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(c.out)) << "a checkpoint of diverged weights was written";
}

TEST_F(CpuTrainer, BadInputIsAClearError) {
  auto message = [&](TrainConfig c) {
    try {
      TrainingSession(c, quiet()).run();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  TrainConfig c = config("x");
  c.data_dir = dir_ + "/missing";
  EXPECT_NE(message(c).find("missing"), std::string::npos) << message(c);
  c = config("x");
  c.augment = "rotate";
  EXPECT_NE(message(c).find("unknown --augment 'rotate'"), std::string::npos);
  c = config("x");
  c.backend = "tpu";
  EXPECT_NE(message(c).find("unknown backend 'tpu'"), std::string::npos);
  c = config("x");
  c.batch = 500;
  EXPECT_NE(message(c).find("fewer than one batch"), std::string::npos);
  c = config("x");
  c.epochs = 0;
  EXPECT_NE(message(c).find("--epochs"), std::string::npos);
  c = config("x");
  c.resume = dir_ + "/nothing.ckpt";
  EXPECT_NE(message(c).find("nothing.ckpt"), std::string::npos);
}

TEST(CpuTrainerShuffle, EpochOrderIsAPermutationKeyedBySeedAndEpoch) {
  std::vector<std::int32_t> train_idx(50);
  for (int i = 0; i < 50; ++i) train_idx[std::size_t(i)] = 2 * i;
  const auto a = epoch_order(train_idx, 1, 1), b = epoch_order(train_idx, 1, 2), c = epoch_order(train_idx, 2, 1);
  EXPECT_EQ(std::multiset<std::int32_t>(a.begin(), a.end()), std::multiset<std::int32_t>(train_idx.begin(), train_idx.end()));
  EXPECT_NE(a, train_idx);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a, epoch_order(train_idx, 1, 1));
  // Each position sees many different images over epochs (not a fixed cycle).
  std::set<std::int32_t> first;
  for (int e = 1; e <= 40; ++e) first.insert(epoch_order(train_idx, 1, e)[0]);
  EXPECT_GT(first.size(), 20u);
}

}  // namespace
}  // namespace lc::test

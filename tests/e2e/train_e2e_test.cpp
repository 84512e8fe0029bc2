// End-to-end tests of `landcover train` on the real ucmerced64 data set (../shared, found through
// LC_SHARED_DIR; 21 classes x 100 aerial images, 64x64): the cpu backend learns (a stated bar on
// the validation accuracy), the sim backend completes the seed network on a few images, a run
// killed with SIGKILL during training and resumed ends with the same metrics as an uninterrupted
// one, and bad input gives one clear error line.
// Depends on: the landcover executable (LC_LANDCOVER_BIN), LC_SHARED_DIR, model/metrics.h,
// tests/support/testing.h, POSIX (fork, exec, kill).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "model/metrics.h"
#include "tests/support/files.h"
#include "tests/support/testing.h"

namespace lc {
namespace {

namespace fs = std::filesystem;

using test::read_text_file;
using test::run_logged;

class E2eTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string shared = test::shared_dir();
    if (shared.empty()) GTEST_SKIP() << "LC_SHARED_DIR is not set (the ../shared data folder)";
    const char* b = std::getenv("LC_LANDCOVER_BIN");
    if (!b || !*b) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)";
    bin_ = b;
    data_ = fs::path(shared) / "datasets" / "ucmerced64";
    if (!fs::exists(data_)) GTEST_SKIP() << "ucmerced64 is missing under " << shared;
    dir_ = fs::temp_directory_path() / ("lc_train_e2e_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_, ec);
  }
  // The command line of a training run writing <name>.ckpt / <name>_metrics.csv in the temp dir.
  std::string train_cmd(const std::string& name, const std::string& extra) const {
    return "'" + bin_ + "' train --data '" + data_.string() + "' --out '" + (dir_ / (name + ".ckpt")).string() +
           "' --metrics '" + (dir_ / (name + "_metrics.csv")).string() + "' --cache-dir '" +
           (dir_ / "cache").string() + "' " + extra;
  }
  std::vector<EpochMetrics> metrics(const std::string& name) const {
    const fs::path p = dir_ / (name + "_metrics.csv");
    return parse_metrics_csv(read_text_file(p), p.string());
  }
  std::string bin_;
  fs::path data_, dir_;
};

// Final validation accuracy printed by `landcover train` ("final validation accuracy 0.4667 ...").
double final_accuracy(const std::string& log) {
  const std::string key = "final validation accuracy ";
  const auto at = log.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(log.substr(at + key.size()));
}

// The bar: after 3 epochs of the default recipe on cpu (seed 42), the validation accuracy of the
// restored best weights is at least 0.20, over 4x chance (1/21 = 0.048). Measured on the
// development machine: 0.2905 after 3 epochs (0.319 with an earlier build of the kernels).
TEST_F(E2eTrain, CpuLearnsUcMerced64) {
  const fs::path log = dir_ / "cpu.log";
  ASSERT_EQ(run_logged(train_cmd("cpu", "--backend cpu --epochs 3"), log), 0) << read_text_file(log);
  const std::string out = read_text_file(log);
  const auto m = metrics("cpu");
  ASSERT_EQ(m.size(), 3u) << out;
  for (const auto& e : m) EXPECT_TRUE(std::isfinite(e.loss) && std::isfinite(e.val_loss)) << out;
  const double acc = final_accuracy(out);
  std::printf("ucmerced64, cpu, 3 epochs: final validation accuracy %.4f (bar 0.20, chance %.4f)\n", acc, 1.0 / 21);
  EXPECT_GE(acc, 0.20) << out;
  EXPECT_NE(out.find("epoch 3/3  loss"), std::string::npos) << out;
  EXPECT_NE(out.find("validation confusion matrix"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir_ / "cpu.ckpt"));
  EXPECT_TRUE(fs::exists(dir_ / "cpu_metrics_confusion.csv"));
}

// The sim backend (the CUDA kernels in the emulator) trains the seed network on 4 images per class.
TEST_F(E2eTrain, SimCompletesTheSeedNetworkOnFewImages) {
  const fs::path log = dir_ / "sim.log";
  ASSERT_EQ(run_logged(train_cmd("sim", "--backend sim --max-images 4 --epochs 1"), log), 0) << read_text_file(log);
  const auto m = metrics("sim");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(std::isfinite(m[0].loss) && std::isfinite(m[0].val_loss)) << read_text_file(log);
  EXPECT_TRUE(fs::exists(dir_ / "sim.ckpt"));
}

// Kill a run (SIGKILL) once its first epoch's checkpoint exists, resume it: the metrics of every
// epoch equal those of an uninterrupted run exactly (same backend, same machine).
TEST_F(E2eTrain, KilledRunResumesToTheSameMetrics) {
  const std::string common = "--backend cpu --max-images 12 --epochs 3";
  const fs::path log = dir_ / "whole.log";
  ASSERT_EQ(run_logged(train_cmd("whole", common), log), 0) << read_text_file(log);

  const fs::path ckpt = dir_ / "cut.ckpt";
  const std::string cmd = train_cmd("cut", common) + " > '" + (dir_ / "cut.log").string() + "' 2>&1";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bool killed = false;
  int status = 0;
  for (int i = 0; i < 20 * 600; ++i) {  // up to 10 minutes
    if (fs::exists(ckpt)) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::waitpid(pid, &status, WNOHANG) == pid) break;  // ended by itself: cannot happen before a checkpoint
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (killed) ::waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "the run ended before its first checkpoint: " << read_text_file(dir_ / "cut.log");
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run was not killed";
  const auto partial = metrics("cut");
  ASSERT_GE(partial.size(), 1u);
  ASSERT_LT(partial.size(), 3u) << "killed too late to test resuming";

  const fs::path rlog = dir_ / "resume.log";
  const std::string resume = "'" + bin_ + "' train --data '" + data_.string() + "' --backend cpu --resume '" +
                             ckpt.string() + "' --out '" + ckpt.string() + "' --metrics '" +
                             (dir_ / "cut_metrics.csv").string() + "' --cache-dir '" + (dir_ / "cache").string() + "'";
  ASSERT_EQ(run_logged(resume, rlog), 0) << read_text_file(rlog);
  const auto a = metrics("whole"), b = metrics("cut");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a[i].loss, b[i].loss) << "epoch " << i + 1;
    EXPECT_EQ(a[i].accuracy, b[i].accuracy) << "epoch " << i + 1;
    EXPECT_EQ(a[i].val_loss, b[i].val_loss) << "epoch " << i + 1;
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy) << "epoch " << i + 1;
  }
  EXPECT_EQ(final_accuracy(read_text_file(log)), final_accuracy(read_text_file(rlog)));
}

// The "done when" run: the default recipe, 5 epochs on cpu. Bar 0.25 (over 5x chance).
// Measured: 0.3452 (with another build of the kernels, whose float sums differed, 0.4667: short
// runs on 1,680 images vary by that much, hence the margin).
class SlowTrain : public E2eTrain {};
TEST_F(SlowTrain, CpuFiveEpochsUcMerced64) {
  const fs::path log = dir_ / "cpu5.log";
  ASSERT_EQ(run_logged(train_cmd("cpu5", "--backend cpu --epochs 5"), log), 0) << read_text_file(log);
  const double acc = final_accuracy(read_text_file(log));
  std::printf("ucmerced64, cpu, 5 epochs: final validation accuracy %.4f (bar 0.25)\n", acc);
  EXPECT_GE(acc, 0.25) << read_text_file(log);
  EXPECT_EQ(metrics("cpu5").size(), 5u);
}

TEST_F(E2eTrain, BadInputIsOneErrorLine) {
  struct Case {
    std::string args, expect;
  };
  std::vector<Case> cases = {
      {"--backend tpu", "landcover: error: unknown backend 'tpu'"},
      {"--augment spin", "landcover: error: unknown --augment 'spin'"},
      {"--epochs 0", "landcover: error: --epochs must be at least 1"},
  };
  if (!backend_status(BackendKind::cuda).usable)
    cases.push_back({"--backend cuda", "landcover: error: backend cuda is not usable: "});
  for (const Case& c : cases) {
    const fs::path log = dir_ / "bad.log";
    EXPECT_EQ(run_logged(train_cmd("bad", c.args), log), 1) << c.args;
    const std::string out = read_text_file(log);
    EXPECT_EQ(out.rfind(c.expect, 0), 0u) << c.args << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << c.args << ": " << out;
  }
  const fs::path log = dir_ / "nodata.log";
  EXPECT_EQ(run_logged("'" + bin_ + "' train --data '" + (dir_ / "none").string() + "' --backend cpu", log), 1);
  EXPECT_EQ(read_text_file(log).rfind("landcover: error: ", 0), 0u) << read_text_file(log);
}

}  // namespace
}  // namespace lc

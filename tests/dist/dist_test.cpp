// Data parallelism over MPI (runtime/comm.h, model/trainer.h) and sharded segmentation: real
// `mpirun -np 2 landcover ...` jobs on this machine (loopback, cpu backend) on a small synthetic
// data set (3 colour classes, 16x16 PNGs) with small model files:
//   - after every step both ranks hold bit-identical parameters (LC_DIST_CHECK=1);
//   - 2 ranks x batch 8 reach the parameters of 1 rank x batch 16 (no batch norm, no dropout, no
//     augmentation) within float reordering tolerance, and 1 rank x batch 8 does not;
//   - --sync-bn keeps the batch-norm statistics identical too;
//   - a killed or hanging rank, or an error on one rank, ends the job with an error inside the
//     timeout;
//   - a 2-rank run resumes with 1 rank;
//   - 2-rank segmentation writes the bytes a 1-rank run writes (the shared scenes; needs
//     LC_SHARED_DIR).
// Every test skips with the reason when mpirun or the landcover executable is missing.
// Depends on: mpirun (OpenMPI), the landcover executable (LC_LANDCOVER_BIN), model/checkpoint.h,
// model/image_io.h (write_png), tests/support/files.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <string>

#include "model/checkpoint.h"
#include "model/image_io.h"
#include "runtime/comm.h"
#include "tests/support/files.h"

namespace lc::test {
namespace {

namespace fs = std::filesystem;

// No batch norm, no dropout: 2 x 8 and 1 x 16 compute the same gradients.
const char* kPlainModel = R"({"name": "plain", "input": [16, 16, 3], "layers": [
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "flatten"},
  {"type": "dense", "units": 12, "activation": "elu"},
  {"type": "dense", "units": "classes"}]})";

// With batch norm and dropout: what must stay identical across ranks all the same.
const char* kBnModel = R"({"name": "bn", "input": [16, 16, 3], "layers": [
  {"type": "batchnorm"},
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "flatten"},
  {"type": "dense", "units": 12, "activation": "elu"},
  {"type": "dropout", "rate": 0.25},
  {"type": "dense", "units": "classes"}]})";

std::string landcover_bin() {
  if (const char* b = std::getenv("LC_LANDCOVER_BIN"); b && *b) return b;
  return std::string(LC_BINARY_DIR) + "/landcover";
}

bool have_mpirun() { return std::system("command -v mpirun > /dev/null 2>&1") == 0; }

// The launcher line for N ranks on this machine: root allowed, shared memory and loopback TCP,
// more ranks than cores allowed, every rank single-threaded (2 cores here).
// `env` holds VAR=value settings for every rank (mpirun passes its environment on).
std::string mpirun(int n, const std::string& env = "") {
  return "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
         "OMPI_MCA_btl_vader_single_copy_mechanism=none " + env + " timeout 120 mpirun -np " +
         std::to_string(n) + " --oversubscribe --mca btl self,vader,tcp --bind-to none ";
}

class CpuDist : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!mpi_built_in()) GTEST_SKIP() << "built without MPI (CMake found no MPI library: libopenmpi-dev)";
    if (!have_mpirun()) GTEST_SKIP() << "mpirun is not installed (Debian: openmpi-bin, scripts/setup.sh)";
    bin_ = landcover_bin();
    if (!fs::exists(bin_)) GTEST_SKIP() << "no landcover executable at " << bin_;
    const char* names[] = {"blue", "green", "red"};
    std::mt19937 rng(7);
    for (int c = 0; c < 3; ++c) {
      fs::create_directories(tmp_.file("data/") + names[c]);
      for (int i = 0; i < 30; ++i) {
        std::vector<std::uint8_t> px(16 * 16 * 3);
        for (std::size_t p = 0; p < px.size(); ++p)
          px[p] = std::uint8_t(std::clamp((int(p % 3) == 2 - c ? 150 : 90) + int(rng() % 101) - 50, 0, 255));
        write_png(tmp_.file("data/") + names[c] + "/" + names[c] + "_" + std::to_string(i) + ".png", 16, 16, 3,
                  px.data());
      }
    }
    std::ofstream(tmp_.file("plain.json")) << kPlainModel;
    std::ofstream(tmp_.file("bn.json")) << kBnModel;
  }

  // Runs `landcover train` (under mpirun when ranks > 0) into <name>.ckpt; returns the exit status.
  int train(int ranks, const std::string& name, const std::string& args, const std::string& env = "") {
    const std::string cmd = (ranks > 0 ? mpirun(ranks, env) : "env OMP_NUM_THREADS=1 " + env + " timeout 120 ") +
                            " '" + bin_ + "' train --data '" + tmp_.file("data") + "' --backend cpu --no-cache --seed 11 " +
                            "--lr 3e-3 --out '" + tmp_.file(name + ".ckpt") + "' " + args;
    const auto t0 = std::chrono::steady_clock::now();
    std::string log = name;  // a name may point into a folder that does not exist
    std::replace(log.begin(), log.end(), '/', '_');
    const int rc = run_logged(cmd, tmp_.file(log + ".log"));
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_ = read_text_file(tmp_.file(log + ".log"));
    return rc;
  }
  std::map<std::string, std::vector<float>> params(const std::string& name) const {
    std::map<std::string, std::vector<float>> m;
    for (const NamedTensor& t : load_checkpoint(tmp_.file(name + ".ckpt")).params) m[t.name] = t.data;
    return m;
  }
  // Largest |a - b| over every parameter.
  static double max_diff(const std::map<std::string, std::vector<float>>& a,
                         const std::map<std::string, std::vector<float>>& b) {
    EXPECT_EQ(a.size(), b.size());
    double d = 0;
    for (const auto& [name, va] : a) {
      const auto& vb = b.at(name);
      EXPECT_EQ(va.size(), vb.size()) << name;
      for (std::size_t i = 0; i < std::min(va.size(), vb.size()); ++i) d = std::max(d, std::fabs(double(va[i]) - vb[i]));
    }
    return d;
  }

  TempDir tmp_{"dist"};
  std::string bin_, log_;
  double seconds_ = 0;
};

TEST_F(CpuDist, RanksHoldBitIdenticalParametersAfterEveryStep) {
  // 72 training images, global batch 16: 4 steps per epoch, 2 epochs; batch norm, dropout, flips.
  ASSERT_EQ(train(2, "bn", "--model '" + tmp_.file("bn.json") + "' --batch 8 --epochs 2 --augment flip",
                  "LC_DIST_CHECK=1"),
            0)
      << log_;
  EXPECT_NE(log_.find("per rank x 2 ranks (global batch 16, gradients all-reduced by mpi)"), std::string::npos) << log_;
  EXPECT_NE(log_.find("replica check: parameters bit-identical on 2 rank(s) after each of 8 steps"), std::string::npos)
      << log_;
  // Rank 0 alone prints and writes: one summary line, one checkpoint, complete.
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = log_.find("final: val_loss", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u) << log_;
  const Checkpoint ck = load_checkpoint(tmp_.file("bn.ckpt"));
  EXPECT_EQ(*ck.find_meta("ranks"), "2");
  EXPECT_EQ(*ck.find_meta("complete"), "1");
  EXPECT_EQ(ck.position.global_step, 8);
}

TEST_F(CpuDist, SyncBnKeepsTheStatisticsIdenticalToo) {
  ASSERT_EQ(train(2, "sync", "--model '" + tmp_.file("bn.json") + "' --batch 8 --epochs 1 --sync-bn",
                  "LC_DIST_CHECK=1"),
            0)
      << log_;
  EXPECT_NE(log_.find("batch-norm statistics synchronised"), std::string::npos) << log_;
  EXPECT_NE(log_.find("replica check: parameters bit-identical on 2 rank(s) after each of 4 steps"), std::string::npos)
      << log_;
  EXPECT_EQ(*load_checkpoint(tmp_.file("sync.ckpt")).find_meta("sync_bn"), "1");
}

TEST_F(CpuDist, TwoRanksOfEightReachOneRankOfSixteen) {
  const std::string common = "--model '" + tmp_.file("plain.json") + "' --epochs 2 --augment none --patience 10 ";
  ASSERT_EQ(train(2, "two8", common + "--batch 8"), 0) << log_;
  ASSERT_EQ(train(0, "one16", common + "--batch 16"), 0) << log_;
  ASSERT_EQ(train(0, "one8", common + "--batch 8"), 0) << log_;
  const auto two8 = params("two8"), one16 = params("one16"), one8 = params("one8");
  // Same images per step, same mean gradient up to the order of the float sums; Adam (lr 3e-3)
  // moves each weight by at most ~lr per step, so 8 steps differ far less than one step.
  const double same = max_diff(two8, one16), other = max_diff(one8, one16);
  std::printf("max |2x8 - 1x16| = %.3g, max |1x8 - 1x16| = %.3g\n", same, other);
  EXPECT_LT(same, 1e-5) << "2 ranks x 8 vs 1 rank x 16";
  EXPECT_GT(other, 100 * std::max(same, 1e-7)) << "1 rank x 8 vs 1 rank x 16 must differ clearly";
  // The metrics agree too (loss summed over the ranks, validation sharded).
  EXPECT_NEAR(load_checkpoint(tmp_.file("two8.ckpt")).history.back().val_loss,
              load_checkpoint(tmp_.file("one16.ckpt")).history.back().val_loss, 1e-4);
}

TEST_F(CpuDist, KilledRankEndsTheJobWithAnError) {
  const int rc = train(2, "kill", "--model '" + tmp_.file("plain.json") + "' --batch 8 --epochs 50",
                       "LC_TEST_FAULT=kill:1:3");
  EXPECT_NE(rc, 0) << log_;
  EXPECT_NE(rc, 124) << "timed out: the job hung\n" << log_;
  EXPECT_LT(seconds_, 100) << log_;
  // The launcher names the killed rank; the survivor says why it stops.
  EXPECT_NE(log_.find("rank 1 with PID"), std::string::npos) << log_;
  EXPECT_NE(log_.find("landcover: error: rank 0: stopped by signal"), std::string::npos) << log_;
  if (fs::exists(tmp_.file("kill.ckpt"))) {  // a killed job never ends as complete
    EXPECT_EQ(*load_checkpoint(tmp_.file("kill.ckpt")).find_meta("complete"), "0");
  }
}

TEST_F(CpuDist, ErrorOnOneRankEndsTheJobWithItsLine) {
  // Only rank 0 checks the outputs: rank 1 would wait for it in the first collective.
  const int rc = train(2, "missing/out", "--model '" + tmp_.file("plain.json") + "' --batch 8 --epochs 2");
  EXPECT_EQ(rc, 1) << log_;
  EXPECT_NE(log_.find("landcover: error: rank 0: --out " + tmp_.file("missing/out.ckpt")), std::string::npos) << log_;
}

TEST_F(CpuDist, HangingRankTripsTheWatchdog) {
  const int rc = train(2, "hang", "--model '" + tmp_.file("plain.json") + "' --batch 8 --epochs 50",
                       "LC_TEST_FAULT=hang:1:3 LC_COMM_TIMEOUT=3");
  EXPECT_NE(rc, 0) << log_;
  EXPECT_NE(rc, 124) << "timed out: the job hung\n" << log_;
  EXPECT_NE(log_.find("landcover: error: rank 0: allreduce got no answer from the other ranks for 3 s"),
            std::string::npos)
      << log_;
}

TEST_F(CpuDist, TwoRankRunResumesWithOneRank) {
  const std::string model = "--model '" + tmp_.file("plain.json") + "' --batch 8 --augment none ";
  // A finished run cannot be resumed: a 2-rank run killed after its first epoch (4 steps of 16).
  ASSERT_NE(train(2, "res2", model + "--epochs 3", "LC_TEST_FAULT=kill:0:4"), 0) << log_;
  ASSERT_TRUE(fs::exists(tmp_.file("res2.ckpt"))) << log_;
  EXPECT_EQ(*load_checkpoint(tmp_.file("res2.ckpt")).find_meta("ranks"), "2");
  const std::string resume = "--resume '" + tmp_.file("res2.ckpt") + "'";
  ASSERT_EQ(run_logged("env OMP_NUM_THREADS=1 timeout 120 '" + bin_ + "' train --data '" + tmp_.file("data") +
                           "' --backend cpu --no-cache --out '" + tmp_.file("res2.ckpt") + "' " + resume,
                       tmp_.file("resume.log")),
            0)
      << read_text_file(tmp_.file("resume.log"));
  const std::string log = read_text_file(tmp_.file("resume.log"));
  EXPECT_NE(log.find("resuming a run of 2 rank(s) with 1: global batch 16 becomes 8"), std::string::npos) << log;
  const Checkpoint ck = load_checkpoint(tmp_.file("res2.ckpt"));
  EXPECT_EQ(*ck.find_meta("complete"), "1");
  EXPECT_EQ(ck.history.size(), 3u);
  EXPECT_EQ(ck.position.global_step, 4 + 2 * 9);  // 4 steps of 16, then 9 of 8 per epoch
}

// Every file under `dir` (relative name -> bytes).
std::map<std::string, std::string> files_under(const std::string& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) m[fs::relative(e.path(), dir).string()] = read_text_file(e.path());
  return m;
}

TEST_F(CpuDist, TwoRankSegmentationWritesTheBytesOfOneRank) {
  const char* shared = std::getenv("LC_SHARED_DIR");
  if (!shared || !*shared) GTEST_SKIP() << "LC_SHARED_DIR is not set (the shared scenes)";
  ASSERT_EQ(train(0, "seg", "--model '" + tmp_.file("plain.json") + "' --batch 16 --epochs 1"), 0) << log_;
  // Three georeferenced scenes (ranks take 2 and 1), maps, probabilities and zone tables.
  const fs::path scenes = fs::path(shared) / "scenes";
  const std::string inputs = "'" + (scenes / "geo" / "landsat_2015.tif").string() + "' '" +
                             (scenes / "geo" / "landsat_2020.tif").string() + "' '" +
                             (scenes / "landsat_grenada_438x500.tif").string() + "'";
  auto segment = [&](const std::string& launcher, const std::string& out) {
    const int rc = run_logged(launcher + " '" + bin_ + "' segment --model '" + tmp_.file("seg.ckpt") +
                                  "' --backend cpu --quiet --bands 3,2,1 --stride 8 --probs --zones grid:0.25 --out-dir '" +
                                  tmp_.file(out) + "' " + inputs,
                              tmp_.file(out + ".log"));
    log_ = read_text_file(tmp_.file(out + ".log"));
    return rc;
  };
  // GeoPackages record their time of writing (gpkg_contents.last_change) unless GDAL is given one.
  const std::string date = "OGR_CURRENT_DATE=2020-01-01T00:00:00.000Z";
  ASSERT_EQ(segment("env OMP_NUM_THREADS=1 " + date + " timeout 120", "one"), 0) << log_;
  ASSERT_EQ(segment(mpirun(2, date), "two"), 0) << log_;
  const auto one = files_under(tmp_.file("one")), two = files_under(tmp_.file("two"));
  EXPECT_GE(one.size(), 3u * 10u) << "maps, probabilities, zone tables of 3 scenes";
  ASSERT_EQ(one.size(), two.size());
  for (const auto& [name, bytes] : one) {
    ASSERT_TRUE(two.count(name)) << name;
    EXPECT_TRUE(two.at(name) == bytes) << name << " differs between 1 and 2 ranks";
  }
}

}  // namespace
}  // namespace lc::test

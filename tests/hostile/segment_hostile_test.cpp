// `landcover classify` and `segment` used carelessly or with hostile inputs (issue rows 2, 5, 6, 8,
// 10, 12): non-UTF-8 bytes in paths and class names, a 236-byte scene stem, a full disk (a file
// size limit) in the middle of a set, FIFOs and folders named like images, NaN weights with valid
// checksums, the progress line against the summary. A tiny model is trained first (cpu backend).
// Depends on: the landcover executable (LC_LANDCOVER_BIN), tests/hostile/hostile.h,
// model/checkpoint.h, nlohmann_json, GoogleTest, POSIX (mkfifo).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "model/checkpoint.h"
#include "tests/hostile/hostile.h"

namespace lc {
namespace {

namespace fs = std::filesystem;
using hostile::q;
using test::read_text_file;
using test::run_logged;
using test::TempDir;

class CpuHostileInference : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = hostile::landcover_bin();
    if (bin_.empty()) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)";
    hostile::make_tiny_dataset(dir_);
    ckpt_ = dir_.file("m.ckpt");
    ASSERT_EQ(run_logged(hostile::train_cmd(bin_, dir_) + " --out " + q(ckpt_), dir_.file("log")), 0)
        << read_text_file(dir_.file("log"));
    fs::create_directories(dir_.file("out"));
  }
  std::string run(const std::string& args, int* rc = nullptr) {
    const int r = run_logged(q(bin_) + " " + args, dir_.file("log"));
    if (rc) *rc = r;
    return read_text_file(dir_.file("log"));
  }
  // The segment arguments (without the binary) writing to <dir>/out.
  std::string seg(const std::string& args) {
    return "segment --backend cpu --model " + q(ckpt_) + " --out-dir " + q(dir_.file("out")) + " " + args;
  }
  std::vector<std::string> out_entries() const {
    std::vector<std::string> e;
    for (const auto& x : fs::directory_iterator(dir_.file("out"))) e.push_back(x.path().filename().string());
    std::sort(e.begin(), e.end());
    return e;
  }
  TempDir dir_{"hostile_infer"};
  std::string bin_, ckpt_;
};

TEST_F(CpuHostileInference, NonUtf8PathsAndClassNamesKeepTheJson) {
  hostile::write_random_png(dir_.file("good.png"), 16, 16, 1);
  const std::string bad = dir_.file("\xff\xfe.png");
  fs::copy_file(dir_.file("good.png"), bad);
  const std::string cmd = q(bin_) + " classify --backend cpu --json --model " + q(ckpt_) + " " +
                          q(dir_.file("good.png")) + " " + q(bad) + " > " + q(dir_.file("out.json"));
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto j = nlohmann::json::parse(read_text_file(dir_.file("out.json")));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["image"], dir_.file("good.png"));
  EXPECT_TRUE(j[1].contains("class"));
  // A class name that is not UTF-8: segment still writes its whole set, the JSON parses.
  Checkpoint ck = load_checkpoint(ckpt_);
  ck.class_names[0] = "c\xff";
  save_checkpoint(ckpt_, ck);
  int rc = -1;
  const std::string log = run(seg("--quiet " + q(dir_.file("good.png"))), &rc);
  EXPECT_EQ(rc, 0) << log;
  const auto f = nlohmann::json::parse(read_text_file(dir_.file("out/good_fractions.json")));
  EXPECT_EQ(f["classes"].size(), 2u);
}

TEST_F(CpuHostileInference, LongStemWritesItsWholeSetOrNothing) {
  const std::string stem(236, 's');
  hostile::write_random_png(dir_.file(stem + ".png"), 16, 16, 2);
  int rc = -1;
  std::string log = run(seg("--quiet --probs " + q(dir_.file(stem + ".png"))), &rc);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_EQ(out_entries().size(), 5u);
  EXPECT_TRUE(fs::exists(dir_.file("out/" + stem + "_fractions.json")));
  // A stem whose output names cannot exist: refused before any work, nothing written.
  const std::string longer(245, 'l');
  hostile::write_random_png(dir_.file(longer + ".png"), 16, 16, 3);
  fs::remove_all(dir_.file("out"));
  fs::create_directories(dir_.file("out"));
  log = run(seg("--probs " + q(dir_.file(longer + ".png"))), &rc);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("file name too long"), std::string::npos) << log;
  EXPECT_EQ(log.find("forward passes"), std::string::npos) << log;
  EXPECT_TRUE(out_entries().empty());
}

TEST_F(CpuHostileInference, FullDiskLeavesNoPartialSet) {
  // Random 64x64 scenes have an overlay PNG over 4 KiB, past the file size limit (a full disk for
  // every write); a flat scene's files all fit.
  hostile::write_random_png(dir_.file("noise1.png"), 64, 64, 4);
  hostile::write_random_png(dir_.file("noise2.png"), 64, 64, 5);
  std::vector<std::uint8_t> flat(64 * 64 * 3, 90);
  write_png(dir_.file("flat.png"), 64, 64, 3, flat.data());
  const std::string cmd = "ulimit -f 4; trap '' XFSZ; exec " + q(bin_) + " " +
                          seg("--quiet --probs " + q(dir_.file("noise1.png")) + " " + q(dir_.file("flat.png")) +
                                  " " + q(dir_.file("noise2.png")));
  const int rc = run_logged("bash -c " + q(cmd), dir_.file("log"));
  const std::string log = read_text_file(dir_.file("log"));
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("File too large"), std::string::npos) << log;
  EXPECT_EQ(out_entries(), (std::vector<std::string>{"flat_classes.png", "flat_fractions.csv", "flat_fractions.json",
                                                     "flat_overlay.png", "flat_probs.npy"}))
      << log;
}

TEST_F(CpuHostileInference, FifosAndFoldersNamedLikeImagesFailAtOnce) {
  ASSERT_EQ(::mkfifo(dir_.file("f.jpg").c_str(), 0644), 0);
  fs::create_directories(dir_.file("x.jpg"));
  hostile::write_random_png(dir_.file("good.png"), 16, 16, 6);
  const std::string images = q(dir_.file("f.jpg")) + " " + q(dir_.file("x.jpg")) + " " + q(dir_.file("good.png"));
  for (const std::string& cmd : {"timeout 60 " + q(bin_) + " classify --backend cpu --model " + q(ckpt_) + " " + images,
                                 "timeout 60 " + q(bin_) + " " + seg("--quiet " + images)}) {
    SCOPED_TRACE(cmd);
    const int rc = run_logged(cmd, dir_.file("log"));
    const std::string log = read_text_file(dir_.file("log"));
    EXPECT_EQ(rc, 1) << log;  // 124: timed out, waiting on the FIFO
    EXPECT_NE(log.find("f.jpg: cannot read: not a regular file"), std::string::npos) << log;
    EXPECT_NE(log.find("x.jpg: cannot read: is a directory"), std::string::npos) << log;
    EXPECT_NE(log.find("2 of 3 images failed"), std::string::npos) << log;
  }
  EXPECT_TRUE(fs::exists(dir_.file("out/good_classes.png")));
}

TEST_F(CpuHostileInference, NanWeightsWithValidChecksumsAreRefused) {
  Checkpoint ck = load_checkpoint(ckpt_);
  ck.params[0].data[0] = std::numeric_limits<float>::quiet_NaN();
  save_checkpoint(ckpt_, ck);  // recomputes both CRCs
  hostile::write_random_png(dir_.file("good.png"), 16, 16, 7);
  for (const std::string& cmd : {"classify --backend cpu --model " + q(ckpt_) + " " + q(dir_.file("good.png")),
                                 seg("--quiet " + q(dir_.file("good.png")))}) {
    int rc = -1;
    const std::string log = run(cmd, &rc);
    EXPECT_EQ(rc, 1) << log;
    EXPECT_NE(log.find("tensor " + ck.params[0].name + " holds 1 non-finite value"), std::string::npos) << log;
  }
  EXPECT_TRUE(out_entries().empty());
}

TEST_F(CpuHostileInference, ProgressLineAgreesWithTheSummary) {
  hostile::write_random_png(dir_.file("scene.png"), 160, 160, 8);
  int rc = -1;
  const std::string log = run(seg("--stride 1 --probs " + q(dir_.file("scene.png"))), &rc);
  ASSERT_EQ(rc, 0) << log;
  // "scene: 25600/25600 in 0.4 s, 61234 win/s" and "... forward passes in 0.412 s (62136 windows/s) ..."
  std::smatch bar, sum;
  ASSERT_TRUE(std::regex_search(log, bar, std::regex(R"(scene: (\d+)/(\d+) in [0-9.]+ s, ([0-9.]+) win/s)"))) << log;
  ASSERT_TRUE(std::regex_search(log, sum, std::regex(R"(forward passes in ([0-9.]+) s \(([0-9]+) windows/s\))"))) << log;
  const double bar_rate = std::stod(bar[3]), sum_rate = std::stod(sum[2]);
  EXPECT_LE(bar_rate, 1.5 * sum_rate) << log;
  EXPECT_NE(log.find(dir_.file("out/scene_probs.npy")), std::string::npos) << log;
}

}  // namespace
}  // namespace lc

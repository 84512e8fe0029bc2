// NVTX range hierarchy of `landcover train` and `landcover segment` on the sim backend, recorded by
// the injection library tests/nvtx/nvtx_inject.cc (path in the compile definition
// LC_NVTX_INJECT_LIB) through NVTX_INJECTION64_PATH. The NVTX variable must be set before the first
// NVTX call of a process, so both commands run as child processes (binary from env
// LC_LANDCOVER_BIN, set by tests/CMakeLists.txt) on a tiny synthetic data set and a tiny model, so
// the emulator takes seconds. Checks: pushes and pops balance on every thread, the documented
// hierarchy (runtime/nvtx.h) `epoch N` > `step N` > `fwd` | `bwd` | `optim` > node ranges
// ("L01.conv2d fwd [sim]") and `image <stem>` > `tile N` > `batch N` > node ranges.
// Depends on: model/image_io.h (write_png), tests/support/testing.h, GoogleTest, the landcover CLI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "model/image_io.h"
#include "tests/support/files.h"

namespace {

namespace fs = std::filesystem;

struct Event {
  bool push = false;
  std::string thread;
  int depth = 0;
  std::string name;  // push only
};

// One range as opened: its name and the names of the open ranges above it (outermost first).
struct Opened {
  std::string name;
  std::vector<std::string> stack;
};

struct Log {
  std::vector<Event> events;
  std::vector<Opened> opened;
  std::string error;  // first structural problem (unbalanced, bad depth), "" when none
  int pushes = 0, pops = 0;
};

Log parse_log(const std::string& path) {
  Log log;
  std::ifstream f(path);
  std::map<std::string, std::vector<std::string>> stacks;  // per thread
  std::string line;
  while (std::getline(f, line)) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, '\t')) fields.push_back(x);
    Event e;
    if (fields.size() >= 4 && fields[0] == "push") {
      e.push = true, e.thread = fields[1], e.depth = std::stoi(fields[2]), e.name = fields[3];
      auto& st = stacks[e.thread];
      if (log.error.empty() && e.depth != int(st.size())) log.error = "push of '" + e.name + "' at a wrong depth";
      log.opened.push_back({e.name, st});
      st.push_back(e.name);
      ++log.pushes;
    } else if (fields.size() == 3 && fields[0] == "pop") {
      e.thread = fields[1], e.depth = std::stoi(fields[2]);
      auto& st = stacks[e.thread];
      if (st.empty()) {
        if (log.error.empty()) log.error = "pop with no open range";
      } else {
        st.pop_back();
        if (log.error.empty() && e.depth != int(st.size())) log.error = "pop at a wrong depth";
      }
      ++log.pops;
    } else if (log.error.empty()) {
      log.error = "unparsable line: " + line;
    }
    log.events.push_back(e);
  }
  for (const auto& [t, st] : stacks)
    if (!st.empty() && log.error.empty()) log.error = "thread " + t + " ends with '" + st.back() + "' open";
  return log;
}

bool matches(const std::string& s, const char* re) { return std::regex_match(s, std::regex(re)); }

// A graph node range: "L01.conv2d fwd [sim]", "L03.batchnorm infer [sim]", "L01.conv2d bwd weights
// [sim]", "L01.conv2d elu bwd [sim]", plus the whole-network nodes (loss, Adam) whose names do not
// start with a layer prefix: any range whose name ends with the backend tag.
bool is_node(const std::string& s) { return matches(s, R"(.* \[sim\])"); }

class SimNvtx : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* bin = std::getenv("LC_LANDCOVER_BIN");
    if (!bin || !*bin) {
      skip_ = "LC_LANDCOVER_BIN is not set (ctest sets it; run lc_tests through ctest or set it)";
      return;
    }
#ifndef LC_NVTX_INJECT_LIB
    skip_ = "built without NVTX (LC_WITH_NVTX=OFF): no ranges to check";
    return;
#else
    dir_ = fs::temp_directory_path() / ("lc_nvtx_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Data set: two classes of 6 random 64x64 PNGs each.
    std::mt19937 rng(11);
    for (const char* cls : {"alpha", "beta"}) {
      fs::create_directories(dir_ / "data" / cls);
      for (int i = 0; i < 6; ++i) {
        std::vector<std::uint8_t> px(64 * 64 * 3);
        for (auto& v : px) v = std::uint8_t(rng() & 255u);
        lc::write_png((dir_ / "data" / cls / ("img" + std::to_string(i) + ".png")).string(), 64, 64, 3, px.data());
      }
    }
    // Tiny model with every layer type: most of the 64x64 input is pooled away first.
    std::ofstream(dir_ / "tiny.json") << R"({"name": "tiny", "input": [64, 64, 3], "layers": [
      {"type": "maxpool"}, {"type": "maxpool"}, {"type": "batchnorm"},
      {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"}, {"type": "maxpool"},
      {"type": "flatten"}, {"type": "dense", "units": 8, "activation": "elu"},
      {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": "classes"}]})";
    std::vector<std::uint8_t> scene(64 * 64 * 3);
    for (auto& v : scene) v = std::uint8_t(rng() & 255u);
    lc::write_png((dir_ / "scene.png").string(), 64, 64, 3, scene.data());

    train_log_ = (dir_ / "train.nvtx").string();
    segment_log_ = (dir_ / "segment.nvtx").string();
    const std::string d = dir_.string();
    const std::string env = std::string("NVTX_INJECTION64_PATH=") + LC_NVTX_INJECT_LIB + " ";
    const std::string train = env + "LC_NVTX_LOG=" + train_log_ + " " + bin + " train --backend sim --data " + d +
                              "/data --model " + d + "/tiny.json --epochs 1 --batch 2 --max-images 6 --no-cache --out " +
                              d + "/run.ckpt > " + d + "/train.out 2>&1";
    train_rc_ = std::system(train.c_str());
    const std::string segment = env + "LC_NVTX_LOG=" + segment_log_ + " " + bin + " segment --backend sim --model " +
                                d + "/run.ckpt --stride 32 --batch 2 --tile-windows 2 --quiet --out-dir " + d +
                                "/seg " + d + "/scene.png > " + d + "/segment.out 2>&1";
    segment_rc_ = std::system(segment.c_str());
#endif
  }
  static void TearDownTestSuite() {
    if (!dir_.empty() && ::testing::UnitTest::GetInstance()->failed_test_count() == 0) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }
  static std::string output(const char* name) { return lc::test::read_text_file(dir_ / name); }

  static inline std::string skip_;
  static inline fs::path dir_;
  static inline std::string train_log_, segment_log_;
  static inline int train_rc_ = -1, segment_rc_ = -1;
};

TEST_F(SimNvtx, TrainingRangesBalanceAndNest) {
  ASSERT_EQ(train_rc_, 0) << output("train.out");
  const Log log = parse_log(train_log_);
  ASSERT_GT(log.pushes, 0) << "no ranges recorded: the injection library was not loaded (" << train_log_ << ")";
  EXPECT_EQ(log.error, "");
  EXPECT_EQ(log.pushes, log.pops);
  int epochs = 0, steps = 0, nodes_in_steps = 0, fwd_nodes = 0, bwd_nodes = 0;
  for (const Opened& o : log.opened) {
    if (matches(o.name, R"(epoch \d+)")) {
      ++epochs;
      EXPECT_TRUE(o.stack.empty()) << "'" << o.name << "' is not a top-level range";
    } else if (matches(o.name, R"(step \d+)")) {
      ++steps;
      ASSERT_EQ(o.stack.size(), 1u) << "'" << o.name << "' must sit directly in an epoch range";
      EXPECT_TRUE(matches(o.stack[0], R"(epoch \d+)")) << o.name << " inside " << o.stack[0];
    } else if (is_node(o.name)) {
      // Every node range runs inside a step (training) or an eval range, never at the top level.
      ASSERT_FALSE(o.stack.empty()) << "node range '" << o.name << "' outside any epoch";
      bool in_step = false;
      for (const std::string& s : o.stack) in_step |= matches(s, R"(step \d+)");
      if (in_step) {
        ++nodes_in_steps;
        fwd_nodes += matches(o.name, R"(L\d\d[ .]\w+ fwd \[sim\])");
        bwd_nodes += matches(o.name, R"(L\d\d[ .]\w+ (elu )?bwd( data| weights)? \[sim\])");
      }
    }
  }
  EXPECT_EQ(epochs, 1);
  EXPECT_GE(steps, 1);
  EXPECT_GT(fwd_nodes, 0) << "no 'Lnn <type> fwd [sim]' range inside a step";
  EXPECT_GT(bwd_nodes, 0) << "no 'Lnn <type> bwd [sim]' range inside a step";
  EXPECT_GE(nodes_in_steps, fwd_nodes + bwd_nodes);
}

// runtime/nvtx.h documents `step N` > `fwd` | `bwd` | `optim` > node ranges.
TEST_F(SimNvtx, TrainingNodesSitInPhaseRanges) {
  ASSERT_EQ(train_rc_, 0) << output("train.out");
  const Log log = parse_log(train_log_);
  ASSERT_GT(log.pushes, 0);
  std::map<std::string, int> phases;
  for (const Opened& o : log.opened) {
    if (!is_node(o.name)) continue;
    bool in_step = false;
    for (const std::string& s : o.stack) in_step |= matches(s, R"(step \d+)");
    if (!in_step) continue;
    ASSERT_GE(o.stack.size(), 3u) << "'" << o.name << "' directly in '" << o.stack.back()
                                  << "': expected epoch > step > fwd|bwd|optim > node";
    const std::string& phase = o.stack.back();
    EXPECT_TRUE(matches(o.stack[o.stack.size() - 2], R"(step \d+)")) << o.name;
    ASSERT_TRUE(phase == "fwd" || phase == "bwd" || phase == "optim") << o.name << " inside '" << phase << "'";
    ++phases[phase];
    if (matches(o.name, R"(L\d\d[ .]\w+ fwd \[sim\])")) {
      EXPECT_EQ(phase, "fwd") << o.name;
    }
    if (matches(o.name, R"(L\d\d[ .].*bwd.*)")) {
      EXPECT_EQ(phase, "bwd") << o.name;
    }
  }
  EXPECT_GT(phases["fwd"], 0);
  EXPECT_GT(phases["bwd"], 0);
  EXPECT_GT(phases["optim"], 0);
}

TEST_F(SimNvtx, SegmentationRangesBalanceAndNest) {
  ASSERT_EQ(segment_rc_, 0) << output("segment.out");
  const Log log = parse_log(segment_log_);
  ASSERT_GT(log.pushes, 0) << "no ranges recorded (" << segment_log_ << ")";
  EXPECT_EQ(log.error, "");
  EXPECT_EQ(log.pushes, log.pops);
  int images = 0, tiles = 0, batches = 0, nodes = 0;
  for (const Opened& o : log.opened) {
    if (o.name.rfind("image ", 0) == 0) {
      ++images;
      EXPECT_EQ(o.name, "image scene");
      EXPECT_TRUE(o.stack.empty()) << o.name << " is not top-level";
    } else if (matches(o.name, R"(tile \d+)")) {
      ++tiles;
      ASSERT_EQ(o.stack.size(), 1u) << o.name;
      EXPECT_EQ(o.stack[0], "image scene");
    } else if (matches(o.name, R"(batch \d+)")) {
      ++batches;
      ASSERT_EQ(o.stack.size(), 2u) << o.name;
      EXPECT_TRUE(matches(o.stack[1], R"(tile \d+)")) << o.name << " inside " << o.stack[1];
    } else if (is_node(o.name)) {
      ++nodes;
      ASSERT_GE(o.stack.size(), 3u) << o.name << " outside image > tile > batch";
      EXPECT_TRUE(matches(o.stack[2], R"(batch \d+)")) << o.name << " inside " << o.stack[2];
      EXPECT_FALSE(matches(o.name, R"(.*bwd.*)")) << "backward node in inference: " << o.name;
    }
  }
  // 64x64 image at stride 32: a 2x2 map, 4 windows; tiles of 2 windows (one map row), batch 2.
  EXPECT_EQ(images, 1);
  EXPECT_EQ(tiles, 2);
  EXPECT_EQ(batches, 2);
  EXPECT_GT(nodes, 0);
}

}  // namespace

// Helpers of the hostile-use suite (tests/hostile/): the landcover binary, a tiny model and data
// set generated inside the test's own TempDir, a trained tiny checkpoint, shell quoting.
// Depends on: tests/support/files.h, model/image_io.h (write_png), GoogleTest.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/image_io.h"
#include "tests/support/files.h"

namespace lc::hostile {

// The built landcover executable ("" when LC_LANDCOVER_BIN is unset: the caller skips).
inline std::string landcover_bin() {
  const char* b = std::getenv("LC_LANDCOVER_BIN");
  return b && *b ? b : "";
}
#define LC_NEED_BIN(bin)                                                                              \
  const std::string bin = ::lc::hostile::landcover_bin();                                             \
  if (bin.empty()) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)"

// Single-quoted for sh (any bytes but NUL).
inline std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A model of 8x8 RGB input, small enough to train in a fraction of a second on the cpu backend.
inline const char* kTinyModelJson = R"({"name": "tiny", "input": [8, 8, 3], "layers": [
  {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"}, {"type": "flatten"}, {"type": "dense", "units": "classes"}]})";

inline void write_random_png(const std::string& path, int w, int h, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> px(std::size_t(w) * std::size_t(h) * 3);
  for (auto& v : px) v = std::uint8_t(rng() & 255u);
  write_png(path, w, h, 3, px.data());
}

// <dir>/data/<class>/img<i>.png (8x8 random) and <dir>/tiny.json.
inline void make_tiny_dataset(const test::TempDir& dir, int classes = 2, int per_class = 5) {
  for (int c = 0; c < classes; ++c) {
    const std::string cls = dir.file("data/c" + std::to_string(c));
    std::filesystem::create_directories(cls);
    for (int i = 0; i < per_class; ++i)
      write_random_png(cls + "/img" + std::to_string(i) + ".png", 8, 8, std::uint32_t(100 * c + i));
  }
  std::ofstream(dir.file("tiny.json")) << kTinyModelJson;
}

// The train command line on the tiny data set, output options appended by the caller.
inline std::string train_cmd(const std::string& bin, const test::TempDir& dir) {
  return q(bin) + " train --backend cpu --data " + q(dir.file("data")) + " --model " + q(dir.file("tiny.json")) +
         " --epochs 1 --batch 2 --no-cache";
}

}  // namespace lc::hostile

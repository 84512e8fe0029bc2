// End-to-end test of `landcover classify` and `landcover segment`: trains a small model on the real
// ucmerced64 set (1 epoch, 10 images per class, cpu), then classifies and segments a real Landsat
// scene from ../shared/scenes in both modes at stride 8, with a bad input in the same call, and
// checks that every output exists and parses (PNG sizes, CSV and JSON percents summing to 100,
// the .npy header), that the bad input is reported and the exit status is 1, and that the good
// input's outputs are intact.
// Depends on: the landcover executable (LC_LANDCOVER_BIN), LC_SHARED_DIR, model/image_io.h,
// nlohmann_json, tests/support/testing.h.
#include <gtest/gtest.h>

#include <regex>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "model/image_io.h"
#include "tests/support/files.h"
#include "tests/support/testing.h"

namespace lc {
namespace {

namespace fs = std::filesystem;

using test::read_text_file;
using test::run_logged;

// `pixels`: what the fractions' pixel column must sum to (no nodata in the scene).
void check_outputs(const fs::path& dir, const std::string& stem, int map_w, int map_h, int img_w, int img_h,
                   long long pixels_total) {
  SCOPED_TRACE(stem);
  const RgbImage cls = decode_image_file((dir / (stem + "_classes.png")).string());
  EXPECT_EQ(cls.width, map_w);
  EXPECT_EQ(cls.height, map_h);
  const RgbImage ov = decode_image_file((dir / (stem + "_overlay.png")).string());
  EXPECT_EQ(ov.width, img_w);
  EXPECT_EQ(ov.height, img_h);
  std::istringstream csv(read_text_file(dir / (stem + "_fractions.csv")));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "class,index,colour,pixels,percent");
  double sum = 0;
  long long pixels = 0;
  int rows = 0;
  while (std::getline(csv, line)) {
    const auto last = line.rfind(','), prev = line.rfind(',', last - 1);
    sum += std::stod(line.substr(last + 1));
    pixels += std::stoll(line.substr(prev + 1, last - prev - 1));
    ++rows;
  }
  EXPECT_EQ(rows, 21);  // ucmerced64 classes
  EXPECT_NEAR(sum, 100.0, 1e-6);
  EXPECT_EQ(pixels, pixels_total);
  const auto j = nlohmann::json::parse(read_text_file(dir / (stem + "_fractions.json")));
  EXPECT_EQ(j["map_width"].get<int>(), map_w);
  EXPECT_EQ(j["map_height"].get<int>(), map_h);
  double js = 0;
  for (const auto& c : j["classes"]) js += c["percent"].get<double>();
  EXPECT_NEAR(js, 100.0, 1e-6);
}

TEST(E2eSegment, TrainClassifySegmentRealScene) {
  const std::string shared = test::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "LC_SHARED_DIR is not set (the ../shared data folder)";
  const char* bin = std::getenv("LC_LANDCOVER_BIN");
  if (!bin || !*bin) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)";
  const fs::path data = fs::path(shared) / "datasets" / "ucmerced64";
  const fs::path scene = fs::path(shared) / "scenes" / "landsat_grenada_438x500.png";
  if (!fs::exists(data) || !fs::exists(scene)) GTEST_SKIP() << "ucmerced64 or the Grenada scene is missing under " << shared;
  const fs::path dir = fs::temp_directory_path() / ("lc_seg_e2e_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string lc = std::string("'") + bin + "'";
  const std::string ckpt = (dir / "m.ckpt").string();

  ASSERT_EQ(run_logged(lc + " train --data '" + data.string() + "' --backend cpu --epochs 1 --max-images 10 --no-cache --out '" +
                    ckpt + "'",
                dir / "train.log"),
            0)
      << read_text_file(dir / "train.log");

  // classify: JSON with the top 3 of the checkpoint's classes.
  ASSERT_EQ(run_logged(lc + " classify --backend cpu --json --model '" + ckpt + "' '" + scene.string() + "'", dir / "cls.log"), 0)
      << read_text_file(dir / "cls.log");
  {
    const std::string out = read_text_file(dir / "cls.log");
    const auto j = nlohmann::json::parse(out.substr(out.find('[')));
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["top"].size(), 3u);
    double prev = 2;
    for (const auto& t : j[0]["top"]) {
      EXPECT_LE(t["probability"].get<double>(), prev);
      prev = t["probability"].get<double>();
    }
  }

  // Window mode, stride 8, with a missing file and a truncated image in the same call.
  const fs::path bad = dir / "broken.png";
  {
    const std::string bytes = read_text_file(scene);
    std::ofstream(bad, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  const fs::path wdir = dir / "window";
  const int rc = run_logged(lc + " segment --backend cpu --quiet --mode window --stride 8 --probs --model '" + ckpt +
                         "' --out-dir '" + wdir.string() + "' '" + scene.string() + "' '" + bad.string() + "' '" +
                         (dir / "missing.png").string() + "'",
                     dir / "win.log");
  const std::string wlog = read_text_file(dir / "win.log");
  EXPECT_EQ(rc, 1) << wlog;
  EXPECT_NE(wlog.find("broken.png: cannot decode"), std::string::npos) << wlog;
  EXPECT_NE(wlog.find("missing.png: cannot read"), std::string::npos) << wlog;
  EXPECT_NE(wlog.find("2 of 3 images failed"), std::string::npos) << wlog;
  EXPECT_FALSE(fs::exists(wdir / "broken_classes.png"));
  const std::string stem = "landsat_grenada_438x500";
  check_outputs(wdir, stem, (438 + 7) / 8, (500 + 7) / 8, 438, 500, 438 * 500);  // window: image pixels
  {
    const std::string npy = read_text_file(wdir / (stem + "_probs.npy"));
    ASSERT_GT(npy.size(), 10u);
    EXPECT_EQ(npy.substr(1, 5), "NUMPY");
    const std::size_t hlen = std::size_t(std::uint8_t(npy[8])) | std::size_t(std::uint8_t(npy[9])) << 8;
    EXPECT_NE(npy.find("'shape': (63, 55, 21)"), std::string::npos);
    EXPECT_EQ(npy.size(), 10 + hlen + std::size_t(63) * 55 * 21 * 4);
  }

  // Pixel mode into the same folder: the window outputs of another stem stay; the pixel run
  // writes its own.
  const fs::path pdir = dir / "pixel";
  ASSERT_EQ(run_logged(lc + " segment --backend cpu --quiet --mode pixel --size 32 --compare-naive --naive-pixels 16 --model '" +
                    ckpt + "' --out-dir '" + pdir.string() + "' '" + scene.string() + "'",
                dir / "pix.log"),
            0)
      << read_text_file(dir / "pix.log");
  check_outputs(pdir, stem, 32, 32, 438, 500, 32 * 32);  // pixel mode: the resized image
  const std::string plog = read_text_file(dir / "pix.log");
  EXPECT_NE(plog.find("speedup"), std::string::npos);
  // The reduced (flat-colour) evaluation agrees with the full-size batched one and with the naive
  // per-pixel one: "classes agree on A/B pixels", twice. Classes may only differ at near-ties of
  // float summation order: at least 99% must agree.
  const std::regex agree_re("classes agree on ([0-9]+)/([0-9]+) pixels");
  int lines = 0;
  for (auto it = std::sregex_iterator(plog.begin(), plog.end(), agree_re); it != std::sregex_iterator(); ++it) {
    const long long a = std::stoll((*it)[1].str()), b = std::stoll((*it)[2].str());
    EXPECT_GT(b, 0) << it->str();
    EXPECT_GE(100 * a, 99 * b) << it->str();
    ++lines;
  }
  EXPECT_EQ(lines, 2) << plog;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lc

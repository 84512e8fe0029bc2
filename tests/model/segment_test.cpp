// Tests of classification and segmentation (model/inference.h, model/segmenter.h, model/palette.h):
// pixel mode against whole-image classification of flat colours, window mode against classifying
// each window on its own (windows cut here on the host with an independent reflect-101), tiled
// against untiled, nodata, transfer counts (one upload per tile, one download per result), the
// fraction files, and bad inputs. Sim runs a tiny model (8x8 input, 4 filters: the emulator is
// slow); cpu and the GPU backends run the real seed network (untrained: the tests compare methods,
// not accuracy; probabilities of untrained networks still differ per input, which is what makes
// the comparisons strict).
// Depends on: model/segmenter.h, model/inference.h, model/palette.h, model/model_spec.h,
// tests/support/testing.h, nlohmann_json.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>
#include <sstream>

#include "kernels/common/check.h"
#include "model/checkpoint.h"
#include "model/inference.h"
#include "model/model_spec.h"
#include "model/palette.h"
#include "model/segmenter.h"
#include "tests/support/testing.h"

namespace lc {
namespace {

namespace fs = std::filesystem;

const char* kTinyModel = R"({"name": "tiny", "input": [8, 8, 3], "layers": [
  {"type": "batchnorm"},
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "flatten"},
  {"type": "dense", "units": "classes"}]})";

std::vector<std::string> names(int k) {
  std::vector<std::string> n;
  for (int i = 0; i < k; ++i) n.push_back("class" + std::to_string(i));
  return n;
}

LoadedModel model_for(BackendKind kind) {
  if (kind == BackendKind::sim) return make_untrained_model(parse_model_json(kTinyModel, "tiny"), names(3), 7);
  return make_untrained_model(parse_model_json(default_model_json(), "seed"), names(10), 7);
}

RgbImage random_image(int w, int h, std::uint64_t seed) {
  RgbImage img;
  img.width = w, img.height = h;
  img.rgb.resize(std::size_t(w) * std::size_t(h) * 3);
  std::mt19937_64 g(seed);
  for (auto& v : img.rgb) v = std::uint8_t(g() & 0xff);
  return img;
}

// Reflect-101 by folding step by step (deliberately not the formula of kernels/image/image.h).
std::int64_t fold(std::int64_t i, std::int64_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
  }
  return i;
}

// Probabilities of one float image [H][W][3] with a batch-1 network.
std::vector<float> predict_one(Network& net, Backend& be, const std::vector<float>& x) {
  Device& dev = be.device();
  const int K = net.classes();
  float* dx = net.input().data<float>();
  dev.copy_h2d(dx, x.data(), x.size() * 4, be.stream());
  float* dp = static_cast<float*>(dev.alloc(std::size_t(K) * 4));
  net.predict(dx, 1, dp, nullptr);
  std::vector<float> p(static_cast<std::size_t>(K), 0.f);
  dev.copy_d2h(p.data(), dp, p.size() * 4, be.stream());
  be.synchronize();
  dev.free(dp);
  return p;
}

int argmax(const std::vector<float>& p, std::size_t off, int k) {
  int best = 0;
  for (int i = 1; i < k; ++i)
    if (p[off + std::size_t(i)] > p[off + std::size_t(best)]) best = i;
  return best;
}

// Different batch compositions (batch 1 vs a full batch) may change float summation order in the
// BLAS / kernels; probabilities agree to a few ulps of 1, classes exactly unless near a tie.
constexpr double kProbTol = 2e-5;

class SegmentTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(SegmentTest, PixelModeMatchesClassifyOfFlatColours) {
  auto be = test::backend_or_skip(GetParam());
  if (!be) return;
  const LoadedModel m = model_for(GetParam());
  const int K = m.classes();
  // 12x12 image of four known colours in quadrants plus one odd pixel; --size 12 keeps it as is.
  const std::uint8_t cols[5][3] = {{20, 120, 30}, {10, 40, 200}, {200, 190, 170}, {90, 90, 90}, {255, 0, 0}};
  InputImage in;
  in.image.width = in.image.height = 12;
  in.image.rgb.resize(12 * 12 * 3);
  auto colour_at = [](int y, int x) { return y == 5 && x == 7 ? 4 : (y < 6 ? 0 : 2) + (x < 6 ? 0 : 1); };
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 12; ++x)
      for (int c = 0; c < 3; ++c) in.image.rgb[std::size_t((y * 12 + x) * 3 + c)] = cols[colour_at(y, x)][c];
  Segmenter seg(m, *be, 4);
  SegmentOptions o;
  o.mode = SegmentMode::pixel;
  o.size = 12;
  o.want_probs = true;
  const SegmentResult r = seg.segment(in, o);
  ASSERT_EQ(r.map_h, 12);
  ASSERT_EQ(r.map_w, 12);
  EXPECT_EQ(r.stats.forwards, 5);  // deduplicated: five colours
  Classifier clf(m, *be);
  std::vector<std::vector<float>> expect;
  for (const auto& c : cols) {
    RgbImage flat;
    flat.width = 5, flat.height = 7;  // any size: a flat image resizes to the same flat colour
    for (int i = 0; i < 35; ++i) flat.rgb.insert(flat.rgb.end(), c, c + 3);
    expect.push_back(clf.classify(flat).probs);
  }
  std::vector<std::int64_t> counts(std::size_t(K) + 2, 0);
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 12; ++x) {
      const std::size_t p = std::size_t(y * 12 + x);
      const auto& e = expect[std::size_t(colour_at(y, x))];
      for (int k = 0; k < K; ++k)
        ASSERT_NEAR(r.probs[p * std::size_t(K) + std::size_t(k)], e[std::size_t(k)], kProbTol) << y << "," << x;
      EXPECT_EQ(r.cls[p], argmax(e, 0, K));
      ++counts[std::size_t(argmax(e, 0, K))];
    }
  EXPECT_EQ(r.counts, counts);
}

TEST_P(SegmentTest, WindowModeEqualsEachWindowOnItsOwn) {
  auto be = test::backend_or_skip(GetParam());
  if (!be) return;
  const bool sim = GetParam() == BackendKind::sim;
  const LoadedModel m = model_for(GetParam());
  const int K = m.classes(), win = m.input_h();
  auto net1 = make_inference_network(m, *be, 1);
  Segmenter seg(m, *be, 3);
  // Odd sizes; a stride that does not divide them; an image smaller than the window (folded
  // reflection more than once).
  struct Case {
    int w, h, stride;
  };
  const std::vector<Case> cases = sim ? std::vector<Case>{{13, 11, 3}, {3, 2, 1}} : std::vector<Case>{{70, 45, 16}, {5, 9, 4}};
  for (const Case& cs : cases) {
    InputImage in;
    in.image = random_image(cs.w, cs.h, 100 + std::uint64_t(cs.w));
    SegmentOptions o;
    o.mode = SegmentMode::window;
    o.stride = cs.stride;
    o.want_probs = true;
    const SegmentResult r = seg.segment(in, o);
    const std::int64_t mh = (cs.h + cs.stride - 1) / cs.stride, mw = (cs.w + cs.stride - 1) / cs.stride;
    ASSERT_EQ(r.map_h, mh);
    ASSERT_EQ(r.map_w, mw);
    for (std::int64_t i = 0; i < mh; ++i)
      for (std::int64_t j = 0; j < mw; ++j) {
        // Centre: the middle pixel of the cell's block (the last block may be shorter).
        const std::int64_t cy = i * cs.stride + std::min<std::int64_t>(cs.stride, cs.h - i * cs.stride) / 2;
        const std::int64_t cx = j * cs.stride + std::min<std::int64_t>(cs.stride, cs.w - j * cs.stride) / 2;
        std::vector<float> x(std::size_t(win) * std::size_t(win) * 3);
        for (int a = 0; a < win; ++a)
          for (int b = 0; b < win; ++b) {
            const std::int64_t sy = fold(cy - win / 2 + a, cs.h), sx = fold(cx - win / 2 + b, cs.w);
            for (int c = 0; c < 3; ++c)
              x[std::size_t((a * win + b) * 3 + c)] = float(in.image.rgb[std::size_t((sy * cs.w + sx) * 3 + c)]) / 255.0f;
          }
        const std::vector<float> e = predict_one(*net1, *be, x);
        const std::size_t cell = std::size_t(i * mw + j);
        for (int k = 0; k < K; ++k)
          ASSERT_NEAR(r.probs[cell * std::size_t(K) + std::size_t(k)], e[std::size_t(k)], kProbTol)
              << cs.w << "x" << cs.h << " cell " << i << "," << j;
        EXPECT_EQ(r.cls[cell], argmax(e, 0, K));
      }
  }
}

// A scene whose halves differ (dark noise left, bright noise right, a bright square top left), so
// the classes and probabilities vary across the map and a tile's result written at the wrong
// place cannot agree with the untiled run.
RgbImage varied_scene(int w, int h, std::uint64_t seed) {
  RgbImage img = random_image(w, h, seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        std::uint8_t& v = img.rgb[std::size_t((y * w + x) * 3 + c)];
        const bool bright = x >= w / 2 || (y < h / 3 && x < w / 4);
        v = std::uint8_t(bright ? 160 + v % 96 : (c == 1 ? 40 + v % 60 : v % 40));
      }
  return img;
}

// Tiled against untiled, cell by cell and probability by probability (tiles of one map row and of
// two rows and a cell; the batch does not divide a map row, so tiles hold partial batches).
TEST_P(SegmentTest, TiledEqualsUntiled) {
  auto be = test::backend_or_skip(GetParam());
  if (!be) return;
  const bool sim = GetParam() == BackendKind::sim;
  const LoadedModel m = model_for(GetParam());
  const int K = m.classes();
  Segmenter seg(m, *be, sim ? 4 : 7);
  InputImage in;
  in.image = sim ? varied_scene(17, 14, 5) : varied_scene(100, 83, 5);
  SegmentOptions o;
  o.stride = sim ? 2 : 12;
  o.want_probs = true;
  o.tile_windows = 1 << 30;  // one tile
  const SegmentResult whole = seg.segment(in, o);
  ASSERT_EQ(whole.stats.tiles, 1);
  const std::size_t cells = std::size_t(whole.map_h * whole.map_w);
  ASSERT_EQ(whole.probs.size(), cells * std::size_t(K));
  // The comparison can fail: the probabilities of cells differ by far more than the tolerance.
  std::size_t differing = 0;
  for (std::size_t c = 1; c < cells; ++c)
    for (int k = 0; k < K; ++k)
      if (std::fabs(whole.probs[c * std::size_t(K) + std::size_t(k)] - whole.probs[std::size_t(k)]) > 100 * kProbTol) {
        ++differing;
        break;
      }
  ASSERT_GT(differing, cells / 2) << "the scene is too uniform for this test";
  for (std::int64_t tw : {std::int64_t(1), std::int64_t(whole.map_w * 2 + 1)}) {
    SCOPED_TRACE("tile_windows " + std::to_string(tw));
    o.tile_windows = tw;
    const SegmentResult tiled = seg.segment(in, o);
    EXPECT_GT(tiled.stats.tiles, 1);
    ASSERT_EQ(tiled.probs.size(), whole.probs.size());
    for (std::size_t c = 0; c < cells; ++c) {
      EXPECT_EQ(tiled.cls[c], whole.cls[c]) << "cell " << c;
      for (int k = 0; k < K; ++k)
        ASSERT_NEAR(tiled.probs[c * std::size_t(K) + std::size_t(k)], whole.probs[c * std::size_t(K) + std::size_t(k)],
                    kProbTol)
            << "cell " << c << " class " << k;
    }
    EXPECT_EQ(tiled.counts, whole.counts);
  }
}

// One upload per tile (pixels and nodata mask together), one download per tile result and one
// for the counts; pixel mode: one upload, one download.
TEST_P(SegmentTest, TransfersOnePerTileAndResult) {
  auto be = test::backend_or_skip(GetParam());
  if (!be) return;
  const bool sim = GetParam() == BackendKind::sim;
  const LoadedModel m = model_for(GetParam());
  Segmenter seg(m, *be, 4);
  InputImage in;
  in.image = sim ? random_image(10, 9, 9) : random_image(40, 36, 9);
  in.alpha.assign(std::size_t(in.image.width) * std::size_t(in.image.height), 255);
  in.alpha[0] = 0;
  SegmentOptions o;
  o.stride = sim ? 2 : 8;
  o.tile_windows = 5;  // one map row (5 cells) per tile
  SegmentResult r = seg.segment(in, o);
  EXPECT_EQ(r.stats.tiles, 5);
  EXPECT_EQ(r.stats.transfers.h2d_calls, std::uint64_t(r.stats.tiles));
  EXPECT_EQ(r.stats.transfers.d2h_calls, std::uint64_t(r.stats.tiles) + 1);
  o.want_probs = true;
  r = seg.segment(in, o);
  EXPECT_EQ(r.stats.transfers.h2d_calls, std::uint64_t(r.stats.tiles));
  EXPECT_EQ(r.stats.transfers.d2h_calls, 2 * std::uint64_t(r.stats.tiles) + 1);
  SegmentOptions p;
  p.mode = SegmentMode::pixel;
  p.size = 6;
  r = seg.segment(in, p);
  EXPECT_GT(r.stats.batches, 1);
  EXPECT_EQ(r.stats.transfers.h2d_calls, 1u);
  EXPECT_EQ(r.stats.transfers.d2h_calls, 1u);
}

TEST_P(SegmentTest, NodataExcludedFromCounts) {
  auto be = test::backend_or_skip(GetParam());
  if (!be) return;
  const bool sim = GetParam() == BackendKind::sim;
  const LoadedModel m = model_for(GetParam());
  const int K = m.classes();
  Segmenter seg(m, *be, 8);
  InputImage in;
  const int w = sim ? 9 : 40, h = sim ? 7 : 33, S = sim ? 2 : 8;
  in.image = random_image(w, h, 11);
  in.alpha.assign(std::size_t(w) * std::size_t(h), 255);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w / 3; ++x) in.alpha[std::size_t(y * w + x)] = 0;  // left third transparent
  // A nodata colour at one centre pixel of the right part.
  const std::int64_t cy = 0 * S + std::min(S, h) / 2, cx = ((w - 1) / S) * S + std::min<std::int64_t>(S, w - ((w - 1) / S) * S) / 2;
  for (int c = 0; c < 3; ++c) in.image.rgb[std::size_t((cy * w + cx) * 3 + c)] = 7;
  SegmentOptions o;
  o.stride = S;
  o.has_nodata_rgb = true;
  o.nodata_rgb = {7, 7, 7};
  const SegmentResult r = seg.segment(in, o);
  ASSERT_EQ(r.valid.size(), r.cls.size());
  std::vector<std::int64_t> expect(std::size_t(K) + 2, 0);
  for (std::int64_t i = 0; i < r.map_h; ++i)
    for (std::int64_t j = 0; j < r.map_w; ++j) {
      const std::int64_t py = i * S + std::min<std::int64_t>(S, h - i * S) / 2;
      const std::int64_t px = j * S + std::min<std::int64_t>(S, w - j * S) / 2;
      const bool nodata = px < w / 3 || (py == cy && px == cx);
      const std::size_t cell = std::size_t(i * r.map_w + j);
      EXPECT_EQ(r.valid[cell], nodata ? 0 : 1) << i << "," << j;
      ++expect[nodata ? std::size_t(K) : std::size_t(r.cls[cell])];
    }
  EXPECT_EQ(r.counts, expect);
  EXPECT_GT(expect[std::size_t(K)], 1);
  // In image pixels: every pixel takes its cell's bin (the map upsamples by (y / S, x / S)); the
  // last row and column of cells cover fewer pixels (h = 33 and 7 leave 1 row).
  std::vector<std::int64_t> px(std::size_t(K) + 2, 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const std::size_t cell = std::size_t((y / S) * r.map_w + x / S);
      ++px[r.valid[cell] == 0 ? std::size_t(K) : std::size_t(r.cls[cell])];
    }
  EXPECT_EQ(r.pixels, px);
  std::int64_t total = 0;
  for (std::int64_t v : r.pixels) total += v;
  EXPECT_EQ(total, std::int64_t(w) * h);
  // Without alpha handling only the colour is nodata.
  o.use_alpha = false;
  const SegmentResult r2 = seg.segment(in, o);
  EXPECT_EQ(r2.counts[std::size_t(K)], 1);
  EXPECT_EQ(r2.cls, r.cls);  // nodata cells are classified all the same
}

LC_INSTANTIATE_PER_BACKEND(SegmentTest);

// ---- Fractions, outputs, bad input (host only) ----------------------------------------------

double sum_csv_percents(const std::string& csv) {
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "class,index,colour,pixels,percent");
  double sum = 0;
  while (std::getline(in, line)) sum += std::stod(line.substr(line.rfind(',') + 1));
  return sum;
}

TEST(CpuSegmentOutput, FractionsSumTo100) {
  for (const std::vector<std::int64_t>& counts :
       {std::vector<std::int64_t>{1, 1, 1, 0, 0}, std::vector<std::int64_t>{7, 0, 13, 5, 0},
        std::vector<std::int64_t>{1, 999999999, 2, 0, 0}}) {
    const Fractions f = compute_fractions(names(3), counts);
    EXPECT_EQ(f.valid, counts[0] + counts[1] + counts[2]);
    EXPECT_EQ(f.nodata, counts[3] + counts[4]);
    std::int64_t micro = 0;
    for (const ClassFraction& c : f.classes) {
      micro += c.percent_micro;
      // Each share is within one rounding unit of the exact value.
      EXPECT_NEAR(c.percent(), 100.0 * double(c.pixels) / double(f.valid), 1e-6 + 1e-12);
    }
    EXPECT_EQ(micro, 100000000);
    EXPECT_NEAR(sum_csv_percents(fractions_csv(f)), 100.0, 1e-6);
    const auto j = nlohmann::json::parse(fractions_json(f, R"({"image": "x.png"})"));
    EXPECT_EQ(j["image"], "x.png");
    double js = 0;
    for (const auto& c : j["classes"]) js += c["percent"].get<double>();
    EXPECT_NEAR(js, 100.0, 1e-6);
  }
  const Fractions none = compute_fractions(names(2), {0, 0, 4, 0});
  EXPECT_EQ(none.valid, 0);
  EXPECT_EQ(sum_csv_percents(fractions_csv(none)), 0.0);
  // 1/3 each: the largest remainders (ties: lowest index) take the extra unit.
  EXPECT_EQ(compute_fractions(names(3), {1, 1, 1, 0, 0}).classes[0].percent_text(), "33.333334");
  EXPECT_EQ(compute_fractions(names(3), {1, 1, 1, 0, 0}).classes[2].percent_text(), "33.333333");
  EXPECT_THROW(compute_fractions(names(3), {1, 2, 3}), Error);
}

TEST(CpuSegmentOutput, PaletteOverlayAndPng) {
  // No class colour is the nodata colour, and colours are distinct.
  for (int i = 0; i < kMaxPaletteClasses; ++i) {
    EXPECT_NE(palette_colour(i), kNodataColour);
    for (int j = 0; j < i; ++j) EXPECT_NE(palette_colour(i), palette_colour(j));
  }
  EXPECT_THROW(palette_colour(kMaxPaletteClasses), Error);
  EXPECT_EQ(colour_hex(palette_colour(0)), "#e6194b");
  // A 2x2 map with stride 30 over a 60x60 grey image: blended 50% (rounded half up), the nodata
  // cell untouched; the legend sits in the top-left corner.
  const std::vector<std::int32_t> cls = {0, 1, 2, 1};
  const std::vector<std::uint8_t> valid = {1, 1, 1, 0};
  const Fractions f = compute_fractions(names(3), {1, 1, 1, 1, 0});
  RgbImage big;
  big.width = 60, big.height = 60;
  big.rgb.assign(60 * 60 * 3, 100);
  const RgbImage ob = render_overlay(big, cls, valid, 2, 2, 30, f);
  const Rgb c2 = palette_colour(2);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(ob.rgb[std::size_t((59 * 60 + 0) * 3 + k)], (100 + c2[std::size_t(k)] + 1) / 2);
  EXPECT_EQ(ob.rgb[std::size_t((59 * 60 + 59) * 3)], 100);  // nodata cell (1, 1)
  // Legend drawn: some pixel in the top-left corner differs from the blend.
  bool legend = false;
  for (int x = 0; x < 30; ++x) legend = legend || ob.rgb[std::size_t((5 * 60 + x) * 3)] != (100 + palette_colour(0)[0] + 1) / 2;
  EXPECT_TRUE(legend);
  // PNG in memory round-trips.
  const auto png = encode_png(60, 60, 3, ob.rgb.data());
  const RgbImage back = decode_image_memory(png.data(), png.size(), "mem");
  EXPECT_EQ(back.rgb, ob.rgb);
}

TEST(CpuSegmentInput, BadImagesGiveClearErrors) {
  const fs::path dir = fs::temp_directory_path() / ("lc_seg_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return (dir / name).string();
  };
  auto message = [](const std::string& path) -> std::string {
    try {
      read_input_image(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  RgbImage img = random_image(20, 10, 3);
  std::vector<std::uint8_t> png = encode_png(20, 10, 3, img.rgb.data());
  const std::string ok = write("ok.png", png);
  const InputImage good = read_input_image(ok);
  EXPECT_EQ(good.image.rgb, img.rgb);
  EXPECT_TRUE(good.alpha.empty());
  std::vector<std::uint8_t> rgba(20 * 10 * 4, 200);
  rgba[3] = 0;
  const InputImage ga = read_input_image(write("a.png", encode_png(20, 10, 4, rgba.data())));
  ASSERT_EQ(ga.alpha.size(), 200u);
  EXPECT_EQ(ga.alpha[0], 0);
  EXPECT_EQ(ga.alpha[1], 200);
  EXPECT_EQ(ga.image.rgb[0], 200);
  const std::vector<std::uint8_t> grey(4, 50);
  const InputImage gg = read_input_image(write("g.png", encode_png(2, 2, 1, grey.data())));
  EXPECT_EQ(gg.image.rgb, std::vector<std::uint8_t>(12, 50));  // grey -> RGB

  EXPECT_NE(message((dir / "missing.png").string()).find("cannot read"), std::string::npos);
  EXPECT_NE(message(write("trunc.png", std::vector<std::uint8_t>(png.begin(), png.begin() + std::ptrdiff_t(png.size() / 2))))
                .find("cannot decode"),
            std::string::npos);
  EXPECT_NE(message(write("text.png", {'h', 'e', 'l', 'l', 'o'})).find("cannot decode"), std::string::npos);
  const std::vector<std::uint8_t> one(3, 9);
  EXPECT_NE(message(write("one.png", encode_png(1, 1, 3, one.data()))).find("image is 1x1"), std::string::npos);
  // A header claiming 300000 pixels of width (IHDR width at bytes 16..19, big-endian, its CRC at
  // 29..32 made to match so libpng accepts the header): refused from the header, before decoding.
  std::vector<std::uint8_t> huge = png;
  huge[16] = 0, huge[17] = 0x04, huge[18] = 0x93, huge[19] = 0xe0;
  const std::uint32_t crc = crc32(&huge[12], 17);
  for (int i = 0; i < 4; ++i) huge[std::size_t(29 + i)] = std::uint8_t(crc >> (24 - 8 * i));
  EXPECT_NE(message(write("huge.png", huge)).find("larger than the limit"), std::string::npos);
  fs::remove_all(dir);
}

TEST(CpuSegmentInput, CheckpointThatDoesNotFit) {
  auto be = test::backend_or_skip(BackendKind::cpu);
  if (!be) return;
  const ModelSpec spec = parse_model_json(kTinyModel, "tiny");
  const LoadedModel m = make_untrained_model(spec, names(3), 1);
  auto net = make_inference_network(m, *be, 1);
  Checkpoint ck;
  ck.model_json = model_to_json(spec);
  ck.class_names = names(3);
  ck.input_height = 8, ck.input_width = 8, ck.input_channels = 3;
  for (const ParamView& v : net->params()) ck.params.push_back({v.name, v.shape, net->read(v.name)});
  const fs::path dir = fs::temp_directory_path() / ("lc_seg_ck_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto message = [&](const Checkpoint& c) -> std::string {
    const std::string p = (dir / "m.ckpt").string();
    save_checkpoint(p, c);
    try {
      load_inference_model(p);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message(ck), "no error");
  Checkpoint many = ck;
  many.class_names = names(40);
  EXPECT_NE(message(many).find("40 classes"), std::string::npos) << message(many);
  Checkpoint other = ck;
  other.class_names = names(4);  // the dense layer holds 3
  EXPECT_NE(message(other).find("shape"), std::string::npos) << message(other);
  Checkpoint size = ck;
  size.input_height = 16;
  EXPECT_NE(message(size).find("input shape"), std::string::npos) << message(size);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lc

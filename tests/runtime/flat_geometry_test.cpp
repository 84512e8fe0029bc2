// Flat-colour inference (runtime/flat_geometry.h, Network::predict_flat): the reduced geometry of
// the seed network against a derivation by hand, and the reduced evaluation against the ordinary
// full-size forward of the same flat patches (seed network on cpu; odd, non-square networks on cpu
// and sim), with trained-looking batch-norm statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "kernels/image/image.h"
#include "model/model_spec.h"
#include "runtime/flat_geometry.h"
#include "runtime/graph.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

ModelSpec seed_network() { return parse_model_json(default_model_json(), "eurosat_cnn"); }

// Non-square input, odd sizes (pooling floors 21 -> 10 -> 5 and 14 -> 7 -> 3), kernels 5, 3, 7.
const char* kOddModel = R"({"name": "odd", "input": [21, 14, 3], "layers": [
  {"type": "batchnorm"},
  {"type": "conv2d", "filters": 5, "kernel": 5, "activation": "elu"},
  {"type": "conv2d", "filters": 6, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "batchnorm"},
  {"type": "conv2d", "filters": 7, "kernel": 7},
  {"type": "maxpool"},
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "flatten"},
  {"type": "dense", "units": 9, "activation": "elu"},
  {"type": "dropout", "rate": 0.3},
  {"type": "dense", "units": "classes"}]})";

// A larger input and no batch norm first: its first two segments run on reduced images.
const char* kWideModel = R"({"name": "wide", "input": [48, 48, 3], "layers": [
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "batchnorm"},
  {"type": "conv2d", "filters": 5, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "conv2d", "filters": 3, "kernel": 3},
  {"type": "flatten"},
  {"type": "dense", "units": "classes"}]})";

TEST(CpuFlatGeometry, SeedNetworkReducedByHand) {
  const auto layers = infer_layers(seed_network(), 10);
  const FlatGeometry g = derive_flat_geometry(layers);
  // Worked out by hand, rows (columns alike); t, b: top / bottom border rows, I: interior.
  // Layers: 0 bn, 1 conv5, 2 pool, 3 bn, 4 conv3, 5 conv3, 6 pool, 7 bn, 8 conv3, 9 conv3, 10 pool,
  // 11 bn, 12 conv3, 13 pool, 14 flatten. Each cut's input is the shortest that still yields every
  // row class of the full layer's output.
  struct Cut {
    std::size_t layer;
    std::vector<std::int32_t> rows;
  };
  const std::vector<Cut> cuts = {
      // conv5 on 5 flat rows gives its 5 classes [t0 t1 I b1 b0]; the pool needs the pairs
      // (t0,t1) (I,I) (b1,b0): 6 rows.
      {2, {0, 1, 2, 2, 3, 4}},
      // Pool output [t I b] (of 32 rows [t I*30 b]); the 3x3 conv's 5 classes need [t I I I b].
      {3, {0, 1, 1, 1, 2}},
      // [c0 c1 I c1' c0'] -> the next 3x3 conv's 7 classes need I three times.
      {5, {0, 1, 2, 2, 2, 3, 4}},
      // 7 classes [o0 o1 o2 I o4 o5 o6] of 32 rows: pairs (o0,o1) (o2,I) (I,I) (I,o4) (o5,o6).
      {6, {0, 1, 2, 3, 3, 3, 3, 4, 5, 6}},
      // Level 2 [A B I C D] (16 rows): 3x3 conv, 7 classes.
      {7, {0, 1, 2, 2, 2, 3, 4}},
      // 3x3 conv on 7 classes [x0 x1 x2 I y2 y1 y0] -> 9 classes, I three times.
      {9, {0, 1, 2, 3, 3, 3, 4, 5, 6}},
      // 9 classes [z0..z3 I w3..w0] of 16 rows: pairs (z0,z1) (z2,z3) (I,I) (w3,w2) (w1,w0).
      {10, {0, 1, 2, 3, 4, 4, 5, 6, 7, 8}},
      // Level 3 [P Q I R S] (8 rows): 3x3 conv, 7 classes.
      {11, {0, 1, 2, 2, 2, 3, 4}},
      // The last pool feeds flatten: its input must be the real 8 rows [r0 r1 r2 I I r5 r6 r7].
      {13, {0, 1, 2, 3, 3, 4, 5, 6}},
  };
  EXPECT_EQ(g.input.h, 5);  // conv5 on 5 flat rows: [t0 t1 I b1 b0]
  EXPECT_EQ(g.input.w, 5);
  EXPECT_EQ(g.input.c, 3);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(layers[i].describe());
    const auto it = std::find_if(cuts.begin(), cuts.end(), [&](const Cut& c) { return c.layer == i; });
    const std::vector<std::int32_t> want = it == cuts.end() ? std::vector<std::int32_t>{} : it->rows;
    EXPECT_EQ(g.rows[i], want);
    EXPECT_EQ(g.cols[i], want);
    if (!want.empty()) {
      EXPECT_EQ(g.layers[i].in.h, int(want.size()));
    }
    EXPECT_EQ(g.layers[i].in.c, layers[i].in.c);
    EXPECT_EQ(g.layers[i].out.c, layers[i].out.c);
  }
  EXPECT_EQ(g.layers[13].out.h, 4);  // the last pool: the real 4x4x128 layout for flatten
  EXPECT_EQ(g.layers[14].in.h, 4);
  EXPECT_EQ(g.layers[15].in.c, 2048);
  // Multiply-adds by hand: conv outputs 5x5, 5x5, 7x7, 7x7, 9x9, 7x7 positions; dense layers.
  const std::int64_t convs = 25 * 25 * 3 * 16 + 25 * 9 * 16 * 32 + 49 * 9 * 32 * 32 + 49 * 9 * 32 * 64 +
                             81 * 9 * 64 * 64 + 49 * 9 * 64 * 128;
  EXPECT_EQ(g.reduced_macs, convs + 2048 * 128 + 128 * 64 + 64 * 10);
  EXPECT_EQ(g.full_macs, forward_macs_per_image(layers));
  EXPECT_GT(double(g.full_macs) / double(g.reduced_macs), 4.5);
}

TEST(CpuFlatGeometry, RowClassesFollowTheBorderDepth) {
  // Distinct row classes per layer boundary of the seed network: a 5x5 conv adds 2 border rows
  // per side, a 3x3 conv 1, a pool halves them (rounding up); a fully distinct level has h classes.
  const auto layers = infer_layers(seed_network(), 10);
  const auto cls = flat_row_classes(layers, 64);
  ASSERT_EQ(cls.size(), 15u);  // boundaries before layers 0..13 and after the last pool
  auto distinct = [&](std::size_t i) { return std::set<int>(cls[i].begin(), cls[i].end()).size(); };
  EXPECT_EQ(distinct(0), 1u);   // the flat input
  EXPECT_EQ(distinct(2), 5u);   // after conv 5x5: 2 + interior + 2
  EXPECT_EQ(distinct(3), 3u);   // after the pool
  EXPECT_EQ(distinct(6), 7u);   // after two 3x3 convs: 3 + 1 + 3
  EXPECT_EQ(distinct(7), 5u);
  EXPECT_EQ(distinct(10), 9u);  // 4 + 1 + 4
  EXPECT_EQ(distinct(11), 5u);
  EXPECT_EQ(distinct(13), 7u);  // 8 rows, 3 + 1 (rows 3, 4) + 3
  EXPECT_EQ(distinct(14), 4u);
}

// Random weights and batch-norm statistics (a trained network's are not 0 / 1).
void randomise(Network& net, std::uint64_t seed) {
  net.init_parameters(seed);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (const ParamView& v : net.params()) {
    if (v.trainable && v.name.find("batchnorm") == std::string::npos) continue;
    std::vector<float> x(std::size_t(v.numel));
    const bool var = v.name.find("moving_var") != std::string::npos, gamma = v.name.find("gamma") != std::string::npos;
    for (float& e : x) e = var ? 0.2f + 2.f * u(rng) : gamma ? 0.5f + u(rng) : u(rng) - 0.5f;
    net.write(v.name, x);
  }
}

// predict_flat on reduced patches against predict on full-size patches of the same colours.
// Both are float32 with the same weights; only the amount of work differs, so the probabilities
// agree to rounding (stated: 2e-5 absolute; measured below) and the classes are equal wherever the
// top two probabilities are not within that of each other.
void flat_vs_full(BackendKind kind, const ModelSpec& spec, int classes, int batch, std::uint64_t seed) {
  auto be = backend_or_skip(kind);
  if (!be) return;
  NetworkOptions o;
  o.batch = batch, o.training = false, o.flat_inference = true;
  Network net(spec, classes, *be, o);
  randomise(net, seed);
  const ActShape full = net.input_shape(), small = net.flat_input_shape();
  EXPECT_LE(small.h, full.h);
  EXPECT_LE(small.w, full.w);
  std::mt19937_64 rng(seed + 1);
  std::vector<std::uint8_t> colours(std::size_t(batch) * 3);
  for (auto& c : colours) c = std::uint8_t(rng() & 0xFF);
  colours[0] = colours[1] = colours[2] = 0;  // black and white among them
  if (batch > 1) colours[3] = colours[4] = colours[5] = 255;
  Guarded<std::uint8_t> dc(*be, colours);
  Guarded<float> xf(*be, std::size_t(batch) * std::size_t(full.numel())), xs(*be, std::size_t(batch) * std::size_t(small.numel()));
  Guarded<float> pf(*be, std::size_t(batch) * std::size_t(classes)), ps(*be, std::size_t(batch) * std::size_t(classes));
  Guarded<std::int32_t> tf(*be, std::size_t(batch)), ts(*be, std::size_t(batch));
  auto flat = [&](const ActShape& s, float* out) {
    FlatPatchArgs a;
    a.count = batch, a.height = s.h, a.width = s.w, a.channels = s.c;
    LC_DISPATCH(kind, flat_patches, a, dc.get(), out, be->stream());
  };
  flat(full, xf.get());
  flat(small, xs.get());
  net.predict(xf.get(), batch, pf.get(), tf.get());
  net.predict_flat(xs.get(), batch, ps.get(), ts.get());
  const auto pfull = pf.download(), psmall = ps.download();
  const auto tfull = tf.download(), tsmall = ts.download();
  EXPECT_TRUE(all_close(psmall, pfull, {2e-5, 0}, "probabilities"));
  double worst = 0;
  for (std::size_t i = 0; i < pfull.size(); ++i) worst = std::max(worst, std::fabs(double(psmall[i]) - pfull[i]));
  int ties = 0;
  for (int b = 0; b < batch; ++b) {
    std::vector<float> p(pfull.begin() + b * classes, pfull.begin() + (b + 1) * classes);
    std::sort(p.rbegin(), p.rend());
    if (classes > 1 && p[0] - p[1] < 4e-5f) {
      ++ties;
      continue;
    }
    EXPECT_EQ(tsmall[std::size_t(b)], tfull[std::size_t(b)]) << "colour " << b;
  }
  EXPECT_TRUE(xs.guards_intact() && ps.guards_intact() && ts.guards_intact());
  std::printf("  %s: reduced input %dx%d of %dx%d, %lld of %lld multiply-adds; largest probability difference %.3g; "
              "%d near-ties skipped\n",
              spec.name.c_str(), small.h, small.w, full.h, full.w,
              static_cast<long long>(net.flat_geometry().reduced_macs),
              static_cast<long long>(net.flat_geometry().full_macs), worst, ties);
}

TEST(CpuFlatInference, SeedNetworkMatchesFullPatches) { flat_vs_full(BackendKind::cpu, seed_network(), 21, 64, 3); }
TEST(CpuFlatInference, OddNetworkMatchesFullPatches) {
  flat_vs_full(BackendKind::cpu, parse_model_json(kOddModel, "odd"), 6, 40, 4);
}
TEST(CpuFlatInference, WideNetworkMatchesFullPatches) {
  flat_vs_full(BackendKind::cpu, parse_model_json(kWideModel, "wide"), 5, 40, 5);
}
TEST(SimFlatInference, OddNetworkMatchesFullPatches) {
  flat_vs_full(BackendKind::sim, parse_model_json(kOddModel, "odd"), 6, 12, 6);
}
TEST(SimFlatInference, WideNetworkMatchesFullPatches) {
  flat_vs_full(BackendKind::sim, parse_model_json(kWideModel, "wide"), 5, 8, 7);
}
TEST(SimFlatInference, SeedNetworkMatchesFullPatches) { flat_vs_full(BackendKind::sim, seed_network(), 10, 4, 8); }
TEST(CudaFlatInference, SeedNetworkMatchesFullPatches) { flat_vs_full(BackendKind::cuda, seed_network(), 21, 256, 9); }
TEST(CudnnFlatInference, SeedNetworkMatchesFullPatches) {
  flat_vs_full(BackendKind::cudnn, seed_network(), 21, 256, 10);
}

TEST(CpuFlatInference, NeedsTheOption) {
  Backend be(BackendKind::cpu);
  NetworkOptions o;
  o.batch = 2, o.training = false;
  Network net(seed_network(), 3, be, o);
  EXPECT_THROW(net.flat_input_shape(), Error);
  o.training = true, o.flat_inference = true;
  EXPECT_THROW(Network(seed_network(), 3, be, o), Error);
}

}  // namespace
}  // namespace lc::test

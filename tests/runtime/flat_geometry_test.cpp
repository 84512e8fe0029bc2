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
  // Worked out by hand (rows; columns alike). Input 64 rows, all one colour: after the 5x5 conv
  // rows 0,1 and 62,63 differ from the interior; 6 rows [t0 t1 I I b1 b0] pool into [t I b].
  EXPECT_EQ(g.input.h, 6);
  EXPECT_EQ(g.input.w, 6);
  EXPECT_EQ(g.input.c, 3);
  // Level 1 (32 rows [t I*30 b]): two 3x3 convs make rows 0..2 and 29..31 borders; pooling must
  // produce the pairs (0,1) (2,3) (I,I) (28,29) (30,31): [t I*8 b], 10 rows.
  const std::vector<std::int32_t> l1 = {0, 1, 1, 1, 1, 1, 1, 1, 1, 2};
  // Level 2 (16 rows [A B I*12 C D]): borders grow to 4 rows, the pairs (4,5)..(10,11) are
  // interior: [A B I*6 C D].
  const std::vector<std::int32_t> l2 = {0, 1, 2, 2, 2, 2, 2, 2, 3, 4};
  // Level 3 (8 rows [P Q I I I I R S]): all four pooled rows differ, so it runs at full size.
  const std::vector<std::int32_t> l3 = {0, 1, 2, 2, 2, 2, 3, 4};
  for (std::size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(layers[i].describe());
    if (i == 3) {
      EXPECT_EQ(g.rows[i], l1);
      EXPECT_EQ(g.cols[i], l1);
    } else if (i == 7) {
      EXPECT_EQ(g.rows[i], l2);
      EXPECT_EQ(g.cols[i], l2);
    } else if (i == 11) {
      EXPECT_EQ(g.rows[i], l3);
      EXPECT_EQ(g.cols[i], l3);
    } else {
      EXPECT_TRUE(g.rows[i].empty());
      EXPECT_TRUE(g.cols[i].empty());
    }
    EXPECT_EQ(g.layers[i].in.c, layers[i].in.c);
    EXPECT_EQ(g.layers[i].out.c, layers[i].out.c);
  }
  EXPECT_EQ(g.layers[1].out.h, 6);
  EXPECT_EQ(g.layers[2].out.h, 3);
  EXPECT_EQ(g.layers[6].out.h, 5);
  EXPECT_EQ(g.layers[10].out.h, 5);
  EXPECT_EQ(g.layers[13].out.h, 4);   // the last pool: the real 4x4x128 layout for flatten
  EXPECT_EQ(g.layers[14].in.h, 4);
  EXPECT_EQ(g.layers[15].in.c, 2048);
  // Multiply-adds by hand: convs 36*75*16 + 100*9*(16*32 + 32*32 + 32*64 + 64*64) + 64*9*64*128,
  // dense 2048*128 + 128*64 + 64*10.
  const std::int64_t dense = 2048 * 128 + 128 * 64 + 64 * 10;
  EXPECT_EQ(g.reduced_macs, 36 * 75 * 16 + 100 * 9 * (16 * 32 + 32 * 32 + 32 * 64 + 64 * 64) + 64 * 9 * 64 * 128 + dense);
  EXPECT_EQ(g.full_macs, forward_macs_per_image(layers));
  EXPECT_GT(double(g.full_macs) / double(g.reduced_macs), 3.1);
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
  Device& dev = be->device();
  Guarded<std::uint8_t> dc(dev, colours);
  Guarded<float> xf(dev, std::size_t(batch) * std::size_t(full.numel())), xs(dev, std::size_t(batch) * std::size_t(small.numel()));
  Guarded<float> pf(dev, std::size_t(batch) * std::size_t(classes)), ps(dev, std::size_t(batch) * std::size_t(classes));
  Guarded<std::int32_t> tf(dev, std::size_t(batch)), ts(dev, std::size_t(batch));
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

// model/bench_cases.h: the op case tables that `landcover bench` validates and times. Every case of
// the seed network matches lc::ref on cpu (and the max-pool table on sim), a corrupted output is
// caught, the FLOP counts follow the layer shapes and --ops selects what it says.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "model/bench_cases.h"
#include "model/model_spec.h"
#include "tests/support/testing.h"

namespace lc::test {
namespace {

struct SeedNet {
  std::vector<LayerInfo> layers;
  std::int64_t params = 0;
  SeedNet() {
    layers = infer_layers(parse_model_json(default_model_json(), "built-in model"), 10);
    params = trainable_parameter_count(layers);
  }
};

TEST(CpuBenchCases, EveryOpOfTheSeedNetworkMatchesTheReference) {
  auto be = backend_or_skip(BackendKind::cpu);
  if (!be) return;
  const SeedNet net;
  const auto cases = bench::model_cases(net.layers, 1, net.params);
  std::uint64_t seed = 1;
  for (const bench::OpCase& c : cases) EXPECT_EQ(bench::validate_case(*be, c, ++seed), "") << c.name;
}

TEST(SimBenchCases, MaxPoolTableMatchesTheReference) {
  auto be = backend_or_skip(BackendKind::sim);
  if (!be) return;
  const SeedNet net;
  int n = 0;
  for (const bench::OpCase& c : bench::model_cases(net.layers, 1, net.params))
    if (c.type == "maxpool") {
      EXPECT_EQ(bench::validate_case(*be, c, 7), "") << c.name;
      ++n;
    }
  EXPECT_GE(n, 2) << "every max-pool layer has a forward and a backward case";
}

// `landcover bench --conv-version`: every custom conv2d kernel version of every layer on sim.
TEST(SimBenchCases, EveryConvVersionMatchesTheReference) {
  auto be = backend_or_skip(BackendKind::sim);
  if (!be) return;
  const SeedNet net;
  std::set<std::string> names;
  for (const bench::OpCase& c : bench::model_cases(net.layers, 1, net.params, {1, 2, 3})) {
    if (c.type != "conv2d") continue;
    EXPECT_EQ(bench::validate_case(*be, c, 11), "") << c.name;
    names.insert(c.name);
  }
  for (const char* n : {"L01 conv2d fwd v1", "L01 conv2d bwd data v2", "L01 conv2d bwd weights v3"})
    EXPECT_TRUE(names.count(n)) << n;
}

TEST(CpuBenchCases, ConvVersionsRepeatTheConvCasesButCountOnce) {
  const SeedNet net;
  const auto plain = bench::model_cases(net.layers, 4, net.params);
  const auto two = bench::model_cases(net.layers, 4, net.params, {2, 1});
  int convs = 0, elus = 0, train = 0, train2 = 0;
  for (const bench::OpCase& c : plain) convs += c.type == "conv2d", elus += c.type == "elu", train += c.train;
  int v2 = 0, v1 = 0, elus2 = 0;
  for (const bench::OpCase& c : two) {
    v2 += c.name.ends_with(" v2"), v1 += c.name.ends_with(" v1"), elus2 += c.type == "elu", train2 += c.train;
    if (c.name.ends_with(" v1")) {
      EXPECT_FALSE(c.train || c.infer) << c.name << ": only the first version counts";
    }
  }
  EXPECT_EQ(v2, convs);
  EXPECT_EQ(v1, convs);
  EXPECT_EQ(elus2, elus);
  EXPECT_EQ(train2, train) << "the training-step sum has each op once";
  EXPECT_EQ(two.size(), plain.size() + std::size_t(convs));
  EXPECT_THROW(bench::model_cases(net.layers, 4, net.params, {4}), lc::Error);
}

TEST(CpuBenchCases, ACorruptedOutputIsReported) {
  auto be = backend_or_skip(BackendKind::cpu);
  if (!be) return;
  const SeedNet net;
  for (bench::OpCase c : bench::model_cases(net.layers, 1, net.params)) {
    if (c.op != "elu_backward") continue;
    const auto run = c.run;
    // cpu device memory is host memory: add 0.5 to the first dx after the backend's call.
    c.run = [run](bench::Impl im, BackendKind k, const bench::Ptrs& p, Workspace w, stream_t s) {
      run(im, k, p, w, s);
      if (im == bench::Impl::backend) static_cast<float*>(p[2])[0] += 0.5f;
    };
    const std::string why = bench::validate_case(*be, c, 3);
    EXPECT_NE(why.find("dx[0]"), std::string::npos) << why;
    return;
  }
  FAIL() << "the seed network has no ELU backward case";
}

TEST(CpuBenchCases, CountsFollowTheLayerShapes) {
  const SeedNet net;
  const int n = 16;
  const auto cases = bench::model_cases(net.layers, n, net.params);
  int convs = 0;
  for (const LayerInfo& L : net.layers) {
    if (std::string(L.type_name()) != "conv2d") continue;
    ++convs;
    // Same padding, stride 1: R*S*C multiply-adds per output pixel and filter, 2 FLOPs each.
    const double macs = double(n) * L.out.h * L.out.w * L.spec.filters * L.spec.kernel * L.spec.kernel * L.in.c;
    int found = 0;
    for (const bench::OpCase& c : cases)
      if (c.type == "conv2d" && c.name.rfind(L.prefix().substr(0, 3) + " ", 0) == 0) {
        EXPECT_DOUBLE_EQ(c.flops, 2 * macs) << c.name;
        ++found;
      }
    EXPECT_EQ(found, 3) << L.prefix() << ": forward, backward data, backward weights";
  }
  EXPECT_GT(convs, 0);
  int pools = 0;
  for (const bench::OpCase& c : cases) {
    if (c.op != "maxpool_forward") continue;
    ++pools;  // the recorded input shape is that of the x buffer, and pooling halves it
    EXPECT_EQ(c.n, n) << c.name;
    EXPECT_EQ(c.bufs[0].bytes, 4u * std::size_t(c.n) * c.h * c.w * c.c) << c.name;
    EXPECT_EQ(c.bufs[1].bytes, 4u * std::size_t(c.n) * (c.h / 2) * (c.w / 2) * c.c) << c.name;
  }
  EXPECT_EQ(pools, 4) << "the seed network has four max-pool layers";
  for (const bench::OpCase& c : cases)
    if (c.op == "adam_update") {
      EXPECT_DOUBLE_EQ(c.bytes, 28.0 * double(net.params)) << "7 floats per parameter";
    }
}

TEST(CpuBenchCases, SelectionMatchesOpFunctionTypeOrPartOfTheName) {
  const SeedNet net;
  const auto cases = bench::model_cases(net.layers, 2, net.params);
  std::set<std::string> types;
  for (const bench::OpCase& c : cases) {
    EXPECT_TRUE(bench::selected(c, {})) << "no filter selects everything";
    EXPECT_EQ(bench::selected(c, {"maxpool_backward"}), c.op == "maxpool_backward") << c.name;
    // A type selects its cases; names match by part too ("L17 dense elu bwd" by "dense").
    if (c.type == "dense" || c.type == "adam" || c.name.find(" dense elu") != std::string::npos)
      EXPECT_TRUE(bench::selected(c, {"dense", "adam"})) << c.name;
    else
      EXPECT_FALSE(bench::selected(c, {"dense", "adam"})) << c.name;
    EXPECT_EQ(bench::selected(c, {"bwd weights"}), c.op == "conv2d_backward_weights") << c.name;
    types.insert(c.type);
  }
  for (const char* t : {"conv2d", "batchnorm", "maxpool", "dense", "dropout", "elu", "softmax_ce", "adam"})
    EXPECT_TRUE(types.count(t)) << t;
}

}  // namespace
}  // namespace lc::test

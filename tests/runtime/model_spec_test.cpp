// The JSON model file: parsing, errors that name the layer, shape inference, parameter names and
// counts of the seed network (numbers from docs/MODEL.md, not from the code), and the compiled-in
// default against model/eurosat_cnn.json.
#include <gtest/gtest.h>

#include "kernels/common/check.h"
#include "model/model_spec.h"

namespace lc::test {
namespace {

// Expects `fn` to throw lc::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F fn, std::initializer_list<const char*> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one mentioning '" << *parts.begin() << "'";
  } catch (const Error& e) {
    for (const char* p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

std::string model_with_layers(const std::string& layers, const std::string& input = "[8, 8, 3]") {
  return R"({"name": "t", "input": )" + input + R"(, "layers": [)" + layers + "]}";
}

TEST(CpuModelSpec, SeedNetworkMatchesModelMd) {
  const ModelSpec spec = load_model_file(LC_SOURCE_DIR "/model/eurosat_cnn.json");
  EXPECT_EQ(spec.name, "eurosat_cnn");
  EXPECT_EQ(spec.height, 64);
  EXPECT_EQ(spec.width, 64);
  EXPECT_EQ(spec.channels, 3);
  ASSERT_EQ(spec.layers.size(), 20u);
  const auto layers = infer_layers(spec, 10);
  // docs/MODEL.md: 415,792 trainable parameters for 10 classes, 38.2 M multiply-adds per image.
  EXPECT_EQ(trainable_parameter_count(layers), 415792);
  EXPECT_EQ(state_count(layers), 2 * (3 + 16 + 32 + 64));
  EXPECT_NEAR(double(forward_macs_per_image(layers)) / 1e6, 38.2, 0.05);
  // docs/MODEL.md's shapes after each stage.
  EXPECT_EQ(layers[2].out.str(), "32x32x16");
  EXPECT_EQ(layers[6].out.str(), "16x16x32");
  EXPECT_EQ(layers[10].out.str(), "8x8x64");
  EXPECT_EQ(layers[13].out.str(), "4x4x128");
  EXPECT_EQ(layers[14].out.str(), "2048");
  EXPECT_EQ(layers[19].out.str(), "10");
  // Names and layouts (the team brief).
  EXPECT_EQ(layers[0].params[0].name, "L00.batchnorm.gamma");
  EXPECT_EQ(layers[0].params[3].name, "L00.batchnorm.moving_var");
  EXPECT_FALSE(layers[0].params[3].trainable);
  EXPECT_EQ(layers[1].params[0].name, "L01.conv2d.kernel");
  EXPECT_EQ(layers[1].params[0].shape, (std::vector<std::int64_t>{16, 5, 5, 3}));
  EXPECT_EQ(layers[15].params[0].name, "L15.dense.kernel");
  EXPECT_EQ(layers[15].params[0].shape, (std::vector<std::int64_t>{2048, 128}));
  EXPECT_EQ(layers[19].params[1].name, "L19.dense.bias");
  EXPECT_EQ(layers[19].params[1].shape, (std::vector<std::int64_t>{10}));
  // 21 classes (UC Merced): only the last layer changes.
  EXPECT_EQ(trainable_parameter_count(infer_layers(spec, 21)), 415792 + 11 * 64 + 11);
}

TEST(CpuModelSpec, CompiledInDefaultEqualsTheModelFile) {
  const ModelSpec file = load_model_file(LC_SOURCE_DIR "/model/eurosat_cnn.json");
  const ModelSpec builtin = parse_model_json(default_model_json(), "builtin");
  EXPECT_EQ(model_to_json(file), model_to_json(builtin));
}

TEST(CpuModelSpec, CanonicalJsonRoundTrips) {
  const ModelSpec a = parse_model_json(default_model_json());
  const std::string text = model_to_json(a);
  EXPECT_NE(text.find("\"epsilon\": 0.001"), std::string::npos) << text;
  EXPECT_NE(text.find("\"units\": \"classes\""), std::string::npos) << text;
  EXPECT_EQ(model_to_json(parse_model_json(text)), text);
}

TEST(CpuModelSpec, UnknownKeyNamesTheLayer) {
  expect_error([] { parse_model_json(model_with_layers(R"({"type": "conv2d", "filter": 4, "kernel": 3})"), "m.json"); },
               {"m.json", "layer 0 (conv2d)", "unknown key 'filter'"});
  expect_error([] { parse_model_json(R"({"input": [8, 8, 3], "layers": [{"type": "flatten"}], "lr": 1})", "m.json"); },
               {"m.json", "unknown key 'lr'"});
}

TEST(CpuModelSpec, UnknownLayerTypeNamesTheLayer) {
  expect_error([] { parse_model_json(model_with_layers(R"({"type": "flatten"}, {"type": "relu"})")); },
               {"layer 1", "unknown layer type 'relu'"});
  expect_error([] { parse_model_json(model_with_layers(R"({"units": 3})")); }, {"layer 0", "missing key 'type'"});
}

TEST(CpuModelSpec, BadValuesAreErrors) {
  expect_error([] { parse_model_json(model_with_layers(R"({"type": "conv2d", "filters": "4", "kernel": 3})")); },
               {"layer 0 (conv2d)", "'filters' must be an integer"});
  expect_error([] { parse_model_json(model_with_layers(R"({"type": "dense", "units": "many"})")); },
               {"layer 0 (dense)", "\"classes\""});
  expect_error([] { parse_model_json(model_with_layers(R"({"type": "dense", "units": 4, "activation": "relu"})")); },
               {"layer 0 (dense)", "unknown activation 'relu'"});
  expect_error([] { parse_model_json(model_with_layers(R"({"type": "conv2d", "kernel": 3})")); },
               {"layer 0 (conv2d)", "missing key 'filters'"});
  expect_error([] { parse_model_json(model_with_layers(R"({"type": "flatten"})", "[8, 8]")); }, {"'input'"});
  expect_error([] { parse_model_json("{\"input\": [8, 8, 3], \"layers\": [}"); }, {"not valid JSON"});
}

TEST(CpuModelSpec, ImpossibleShapesNameTheLayer) {
  auto infer = [](const std::string& layers, int classes = 4) {
    return validate_model(parse_model_json(model_with_layers(layers), "m.json"), classes, "m.json");
  };
  expect_error([&] { infer(R"({"type": "flatten"}, {"type": "conv2d", "filters": 4, "kernel": 3})"); },
               {"m.json", "layer 1 (conv2d)", "flat"});
  expect_error([&] { infer(R"({"type": "dense", "units": "classes"})"); }, {"layer 0 (dense)", "insert a flatten"});
  expect_error([&] { infer(R"({"type": "maxpool"}, {"type": "maxpool"}, {"type": "maxpool"}, {"type": "maxpool"},
                              {"type": "flatten"}, {"type": "dense", "units": "classes"})"); },
               {"layer 3 (maxpool)", "1x1x3"});
  expect_error([&] { infer(R"({"type": "conv2d", "filters": 4, "kernel": 4}, {"type": "flatten"},
                              {"type": "dense", "units": "classes"})"); },
               {"layer 0 (conv2d)", "odd"});
  expect_error([&] { infer(R"({"type": "flatten"}, {"type": "dense", "units": 5})"); },
               {"layer 1 (dense)", "4 class logits", "got 5"});
  expect_error([&] { infer(R"({"type": "flatten"}, {"type": "dense", "units": "classes", "activation": "elu"})"); },
               {"layer 1 (dense)", "no activation"});
  expect_error([&] { infer(R"({"type": "flatten"}, {"type": "dropout", "rate": 1.0}, {"type": "dense", "units": "classes"})"); },
               {"layer 1 (dropout)", "rate"});
  expect_error([&] { infer(R"({"type": "flatten"}, {"type": "flatten"}, {"type": "dense", "units": "classes"})"); },
               {"layer 1 (flatten)", "already flat"});
}

TEST(CpuModelSpec, OddSizesPoolLikeKeras) {
  // 9x7 -> maxpool -> 4x3 (Keras 'valid' pooling floors); batchnorm after flatten works per feature.
  const auto layers = validate_model(parse_model_json(model_with_layers(
      R"({"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "maxpool"}, {"type": "flatten"},
         {"type": "batchnorm", "epsilon": 0.01, "momentum": 0.9}, {"type": "dense", "units": "classes"})", "[9, 7, 1]")), 3);
  EXPECT_EQ(layers[1].out.str(), "4x3x2");
  EXPECT_EQ(layers[2].out.str(), "24");
  EXPECT_EQ(layers[3].params[0].shape, (std::vector<std::int64_t>{24}));
  EXPECT_FLOAT_EQ(layers[3].spec.epsilon, 0.01f);
  EXPECT_EQ(layers[4].params[0].shape, (std::vector<std::int64_t>{24, 3}));
}

}  // namespace
}  // namespace lc::test

// Keras exchange (model/keras/keras.h): the committed fixtures of tests/keras/fixtures/ (written by
// tests/keras/make_keras_fixtures.py with Keras 3.15 / TensorFlow 2.21: the notebook's CNN trained
// a few steps on UC Merced images, a small functional chain, a small model saved by Keras 2) imported from .keras and .h5 must
// predict Keras's recorded probabilities; export -> import must give back every weight bit for bit;
// bad files must fail with one line naming the file (and the layer). The check that Keras loads the
// exported files is the generator's --check mode (needs TensorFlow; docs/KERAS.md has the numbers).
// Depends on: model/keras/keras.h, model/inference.h, libarchive (editing .keras zips), the landcover
// executable (LC_LANDCOVER_BIN, else the build folder's) for the CLI test.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/image_io.h"
#include "model/inference.h"
#include "model/keras/keras.h"
#include "model/model_spec.h"
#include "runtime/backend.h"
#include "tests/support/files.h"

namespace lc {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Members = std::vector<std::pair<std::string, Bytes>>;

const std::string kDir = std::string(LC_SOURCE_DIR) + "/tests/keras/fixtures/";
constexpr int kImages = 8, kSide = 64, kClasses = 10;

Bytes bytes_of(const std::string& path) {
  const std::string s = test::read_text_file(path);
  EXPECT_FALSE(s.empty()) << path;
  return Bytes(s.begin(), s.end());
}

std::vector<float> floats_of(const std::string& path) {
  const Bytes b = bytes_of(path);
  std::vector<float> f(b.size() / 4);
  std::memcpy(f.data(), b.data(), f.size() * 4);
  return f;
}

// Probabilities [n][classes] of the fixture images (x / 255, as Keras was given them).
std::vector<float> predict_fixture(const Checkpoint& ck, const std::string& backend = "cpu") {
  const test::TempDir dir("keras_predict");
  save_checkpoint(dir.file("m.ckpt"), ck);
  const LoadedModel model = load_inference_model(dir.file("m.ckpt"));
  std::unique_ptr<Backend> be = make_backend(backend);
  std::unique_ptr<Network> net = make_inference_network(model, *be, kImages);
  const Bytes u8 = bytes_of(kDir + "inputs_u8.bin");
  EXPECT_EQ(u8.size(), std::size_t(kImages) * kSide * kSide * 3);
  std::vector<float> x(u8.size());
  for (std::size_t i = 0; i < u8.size(); ++i) x[i] = float(u8[i]) / 255.f;
  Device& dev = be->device();
  dev.copy_h2d(net->input().data<float>(), x.data(), x.size() * 4, be->stream());
  float* dp = static_cast<float*>(dev.alloc(std::size_t(kImages) * kClasses * 4));
  net->predict(net->input().data<float>(), kImages, dp, nullptr);
  std::vector<float> p(std::size_t(kImages) * kClasses);
  dev.copy_d2h(p.data(), dp, p.size() * 4, be->stream());
  be->synchronize();
  dev.free(dp);
  return p;
}

std::vector<std::string> fixture_classes() { return load_class_names(kDir + "classes.txt"); }

// ---- zip editing (libarchive) ------------------------------------------------------------------

Members unzip(const Bytes& zip) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  EXPECT_EQ(archive_read_open_memory(a.get(), zip.data(), zip.size()), ARCHIVE_OK);
  Members out;
  archive_entry* e = nullptr;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    Bytes data(static_cast<std::size_t>(archive_entry_size(e)));
    archive_read_data(a.get(), data.data(), data.size());
    out.push_back({archive_entry_pathname(e), data});
  }
  return out;
}

la_ssize_t append(archive*, void* out, const void* data, size_t n) {
  auto* v = static_cast<Bytes*>(out);
  v->insert(v->end(), static_cast<const std::uint8_t*>(data), static_cast<const std::uint8_t*>(data) + n);
  return la_ssize_t(n);
}

Bytes zip(const Members& members) {
  Bytes out;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_zip(a.get());
  archive_write_open(a.get(), &out, nullptr, append, nullptr);
  for (const auto& [name, data] : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, la_int64_t(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a.get(), e);
    archive_write_data(a.get(), data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a.get());
  return out;
}

// The fixture .keras with its config.json changed by `edit`.
Bytes edited_keras(const std::function<void(nlohmann::json&)>& edit) {
  Members m = unzip(bytes_of(kDir + "eurosat_cnn.keras"));
  for (auto& [name, data] : m)
    if (name == "config.json") {
      nlohmann::json j = nlohmann::json::parse(data.begin(), data.end());
      edit(j);
      const std::string s = j.dump();
      data.assign(s.begin(), s.end());
    }
  return zip(m);
}

// Import must fail with one line containing every `parts`.
void expect_import_error(const Bytes& bytes, const std::vector<std::string>& parts) {
  try {
    import_keras_bytes(bytes, "bad.keras", fixture_classes());
    ADD_FAILURE() << "no error; expected one containing " << parts.front();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_NE(m.find("bad.keras"), std::string::npos) << m;
    for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "missing '" << p << "' in: " << m;
  }
}

// ---- Tests ---------------------------------------------------------------------------------------

// Landcover's float32 forward and Keras's (TensorFlow's oneDNN kernels) sum in different orders;
// the probabilities agree to a few float32 ulps of the largest logits, far inside 1e-5.
constexpr float kTolerance = 1e-5f;

void expect_matches_keras(const std::string& file, const std::string& probs_file, const std::string& backend = "cpu") {
  SCOPED_TRACE(file + " on " + backend);
  const KerasImport r = import_keras(kDir + file, fixture_classes());
  const std::vector<float> keras = floats_of(kDir + probs_file);
  ASSERT_EQ(keras.size(), std::size_t(kImages) * kClasses);
  const std::vector<float> ours = predict_fixture(r.checkpoint, backend);
  float worst = 0;
  for (std::size_t i = 0; i < keras.size(); ++i) worst = std::max(worst, std::fabs(ours[i] - keras[i]));
  EXPECT_LE(worst, kTolerance) << "largest |landcover - Keras| over " << keras.size() << " probabilities";
  // Not a trivial model: the recorded probabilities are far from uniform.
  EXPECT_GT(*std::max_element(keras.begin(), keras.end()), 0.2f);
  std::printf("%s on %s: max |landcover - Keras| = %.3g\n", file.c_str(), backend.c_str(), double(worst));
}

TEST(CpuKeras, NotebookModelFromKeras3MatchesKeras) { expect_matches_keras("eurosat_cnn.keras", "eurosat_cnn_probs.f32"); }
TEST(CpuKeras, NotebookModelFromLegacyH5MatchesKeras) { expect_matches_keras("eurosat_cnn.h5", "eurosat_cnn_probs.f32"); }
TEST(CpuKeras, FunctionalChainFromKeras3MatchesKeras) {
  expect_matches_keras("small_functional.keras", "small_functional_probs.f32");
}
TEST(CpuKeras, FunctionalChainFromLegacyH5MatchesKeras) {
  expect_matches_keras("small_functional.h5", "small_functional_probs.f32");
}

// Saved by Keras 2 itself (tf_keras): no InputLayer in its Sequential (batch_input_shape on the
// first layer), weight names with ':0', a separate Activation("softmax").
TEST(CpuKeras, SequentialFromKeras2H5MatchesKeras) { expect_matches_keras("keras2_small.h5", "keras2_small_probs.f32"); }

// The CUDA kernel sources (in the host SIMT emulator) on the small model (the notebook model would
// take minutes in the emulator).
TEST(SimKeras, FunctionalChainMatchesKeras) {
  expect_matches_keras("small_functional.keras", "small_functional_probs.f32", "sim");
}

// A first Rescaling(1/255) is landcover's own input scaling: the model with it fed raw pixels is the
// fixture's model fed x / 255, so the recorded probabilities still apply.
TEST(CpuKeras, LeadingRescalingIsTheInputScaling) {
  auto add_rescaling = [](double scale) {
    return edited_keras([scale](nlohmann::json& j) {
      nlohmann::json layer;
      layer["class_name"] = "Rescaling";
      layer["config"] = {{"name", "rescaling"}, {"scale", scale}, {"offset", 0.0}};
      nlohmann::json& layers = j["config"]["layers"];
      layers.insert(layers.begin() + 1, layer);
    });
  };
  const KerasImport r = import_keras_bytes(add_rescaling(1.0 / 255.0), "r.keras", fixture_classes());
  EXPECT_NE(r.notes.front().find("Rescaling(1/255) dropped"), std::string::npos) << r.notes.front();
  const std::vector<float> keras = floats_of(kDir + "eurosat_cnn_probs.f32");
  const std::vector<float> ours = predict_fixture(r.checkpoint);
  for (std::size_t i = 0; i < keras.size(); ++i) EXPECT_NEAR(ours[i], keras[i], kTolerance) << i;
  expect_import_error(add_rescaling(0.5), {"layer 'rescaling' (Rescaling)", "only a first Rescaling(1/255)"});
}

TEST(CpuKeras, ImportGivesTheSeedNetworkAndAResumableCheckpoint) {
  const KerasImport r = import_keras(kDir + "eurosat_cnn.keras", {});
  const Checkpoint& ck = r.checkpoint;
  EXPECT_EQ(ck.class_names, eurosat_class_names());  // 10 outputs, no --classes: EuroSAT's names
  EXPECT_EQ(ck.class_names[1], "Forest");
  EXPECT_EQ(ck.class_names[9], "SeaLake");
  // The same layers as the built-in seed network (model/eurosat_cnn.json), whatever the names.
  ModelSpec seed = parse_model_json(default_model_json());
  ModelSpec got = parse_model_json(ck.model_json);
  seed.name = got.name;
  EXPECT_EQ(model_to_json(got), model_to_json(seed));
  // Conv kernel KRSC: the first filter's tap (0, 0) of channel 2 is Keras's kernel[0][0][2][0].
  const NamedTensor* k = ck.find_param("L01.conv2d.kernel");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<std::int64_t>{16, 5, 5, 3}));
  ASSERT_EQ(ck.adam.m.size(), ck.adam.v.size());
  EXPECT_FALSE(ck.adam.m.empty());
  EXPECT_EQ(ck.position.epoch, 0);
  ASSERT_NE(ck.find_meta("complete"), nullptr);
  EXPECT_EQ(*ck.find_meta("complete"), "0");
}

// Random weights and statistics (non-trivial moving variance) for the seed network (the layout of
// an imported checkpoint, values of its own).
Checkpoint random_checkpoint(std::uint64_t seed) {
  std::mt19937 gen{static_cast<unsigned>(seed)};
  std::uniform_real_distribution<float> u(-0.2f, 0.2f), pos(0.5f, 2.f);
  KerasImport base = import_keras(kDir + "eurosat_cnn.h5", {});
  Checkpoint ck = base.checkpoint;
  for (NamedTensor& t : ck.params)
    for (float& v : t.data) v = t.name.find("moving_var") != std::string::npos ? pos(gen) : u(gen);
  ck.class_names = fixture_classes();
  return ck;
}

TEST(CpuKeras, ExportImportRoundTripIsExact) {
  const Checkpoint ck = random_checkpoint(7);
  const std::vector<float> before = predict_fixture(ck);
  for (bool keras3 : {true, false}) {
    SCOPED_TRACE(keras3 ? ".keras" : ".h5");
    const Bytes file = export_keras_bytes(ck, keras3, "test");
    const KerasImport back = import_keras_bytes(file, keras3 ? "rt.keras" : "rt.h5", ck.class_names);
    EXPECT_EQ(back.format, keras3 ? "Keras 3 .keras" : "legacy Keras .h5");
    ASSERT_EQ(back.checkpoint.params.size(), ck.params.size());
    for (const NamedTensor& t : ck.params) {
      const NamedTensor* u = back.checkpoint.find_param(t.name);
      ASSERT_NE(u, nullptr) << t.name;
      EXPECT_EQ(u->shape, t.shape) << t.name;
      EXPECT_EQ(std::memcmp(u->data.data(), t.data.data(), t.data.size() * 4), 0) << t.name;
    }
    const std::vector<float> after = predict_fixture(back.checkpoint);
    EXPECT_EQ(std::memcmp(before.data(), after.data(), before.size() * 4), 0) << "predictions differ";
  }
}

TEST(CpuKeras, ExportedKerasFileHasKerasLayout) {
  const Checkpoint ck = random_checkpoint(3);
  const Members m = unzip(export_keras_bytes(ck, true, "test"));
  std::vector<std::string> names;
  for (const auto& [n, d] : m) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"metadata.json", "config.json", "model.weights.h5"}));
  const nlohmann::json c = nlohmann::json::parse(m[1].second.begin(), m[1].second.end());
  EXPECT_EQ(c["class_name"], "Sequential");
  const nlohmann::json& layers = c["config"]["layers"];
  ASSERT_EQ(layers.size(), 21u);  // InputLayer + the 20 layers of the seed network
  EXPECT_EQ(layers[0]["config"]["batch_shape"], nlohmann::json::parse("[null, 64, 64, 3]"));
  EXPECT_EQ(layers[2]["config"]["kernel_size"], nlohmann::json::parse("[5, 5]"));
  EXPECT_EQ(layers[20]["config"]["activation"], "softmax");
  EXPECT_EQ(layers[16]["config"]["activation"], "elu");
  EXPECT_EQ(layers[1]["config"]["epsilon"], 0.001);
}

TEST(CpuKeras, BadFilesGiveOneLineErrors) {
  const Bytes good = bytes_of(kDir + "eurosat_cnn.keras");
  const Bytes h5 = bytes_of(kDir + "eurosat_cnn.h5");
  expect_import_error(Bytes(good.begin(), good.begin() + good.size() / 2), {"zip"});
  expect_import_error(Bytes(h5.begin(), h5.begin() + h5.size() / 3), {"HDF5"});
  expect_import_error(Bytes{'h', 'e', 'l', 'l', 'o'}, {"not a Keras model"});
  expect_import_error(Bytes{}, {"not a Keras model"});
  Members m = unzip(good);
  Members no_weights, no_config;
  for (const auto& e : m) {
    if (e.first != "model.weights.h5") no_weights.push_back(e);
    if (e.first != "config.json") no_config.push_back(e);
    // An HDF5 file that is not a Keras model file: the weights alone.
    if (e.first == "model.weights.h5") expect_import_error(e.second, {"model_config", "not a Keras model"});
  }
  expect_import_error(zip(no_weights), {"without weights"});
  expect_import_error(zip(no_config), {"config.json"});
}

TEST(CpuKeras, UnsupportedLayersAndConfigsNameTheLayer) {
  auto layer = [](nlohmann::json& j, int i) -> nlohmann::json& { return j["config"]["layers"][i]; };
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 2)["config"]["activation"] = "relu"; }),
                      {"layer 'conv2d_6' (Conv2D)", "activation 'relu'"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 2)["config"]["padding"] = "valid"; }),
                      {"conv2d_6", "padding 'valid'"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 2)["config"]["strides"] = {2, 2}; }),
                      {"conv2d_6", "strides"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 3)["class_name"] = "AveragePooling2D"; }),
                      {"(AveragePooling2D)", "not supported"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 3)["class_name"] = "LSTM"; }),
                      {"layer 'max_pooling2d_4' (LSTM)", "not supported"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 0)["config"]["batch_shape"][3] = 4; }),
                      {"4-channel input"});
  // Malformed configs (wrong JSON types anywhere) are one line naming the file, never a JSON
  // library message alone.
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 2) = nlohmann::json::array({1, 2}); }),
                      {"model config"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { j["config"]["layers"] = 7; }), {"no layers"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 2)["config"]["filters"] = "many"; }),
                      {"conv2d_6", "filters"});
  expect_import_error(edited_keras([&](nlohmann::json& j) { j["class_name"] = "Subclassed"; }),
                      {"model class 'Subclassed'"});
  // A weights file for another architecture: the config asks for 8 filters, the weights have 16.
  expect_import_error(edited_keras([&](nlohmann::json& j) { layer(j, 2)["config"]["filters"] = 8; }),
                      {"layer 'conv2d_6' (Conv2D)", "5x5x3x16", "another model"});
  // Ten outputs, three names.
  try {
    import_keras_bytes(bytes_of(kDir + "eurosat_cnn.keras"), "m.keras", {"a", "b", "c"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("10 outputs, but 3 class names"), std::string::npos) << e.what();
  }
}

std::string landcover_bin() {
  const char* b = std::getenv("LC_LANDCOVER_BIN");
  return b ? b : std::string(LC_BINARY_DIR) + "/landcover";
}

TEST(CpuKeras, CommandsImportClassifySegmentExport) {
  const test::TempDir dir("keras_cli");
  const std::string lc = landcover_bin(), log = dir.file("log.txt");
  const Bytes u8 = bytes_of(kDir + "inputs_u8.bin");
  write_png(dir.file("img.png"), kSide, kSide, 3, u8.data());
  ASSERT_EQ(test::run_logged(lc + " import-keras " + kDir + "eurosat_cnn.h5 --out " + dir.file("m.ckpt") +
                                 " --classes " + kDir + "classes.txt",
                             log),
            0)
      << test::read_text_file(log);
  EXPECT_NE(test::read_text_file(log).find("legacy Keras .h5"), std::string::npos);
  ASSERT_EQ(test::run_logged(lc + " classify --backend cpu --json --model " + dir.file("m.ckpt") + " " +
                                 dir.file("img.png"),
                             log),
            0)
      << test::read_text_file(log);
  EXPECT_NE(test::read_text_file(log).find("\"class\""), std::string::npos);
  ASSERT_EQ(test::run_logged(lc + " segment --backend cpu --mode window --stride 16 --model " + dir.file("m.ckpt") +
                                 " --out-dir " + dir.file("seg") + " " + dir.file("img.png"),
                             log),
            0)
      << test::read_text_file(log);
  EXPECT_FALSE(test::read_text_file(dir.file("seg/img_fractions.csv")).empty());
  ASSERT_EQ(test::run_logged(lc + " export-keras " + dir.file("m.ckpt") + " --out " + dir.file("m.keras"), log), 0)
      << test::read_text_file(log);
  EXPECT_EQ(import_keras(dir.file("m.keras"), fixture_classes()).checkpoint.params.size(),
            load_checkpoint(dir.file("m.ckpt")).params.size());
  // Bad usage and bad files: exit status 1 or 2, one error line, no output left behind.
  EXPECT_NE(test::run_logged(lc + " export-keras " + dir.file("m.ckpt") + " --out " + dir.file("m.onnx"), log), 0);
  EXPECT_NE(test::read_text_file(log).find(".keras (Keras 3) or .h5"), std::string::npos) << test::read_text_file(log);
  EXPECT_EQ(test::run_logged(lc + " import-keras " + dir.file("img.png") + " --out " + dir.file("x.ckpt"), log), 1);
  EXPECT_NE(test::read_text_file(log).find("not a Keras model"), std::string::npos) << test::read_text_file(log);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.ckpt")));
}

}  // namespace
}  // namespace lc

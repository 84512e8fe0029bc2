// Tests of model/checkpoint: CRC-32 against the standard check value and a bit-at-a-time
// reference, a bit-exact round trip of every field for the seed model, clear errors for truncated,
// bit-flipped, wrong-magic, wrong-version and trailing-data files, shape checks against a model,
// atomic writes that leave the previous file intact on failure, and portable RNG state text.
// Depends on: model/checkpoint.h, model/model_spec.h, runtime/layers.h, GoogleTest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/checkpoint.h"
#include "model/model_spec.h"
#include "runtime/layers.h"
#include "tests/support/files.h"

namespace {

namespace fs = std::filesystem;

using lc::test::TempDir;

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// The message of the lc::Error fn() throws ("" and a test failure when it throws nothing).
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const lc::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no lc::Error thrown";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Bit-at-a-time CRC-32 (reflected 0xEDB88320), written independently of the table-driven one.
std::uint32_t crc32_bitwise(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

std::vector<float> values(std::size_t n, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(std::int32_t(g() % 20001) - 10000) / 997.0f;
  return v;
}

lc::NamedTensor tensor_for(const lc::ParamInfo& p, std::uint32_t seed) {
  lc::NamedTensor t;
  t.name = p.name;
  t.shape = p.shape;
  t.data = values(std::size_t(p.numel()), seed);
  return t;
}

std::vector<lc::ParamInfo> all_params(const std::vector<lc::LayerInfo>& layers) {
  std::vector<lc::ParamInfo> out;
  for (const auto& l : layers) out.insert(out.end(), l.params.begin(), l.params.end());
  return out;
}

// A full checkpoint of the seed model for `classes` classes, every field set.
lc::Checkpoint make_checkpoint(const std::string& model_json, int classes, bool with_optional = true) {
  lc::ModelSpec spec = lc::parse_model_json(model_json, "test model");
  std::vector<lc::LayerInfo> layers = lc::infer_layers(spec, classes);
  lc::Checkpoint c;
  c.model_json = lc::model_to_json(spec);
  for (int i = 0; i < classes; ++i) c.class_names.push_back("class_" + std::to_string(i) + (i == 1 ? " with, comma" : ""));
  c.input_height = spec.height;
  c.input_width = spec.width;
  c.input_channels = spec.channels;
  std::uint32_t seed = 1;
  for (const auto& p : all_params(layers)) {
    c.params.push_back(tensor_for(p, seed++));
    if (with_optional && p.trainable) {
      c.adam.m.push_back(tensor_for(p, seed++));
      c.adam.v.push_back(tensor_for(p, seed++));
    }
    if (with_optional) c.early_stop.best_weights.push_back(tensor_for(p, seed++));
  }
  c.adam.t = 12345;
  c.adam.lr = 1e-3;
  c.adam.beta1 = 0.9;
  c.adam.beta2 = 0.999;
  c.adam.epsilon = 1e-7;
  c.position = {7, 0, 7 * 1350};
  c.seed = 0xDEADBEEFCAFEF00Dull;
  std::mt19937_64 gen(42);
  for (int i = 0; i < 100; ++i) gen();
  c.rng.emplace_back("shuffle", lc::rng_state_text(gen));
  c.rng.emplace_back("dropout_counter", "987654321");
  c.early_stop.best_val_loss = 0.4321;
  c.early_stop.best_epoch = 5;
  c.early_stop.epochs_without_improvement = 2;
  for (int e = 1; e <= 3; ++e) {
    lc::EpochMetrics m;
    m.epoch = e;
    m.loss = 1.0 / e;
    m.accuracy = 0.5 + 0.1 * e;
    m.val_loss = e == 2 ? std::nan("") : 1.2 / e;
    m.val_accuracy = 0.45 + 0.1 * e;
    m.seconds = 12.5 * e;
    m.images_per_s = 1728.25;
    m.lr = 1e-3;
    c.history.push_back(m);
  }
  c.meta.emplace_back("batch_size", "32");
  c.meta.emplace_back("backend", "cuda");
  return c;
}

const std::string& seed_model() { return lc::default_model_json(); }

// A tiny model, for tests that parse the file once per byte.
const std::string kTinyModel = R"({"name": "tiny", "input": [4, 4, 3], "layers": [
  {"type": "batchnorm"}, {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "elu"},
  {"type": "flatten"}, {"type": "dense", "units": "classes"}]})";

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void expect_same_tensors(const std::vector<lc::NamedTensor>& a, const std::vector<lc::NamedTensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].shape, b[i].shape);
    ASSERT_EQ(a[i].data.size(), b[i].data.size());
    EXPECT_EQ(std::memcmp(a[i].data.data(), b[i].data.data(), a[i].data.size() * 4), 0) << a[i].name;
  }
}

void expect_same(const lc::Checkpoint& a, const lc::Checkpoint& b) {
  EXPECT_EQ(a.model_json, b.model_json);
  EXPECT_EQ(a.class_names, b.class_names);
  EXPECT_EQ(a.input_height, b.input_height);
  EXPECT_EQ(a.input_width, b.input_width);
  EXPECT_EQ(a.input_channels, b.input_channels);
  expect_same_tensors(a.params, b.params);
  expect_same_tensors(a.adam.m, b.adam.m);
  expect_same_tensors(a.adam.v, b.adam.v);
  EXPECT_EQ(a.adam.t, b.adam.t);
  EXPECT_TRUE(same_bits(a.adam.lr, b.adam.lr));
  EXPECT_TRUE(same_bits(a.adam.beta1, b.adam.beta1));
  EXPECT_TRUE(same_bits(a.adam.beta2, b.adam.beta2));
  EXPECT_TRUE(same_bits(a.adam.epsilon, b.adam.epsilon));
  EXPECT_EQ(a.position.epoch, b.position.epoch);
  EXPECT_EQ(a.position.step, b.position.step);
  EXPECT_EQ(a.position.global_step, b.position.global_step);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.rng, b.rng);
  EXPECT_TRUE(same_bits(a.early_stop.best_val_loss, b.early_stop.best_val_loss));
  EXPECT_EQ(a.early_stop.best_epoch, b.early_stop.best_epoch);
  EXPECT_EQ(a.early_stop.epochs_without_improvement, b.early_stop.epochs_without_improvement);
  expect_same_tensors(a.early_stop.best_weights, b.early_stop.best_weights);
  ASSERT_EQ(a.history.size(), b.history.size());
  for (std::size_t i = 0; i < a.history.size(); ++i) {
    const auto &x = a.history[i], &y = b.history[i];
    EXPECT_EQ(x.epoch, y.epoch);
    EXPECT_TRUE(same_bits(x.loss, y.loss) && same_bits(x.accuracy, y.accuracy) &&
                same_bits(x.val_loss, y.val_loss) && same_bits(x.val_accuracy, y.val_accuracy) &&
                same_bits(x.seconds, y.seconds) && same_bits(x.images_per_s, y.images_per_s) &&
                same_bits(x.lr, y.lr))
        << "history entry " << i;
  }
  EXPECT_EQ(a.meta, b.meta);
}

TEST(CpuCrc32, StandardCheckValueAndIncremental) {
  const char* s = "123456789";
  EXPECT_EQ(lc::crc32(s, 9), 0xCBF43926u);  // the CRC-32 (zlib) catalogue check value
  EXPECT_EQ(lc::crc32(s, 0), 0u);
  std::vector<std::uint8_t> buf(100003);
  std::mt19937 g(7);
  for (auto& b : buf) b = std::uint8_t(g());
  for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(8), std::size_t(9), std::size_t(63), buf.size()})
    EXPECT_EQ(lc::crc32(buf.data(), n), crc32_bitwise(buf.data(), n)) << n << " bytes";
  std::uint32_t run = 0;
  for (std::size_t at = 0; at < buf.size(); at += 1001)
    run = lc::crc32_update(run, buf.data() + at, std::min<std::size_t>(1001, buf.size() - at));
  EXPECT_EQ(run, crc32_bitwise(buf.data(), buf.size()));
}

TEST(CpuCheckpoint, RoundTripKeepsEveryField) {
  TempDir dir;
  lc::Checkpoint c = make_checkpoint(seed_model(), 10);
  // The seed model for 10 classes: 415,792 trainable parameters (docs/MODEL.md).
  std::int64_t trainable = 0;
  for (const auto& t : c.adam.m) trainable += t.numel();
  EXPECT_EQ(trainable, 415792);
  lc::save_checkpoint(dir.file("a.ckpt"), c);
  lc::Checkpoint back = lc::load_checkpoint(dir.file("a.ckpt"));
  expect_same(c, back);
  // The restored generator continues the same sequence.
  std::mt19937_64 ref(42);
  for (int i = 0; i < 100; ++i) ref();
  std::mt19937_64 restored;
  lc::rng_state_from_text(restored, *back.find_rng("shuffle"), "shuffle");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(restored(), ref());
  EXPECT_EQ(*back.find_meta("batch_size"), "32");
  EXPECT_EQ(back.find_meta("nope"), nullptr);
  ASSERT_NE(back.find_param("L01.conv2d.kernel"), nullptr);
  EXPECT_EQ(back.find_param("L01.conv2d.kernel")->shape, (std::vector<std::int64_t>{16, 5, 5, 3}));
  // The model in it still parses and matches.
  lc::ModelSpec spec = lc::parse_model_json(back.model_json, "from checkpoint");
  EXPECT_NO_THROW(lc::check_checkpoint_shapes(back, lc::infer_layers(spec, 10), "a.ckpt"));
  // Only the checkpoint is left in the folder: no temporary file.
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.ckpt"});
}

TEST(CpuCheckpoint, RoundTripWithoutOptimizerState) {
  TempDir dir;
  lc::Checkpoint c = make_checkpoint(kTinyModel, 3, /*with_optional=*/false);
  c.rng.clear();
  c.history.clear();
  c.meta.clear();
  lc::save_checkpoint(dir.file("b.ckpt"), c);
  lc::Checkpoint back = lc::load_checkpoint(dir.file("b.ckpt"));
  expect_same(c, back);
  EXPECT_TRUE(back.adam.m.empty());
  EXPECT_TRUE(back.early_stop.best_weights.empty());
}

TEST(CpuCheckpoint, SerialisedHeaderIsAsDocumented) {
  lc::Checkpoint c = make_checkpoint(kTinyModel, 2);
  std::vector<std::uint8_t> b = lc::serialize_checkpoint(c);
  ASSERT_GE(b.size(), 32u);
  EXPECT_EQ(std::memcmp(b.data(), "LCCKPT\0\0", 8), 0);
  EXPECT_EQ(b[8], 1);  // version 1, little-endian
  EXPECT_EQ(b[9] | b[10] | b[11], 0);
  std::uint64_t size = 0;
  for (int i = 0; i < 8; ++i) size |= std::uint64_t(b[16 + i]) << (8 * i);
  EXPECT_EQ(size, b.size());
  EXPECT_EQ(std::memcmp(b.data() + 28, "MODL", 4), 0);
  std::uint32_t crc = 0;
  for (int i = 0; i < 4; ++i) crc |= std::uint32_t(b[b.size() - 4 + i]) << (8 * i);
  EXPECT_EQ(crc, crc32_bitwise(b.data(), b.size() - 4));
}

// A header with a flag this build does not know (checksums made valid again, so only the flag
// is wrong) is refused with the flag named, not read as if it were absent.
TEST(CpuCheckpoint, UnknownHeaderFlagsAreRefused) {
  TempDir dir;
  const std::string path = dir.file("flags.ckpt");
  std::vector<std::uint8_t> b = lc::serialize_checkpoint(make_checkpoint(kTinyModel, 2));
  b[12] = 4;
  auto put_u32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + std::size_t(i)] = std::uint8_t(v >> (8 * i));
  };
  put_u32(24, crc32_bitwise(b.data(), 24));
  put_u32(b.size() - 4, crc32_bitwise(b.data(), b.size() - 4));
  write_bytes(path, b);
  const std::string msg = error_of([&] { lc::load_checkpoint(path); });
  EXPECT_TRUE(contains(msg, "checkpoint " + path + ": unknown flags 4 in the header")) << msg;
}

TEST(CpuCheckpoint, TruncatedFilesAreReported) {
  TempDir dir;
  lc::Checkpoint c = make_checkpoint(seed_model(), 10);
  std::vector<std::uint8_t> full = lc::serialize_checkpoint(c);
  const std::string path = dir.file("cut.ckpt");
  for (std::size_t keep : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(8), std::size_t(11),
                           std::size_t(12), std::size_t(27), std::size_t(28), std::size_t(40), std::size_t(1000),
                           full.size() / 2, full.size() - 5, full.size() - 4, full.size() - 1}) {
    write_bytes(path, std::vector<std::uint8_t>(full.begin(), full.begin() + std::ptrdiff_t(keep)));
    std::string msg = error_of([&] { lc::load_checkpoint(path); });
    EXPECT_TRUE(contains(msg, "checkpoint " + path + ": truncated")) << keep << " bytes: " << msg;
    if (keep >= 28) {
      EXPECT_TRUE(contains(msg, "(expected " + std::to_string(full.size()) + " bytes, file has " +
                                    std::to_string(keep) + ")"))
          << msg;
    }
  }
}

TEST(CpuCheckpoint, EveryBitFlipInASmallFileIsCaught) {
  lc::Checkpoint c = make_checkpoint(kTinyModel, 2);
  const std::vector<std::uint8_t> good = lc::serialize_checkpoint(c);
  ASSERT_NO_THROW(lc::parse_checkpoint(good.data(), good.size(), "tiny"));
  for (std::size_t off = 0; off < good.size(); ++off) {
    {
      const int bit = int(off % 8);  // every byte once, every bit position in turn
      std::vector<std::uint8_t> bad = good;
      bad[off] ^= std::uint8_t(1u << bit);
      std::string msg = error_of([&] { lc::parse_checkpoint(bad.data(), bad.size(), "tiny"); });
      const char* want = off < 8    ? "bad magic: not a landcover checkpoint"
                         : off < 12 ? "unsupported version"
                         : off < 28 ? "header checksum mismatch"
                                    : "checksum mismatch: the file is corrupt";
      ASSERT_TRUE(contains(msg, "checkpoint tiny: ") && contains(msg, want))
          << "offset " << off << " bit " << bit << ": " << msg;
    }
  }
}

TEST(CpuCheckpoint, BitFlipsInTheSeedModelFileAreCaught) {
  TempDir dir;
  const std::string path = dir.file("flip.ckpt");
  lc::Checkpoint c = make_checkpoint(seed_model(), 10);
  lc::save_checkpoint(path, c);
  const std::vector<std::uint8_t> good = read_bytes(path);
  for (std::size_t off : {std::size_t(3), std::size_t(9), std::size_t(17), std::size_t(30), std::size_t(500),
                          good.size() / 3, good.size() / 2, good.size() - 100, good.size() - 4, good.size() - 1}) {
    std::vector<std::uint8_t> bad = good;
    bad[off] ^= 0x10;
    write_bytes(path, bad);
    std::string msg = error_of([&] { lc::load_checkpoint(path); });
    EXPECT_TRUE(contains(msg, "checkpoint " + path + ": ")) << msg;
    if (off >= 28) {
      EXPECT_TRUE(contains(msg, "checksum mismatch: the file is corrupt")) << "offset " << off << ": " << msg;
    }
  }
}

TEST(CpuCheckpoint, WrongMagicVersionAndTrailingData) {
  TempDir dir;
  const std::string path = dir.file("x.ckpt");
  write_bytes(path, std::vector<std::uint8_t>{'{', '"', 'n', 'a', 'm', 'e', '"', ':', ' ', '1', '}', '\n',
                                              0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_TRUE(contains(error_of([&] { lc::load_checkpoint(path); }),
                       "checkpoint " + path + ": bad magic: not a landcover checkpoint"));

  lc::Checkpoint c = make_checkpoint(kTinyModel, 2);
  std::vector<std::uint8_t> b = lc::serialize_checkpoint(c);
  std::vector<std::uint8_t> v3 = b;
  v3[8] = 3;
  write_bytes(path, v3);
  EXPECT_TRUE(contains(error_of([&] { lc::load_checkpoint(path); }),
                       "checkpoint " + path + ": unsupported version 3 (this build reads 1)"));

  std::vector<std::uint8_t> longer = b;
  longer.push_back(0);
  write_bytes(path, longer);
  std::string msg = error_of([&] { lc::load_checkpoint(path); });
  EXPECT_TRUE(contains(msg, "file has " + std::to_string(b.size() + 1) + " bytes, the header says " +
                                std::to_string(b.size())))
      << msg;

  EXPECT_TRUE(contains(error_of([&] { lc::load_checkpoint(dir.file("missing.ckpt")); }),
                       "checkpoint " + dir.file("missing.ckpt") + ": cannot read"));
  EXPECT_TRUE(contains(error_of([&] { lc::load_checkpoint(dir.path); }), "is a directory"));
}

TEST(CpuCheckpoint, ShapeMismatchNamesTheTensor) {
  // A checkpoint of the seed model, checked against a variant whose first convolution has 32 filters.
  lc::Checkpoint c = make_checkpoint(seed_model(), 10, /*with_optional=*/false);
  std::string variant = seed_model();
  const std::string from = "\"filters\": 16";
  ASSERT_NE(variant.find(from), std::string::npos);
  variant.replace(variant.find(from), from.size(), "\"filters\": 32");
  auto layers = lc::infer_layers(lc::parse_model_json(variant, "variant"), 10);
  std::string msg = error_of([&] { lc::check_checkpoint_shapes(c, layers, "a.ckpt"); });
  EXPECT_TRUE(contains(msg, "checkpoint a.ckpt: tensor L01.conv2d.kernel has shape 16x5x5x3, the model expects 32x5x5x3"))
      << msg;

  // Class count, missing and unexpected tensors.
  auto layers10 = lc::infer_layers(lc::parse_model_json(seed_model(), "m"), 10);
  auto layers7 = lc::infer_layers(lc::parse_model_json(seed_model(), "m"), 7);
  msg = error_of([&] { lc::check_checkpoint_shapes(c, layers7, "a.ckpt"); });
  EXPECT_TRUE(contains(msg, "10 class names, the model outputs 7 classes")) << msg;
  lc::Checkpoint missing = c;
  missing.params.erase(missing.params.begin() + 2);
  msg = error_of([&] { lc::check_checkpoint_shapes(missing, layers10, "a.ckpt"); });
  EXPECT_TRUE(contains(msg, "missing tensor " + c.params[2].name)) << msg;
  lc::Checkpoint extra = c;
  extra.params.push_back({"L99.dense.kernel", {2, 2}, {1, 2, 3, 4}});
  msg = error_of([&] { lc::check_checkpoint_shapes(extra, layers10, "a.ckpt"); });
  EXPECT_TRUE(contains(msg, "unexpected tensor L99.dense.kernel")) << msg;
  lc::Checkpoint input = c;
  input.input_height = 32;
  msg = error_of([&] { lc::check_checkpoint_shapes(input, layers10, "a.ckpt"); });
  EXPECT_TRUE(contains(msg, "input shape 32x64x3, the model expects 64x64x3")) << msg;
}

TEST(CpuCheckpoint, InconsistentCheckpointsAreRefusedOnSave) {
  lc::Checkpoint c = make_checkpoint(kTinyModel, 2);
  lc::Checkpoint short_data = c;
  short_data.params[0].data.pop_back();
  EXPECT_TRUE(contains(error_of([&] { lc::serialize_checkpoint(short_data, "s.ckpt"); }), "holds"));
  lc::Checkpoint dup = c;
  dup.params.push_back(dup.params[0]);
  EXPECT_TRUE(contains(error_of([&] { lc::serialize_checkpoint(dup, "s.ckpt"); }), "appears twice"));
  lc::Checkpoint orphan = c;
  orphan.adam.m[0].name = orphan.adam.v[0].name = "nope";
  EXPECT_TRUE(contains(error_of([&] { lc::serialize_checkpoint(orphan, "s.ckpt"); }), "not a parameter"));
  lc::Checkpoint mv = c;
  mv.adam.v.pop_back();
  EXPECT_TRUE(contains(error_of([&] { lc::serialize_checkpoint(mv, "s.ckpt"); }), "m tensors but"));
}

TEST(CpuCheckpoint, FailedWriteLeavesThePreviousFileIntact) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  lc::Checkpoint a = make_checkpoint(kTinyModel, 2);
  lc::save_checkpoint(path, a);
  const std::vector<std::uint8_t> before = read_bytes(path);

  lc::Checkpoint b = a;
  b.position.epoch = 99;
  b.params[0].data[0] = 1234.5f;
  // Fails in the middle of writing the temporary file.
  lc::set_atomic_write_fault_for_testing(100);
  std::string msg = error_of([&] { lc::save_checkpoint(path, b); });
  lc::set_atomic_write_fault_for_testing(-1);
  EXPECT_TRUE(contains(msg, "simulated write failure")) << msg;
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"run.ckpt"});  // temporary file removed
  expect_same(lc::load_checkpoint(path), a);

  // Fails at the rename: the target is a directory.
  const std::string as_dir = dir.file("taken.ckpt");
  fs::create_directory(as_dir);
  msg = error_of([&] { lc::save_checkpoint(as_dir, b); });
  EXPECT_TRUE(contains(msg, "cannot rename")) << msg;
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"run.ckpt", "taken.ckpt"}));

  // A folder that does not exist: nothing is created.
  msg = error_of([&] { lc::save_checkpoint(dir.file("no/such/dir.ckpt"), b); });
  EXPECT_TRUE(contains(msg, "cannot create")) << msg;

  // The next write succeeds and replaces the file.
  lc::save_checkpoint(path, b);
  EXPECT_EQ(lc::load_checkpoint(path).position.epoch, 99);
}

TEST(CpuCheckpoint, RngStateText) {
  std::mt19937_64 g(123);
  for (int i = 0; i < 1000; ++i) g();
  std::string text = lc::rng_state_text(g);
  std::mt19937_64 h;
  lc::rng_state_from_text(h, text, "rng");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(g(), h());
  std::mt19937_64 untouched(5);
  std::mt19937_64 copy = untouched;
  EXPECT_TRUE(contains(error_of([&] { lc::rng_state_from_text(untouched, "12 abc", "rng x"); }), "rng x"));
  EXPECT_TRUE(untouched == copy);  // not modified on failure
  EXPECT_THROW(lc::rng_state_from_text(untouched, text + " 5", "rng"), lc::Error);
}

}  // namespace

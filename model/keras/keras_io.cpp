// Keras model files <-> landcover checkpoints (see keras.h): the .keras zip (libarchive, in
// memory), the weights in HDF5 (keras_hdf5.cpp), the config (keras_config.cpp), the layouts.
// Depends on: model/keras/keras.h, model/keras/keras_internal.h, model/model_spec.h, model/file_io.h,
// libarchive, nlohmann_json.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "kernels/common/check.h"
#include "model/file_io.h"
#include "model/keras/keras.h"
#include "model/keras/keras_internal.h"
#include "model/model_spec.h"

namespace lc {
namespace {

using json = nlohmann::json;
using keras::Array;
using keras::H5;
using keras::LayerBinding;

// The Keras version whose file layout export writes (checked by tests/keras/make_keras_fixtures.py).
constexpr const char* kKerasVersion = "3.15.1";
constexpr std::size_t kMaxEntry = std::size_t(1) << 30;  // per zip member: a forged size allocates no more

bool is_zip(const std::vector<std::uint8_t>& b) { return b.size() >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4; }

// The members of a zip held in memory that `wanted` names.
std::map<std::string, std::vector<std::uint8_t>> read_zip(const std::vector<std::uint8_t>& bytes,
                                                          const std::vector<std::string>& wanted,
                                                          const std::string& origin) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  LC_CHECK(archive_read_open_memory(a.get(), bytes.data(), bytes.size()) == ARCHIVE_OK, origin,
           ": not a readable zip: ", archive_error_string(a.get()));
  std::map<std::string, std::vector<std::uint8_t>> out;
  for (;;) {
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    LC_CHECK(r == ARCHIVE_OK || r == ARCHIVE_WARN, origin, ": corrupt zip: ", archive_error_string(a.get()));
    const char* p = archive_entry_pathname(e);
    const std::string name = p ? p : "";
    bool want = false;
    for (const std::string& w : wanted) want = want || w == name;
    if (!want) continue;
    const la_int64_t size = archive_entry_size(e);
    LC_CHECK(size >= 0 && std::size_t(size) <= kMaxEntry, origin, ": zip member ", name, " is too large");
    std::vector<std::uint8_t> data(static_cast<std::size_t>(size));
    const la_ssize_t got = data.empty() ? 0 : archive_read_data(a.get(), data.data(), data.size());
    LC_CHECK(got == la_ssize_t(size), origin, ": zip member ", name, " is truncated or corrupt",
             got < 0 ? std::string(": ") + archive_error_string(a.get()) : std::string());
    out[name] = std::move(data);
  }
  return out;
}

la_ssize_t append_bytes(archive*, void* out, const void* data, size_t n) {
  auto* v = static_cast<std::vector<std::uint8_t>*>(out);
  v->insert(v->end(), static_cast<const std::uint8_t*>(data), static_cast<const std::uint8_t*>(data) + n);
  return la_ssize_t(n);
}

std::vector<std::uint8_t> write_zip(const std::vector<std::pair<std::string, std::vector<std::uint8_t>>>& members) {
  std::vector<std::uint8_t> out;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
  LC_CHECK(archive_write_set_format_zip(a.get()) == ARCHIVE_OK &&
               archive_write_open(a.get(), &out, nullptr, append_bytes, nullptr) == ARCHIVE_OK,
           "zip: ", archive_error_string(a.get()));
  for (const auto& [name, data] : members) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_size(e.get(), la_int64_t(data.size()));
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_mtime(e.get(), 315532800, 0);  // 1980-01-01, as Keras writes: same bytes every time
    LC_CHECK(archive_write_header(a.get(), e.get()) == ARCHIVE_OK &&
                 archive_write_data(a.get(), data.data(), data.size()) == la_ssize_t(data.size()),
             "zip: cannot write ", name, ": ", archive_error_string(a.get()));
  }
  LC_CHECK(archive_write_close(a.get()) == ARCHIVE_OK, "zip: ", archive_error_string(a.get()));
  return out;
}

json parse_json(const std::vector<std::uint8_t>& text, const std::string& what) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  LC_CHECK(!j.is_discarded(), what, " is not valid JSON");
  return j;
}

// Keras's layer naming (keras.src.utils.naming.to_snake_case): Conv2D -> conv2d,
// BatchNormalization -> batch_normalization, MaxPooling2D -> max_pooling2d.
std::string snake_case(const std::string& cls) {
  std::string out;
  for (std::size_t i = 0; i < cls.size(); ++i) {
    const char c = cls[i];
    const bool upper = c >= 'A' && c <= 'Z';
    const bool next_lower = i + 1 < cls.size() && cls[i + 1] >= 'a' && cls[i + 1] <= 'z';
    const bool prev_lower = i > 0 && cls[i - 1] >= 'a' && cls[i - 1] <= 'z';
    if (upper && i > 0 && (next_lower || prev_lower)) out += '_';
    out += upper ? char(c - 'A' + 'a') : c;
  }
  return out;
}

// The weight arrays of one Keras layer, in Keras's order.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::vector<Array> arrays(const LayerBinding& b) = 0;
};

// Keras 3 model.weights.h5: layers/<generic name>/vars/0, 1, ...
class Keras3Weights final : public WeightSource {
 public:
  Keras3Weights(H5 file, std::string origin) : file_(std::move(file)), origin_(std::move(origin)) {
    LC_CHECK(keras::h5_has(file_.id(), "layers"), origin_, ": no 'layers' group: not Keras 3 weights");
    const H5 layers = keras::h5_open_group(file_.id(), "layers", origin_);
    for (const std::string& key : keras::h5_children(layers.id())) {
      const std::string vars = "layers/" + key + "/vars";
      if (!keras::h5_has(file_.id(), vars)) continue;
      const H5 g = keras::h5_open_group(file_.id(), vars, origin_);
      if (keras::h5_has_attr(g.id(), "name")) by_name_[keras::h5_attr_string(g.id(), "name", origin_ + " " + vars)] = vars;
    }
  }
  std::vector<Array> arrays(const LayerBinding& b) override {
    // Keras loads by its generic names in layer order (conv2d, conv2d_1, ...); a file written
    // otherwise may still name its groups by the "name" attribute.
    const std::string base = snake_case(b.keras_class);
    const int n = seen_[base]++;
    std::string vars = "layers/" + (n == 0 ? base : base + "_" + std::to_string(n)) + "/vars";
    if (auto it = by_name_.find(b.keras_name); !keras::h5_has(file_.id(), vars) && it != by_name_.end())
      vars = it->second;
    LC_CHECK(keras::h5_has(file_.id(), vars), origin_, ": no weights for layer '", b.keras_name, "' (", b.keras_class,
             "): the weights file belongs to another model");
    const H5 g = keras::h5_open_group(file_.id(), vars, origin_);
    std::vector<Array> out;
    const std::size_t count = keras::h5_children(g.id()).size();
    for (std::size_t i = 0; i < count; ++i) out.push_back(keras::h5_read_array(g.id(), std::to_string(i), origin_ + " " + vars));
    return out;
  }

 private:
  H5 file_;
  std::string origin_;
  std::map<std::string, std::string> by_name_;
  std::map<std::string, int> seen_;
};

// Legacy .h5: model_weights/<layer name>/ with the attribute weight_names.
class LegacyWeights final : public WeightSource {
 public:
  LegacyWeights(hid_t file, std::string origin) : origin_(std::move(origin)) {
    LC_CHECK(keras::h5_has(file, "model_weights"), origin_, ": no model_weights group: the file holds no weights");
    group_ = keras::h5_open_group(file, "model_weights", origin_);
  }
  std::vector<Array> arrays(const LayerBinding& b) override {
    LC_CHECK(keras::h5_has(group_.id(), b.keras_name), origin_, ": no weights for layer '", b.keras_name, "' (",
             b.keras_class, "): the weights belong to another model");
    const H5 g = keras::h5_open_group(group_.id(), b.keras_name, origin_);
    const std::string where = origin_ + " model_weights/" + b.keras_name;
    std::vector<Array> out;
    for (const std::string& w : keras::h5_attr_strings(g.id(), "weight_names", where))
      out.push_back(keras::h5_read_array(g.id(), w, where));
    return out;
  }

 private:
  std::string origin_;
  H5 group_;
};

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t;
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return s.empty() ? "scalar" : t;
}

// Keras HWIO (kh, kw, in, out) <-> landcover KRSC (out, kh, kw, in).
std::vector<float> hwio_to_krsc(const std::vector<float>& w, std::int64_t K, std::int64_t R, std::int64_t S,
                                std::int64_t C, bool back = false) {
  std::vector<float> out(w.size());
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t c = 0; c < C; ++c) {
          const std::size_t krsc = std::size_t(((k * R + r) * S + s) * C + c);
          const std::size_t hwio = std::size_t(((r * S + s) * C + c) * K + k);
          (back ? out[hwio] : out[krsc]) = back ? w[krsc] : w[hwio];
        }
  return out;
}

// The landcover tensors of one layer from its Keras arrays.
std::vector<NamedTensor> layer_tensors(const LayerBinding& b, const std::vector<Array>& arrays, const LayerInfo& L,
                                       const std::string& origin) {
  const std::string who = origin + ": layer '" + b.keras_name + "' (" + b.keras_class + ")";
  const std::string type = L.type_name();
  // Which landcover parameter each Keras array fills, in Keras's order (-1: absent, default value).
  std::vector<int> slots;
  if (type == "batchnorm") slots = {b.scale ? 0 : -1, b.center ? 1 : -1, 2, 3};
  else slots = {0, b.bias ? 1 : -1};
  std::size_t present = 0;
  for (int s : slots) present += s >= 0;
  LC_CHECK(arrays.size() == present, who, ": the weights file has ", arrays.size(), " arrays, the config needs ",
           present, ": the weights belong to another model");
  std::vector<NamedTensor> out;
  for (const ParamInfo& p : L.params) {
    const bool ones = p.init.kind == ParamInit::ones;
    out.push_back({p.name, p.shape, std::vector<float>(std::size_t(p.numel()), ones ? 1.f : 0.f)});
  }
  std::size_t next = 0;
  for (int s : slots) {
    if (s < 0) continue;
    const Array& a = arrays[next++];
    NamedTensor& t = out[std::size_t(s)];
    std::vector<std::int64_t> want = t.shape;
    if (type == "conv2d" && s == 0) want = {t.shape[1], t.shape[2], t.shape[3], t.shape[0]};
    LC_CHECK(a.shape == want, who, ": weight ", next - 1, " has shape ", shape_text(a.shape), ", the config needs ",
             shape_text(want), ": the weights belong to another model");
    t.data = (type == "conv2d" && s == 0) ? hwio_to_krsc(a.data, want[3], want[0], want[1], want[2]) : a.data;
  }
  return out;
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A checkpoint holding imported weights: usable for inference, and resumable as a fresh run
// (zero Adam moments, epoch 0, the default training settings; docs/KERAS.md).
Checkpoint imported_checkpoint(const ModelSpec& spec, std::vector<std::string> classes,
                               const std::vector<LayerInfo>& layers, std::vector<NamedTensor> params,
                               const std::string& source) {
  Checkpoint c;
  c.model_json = model_to_json(spec);
  c.class_names = std::move(classes);
  c.input_height = spec.height, c.input_width = spec.width, c.input_channels = spec.channels;
  c.params = std::move(params);
  c.adam.lr = 1e-3, c.adam.beta1 = 0.9, c.adam.beta2 = 0.999, c.adam.epsilon = 1e-7;
  for (const LayerInfo& L : layers)
    for (const ParamInfo& p : L.params)
      if (p.trainable) {
        c.adam.m.push_back({p.name, p.shape, std::vector<float>(std::size_t(p.numel()), 0.f)});
        c.adam.v.push_back(c.adam.m.back());
      }
  c.seed = 42;
  c.meta = {{"seed", "42"},          {"batch", "16"},      {"lr", num(1e-3)},       {"val_split", num(0.2)},
            {"augment", "flip"},     {"max_images", "0"},  {"patience", "7"},       {"min_delta", num(0.001)},
            {"epochs", "5"},         {"gsd_m", num(10)},   {"imported_from", source}, {"complete", "0"}};
  return c;
}


// ---- Export -----------------------------------------------------------------------------------

// The Keras arrays of one landcover layer, in Keras's order, with Keras's weight names.
std::vector<std::pair<std::string, Array>> keras_arrays(const LayerInfo& L, const Checkpoint& ck,
                                                        const std::string& origin) {
  static const std::map<std::string, std::vector<std::string>> names{
      {"conv2d", {"kernel", "bias"}},
      {"dense", {"kernel", "bias"}},
      {"batchnorm", {"gamma", "beta", "moving_mean", "moving_variance"}}};
  std::vector<std::pair<std::string, Array>> out;
  const auto it = names.find(L.type_name());
  if (it == names.end()) return out;
  LC_CHECK(it->second.size() == L.params.size(), origin, ": ", L.describe(), " has an unexpected parameter list");
  for (std::size_t j = 0; j < L.params.size(); ++j) {
    const NamedTensor* t = ck.find_param(L.params[j].name);
    LC_CHECK(t != nullptr, origin, ": missing tensor ", L.params[j].name);
    Array a{t->shape, t->data};
    if (std::string(L.type_name()) == "conv2d" && j == 0) {
      const auto& s = t->shape;  // KRSC -> HWIO
      a.shape = {s[1], s[2], s[3], s[0]};
      a.data = hwio_to_krsc(t->data, s[0], s[1], s[2], s[3], true);
    }
    out.push_back({it->second[j], std::move(a)});
  }
  return out;
}

// Keras 3 model.weights.h5: layers/<name>/vars/<i> (and a "name" attribute on each vars group).
std::vector<std::uint8_t> keras3_weights(const ModelSpec& spec, const std::vector<LayerInfo>& layers,
                                         const Checkpoint& ck, const std::string& origin) {
  const std::vector<std::string> names = keras::keras_layer_names(spec);
  H5 f = keras::h5_create_image();
  {
    H5 root = keras::h5_new_group(f.id(), "layers");
    for (std::size_t i = 0; i < layers.size(); ++i) {
      H5 g = keras::h5_new_group(root.id(), names[i]);
      H5 vars = keras::h5_new_group(g.id(), "vars");
      keras::h5_write_attr(vars.id(), "name", names[i]);
      int k = 0;
      for (const auto& [wname, a] : keras_arrays(layers[i], ck, origin))
        keras::h5_write_array(vars.id(), std::to_string(k++), a.shape, a.data.data());
    }
    H5 vars = keras::h5_new_group(f.id(), "vars");
    keras::h5_write_attr(vars.id(), "name", spec.name.empty() ? std::string("landcover_model") : spec.name);
  }
  return keras::h5_image_bytes(f.id());
}

// Legacy .h5: model_config, model_weights/<name>/<name>/<weight> with weight_names.
std::vector<std::uint8_t> legacy_h5(const ModelSpec& spec, const std::vector<LayerInfo>& layers, const Checkpoint& ck,
                                    const std::string& origin) {
  const std::vector<std::string> names = keras::keras_layer_names(spec);
  json config = keras::make_config(spec, layers);
  // Keras 2's spelling of the input shape, read by Keras 3 as well.
  json& in = config["config"]["layers"][0]["config"];
  in["batch_input_shape"] = in["batch_shape"];
  in.erase("batch_shape");
  H5 f = keras::h5_create_image();
  keras::h5_write_attr(f.id(), "backend", std::string("tensorflow"));
  keras::h5_write_attr(f.id(), "keras_version", std::string(kKerasVersion));
  keras::h5_write_attr(f.id(), "model_config", config.dump());
  {
    H5 mw = keras::h5_new_group(f.id(), "model_weights");
    keras::h5_write_attr(mw.id(), "backend", std::string("tensorflow"));
    keras::h5_write_attr(mw.id(), "keras_version", std::string(kKerasVersion));
    keras::h5_write_attr(mw.id(), "layer_names", names);
    for (std::size_t i = 0; i < layers.size(); ++i) {
      H5 g = keras::h5_new_group(mw.id(), names[i]);
      std::vector<std::string> wnames;
      const auto arrays = keras_arrays(layers[i], ck, origin);
      if (!arrays.empty()) {
        H5 inner = keras::h5_new_group(g.id(), names[i]);
        for (const auto& [wname, a] : arrays) {
          keras::h5_write_array(inner.id(), wname, a.shape, a.data.data());
          wnames.push_back(names[i] + "/" + wname);
        }
      }
      keras::h5_write_attr(g.id(), "weight_names", wnames);
    }
  }
  return keras::h5_image_bytes(f.id());
}

}  // namespace

bool keras_format_of(const std::string& out) {
  auto ends = [&](const std::string& e) { return out.size() > e.size() && out.compare(out.size() - e.size(), e.size(), e) == 0; };
  if (ends(".keras")) return true;
  LC_CHECK(ends(".h5") || ends(".hdf5"), "--out ", out, ": name a .keras (Keras 3) or .h5 (legacy Keras) file");
  return false;
}

std::vector<std::uint8_t> export_keras_bytes(const Checkpoint& ck, bool keras3, const std::string& origin) {
  const ModelSpec spec = parse_model_json(ck.model_json, origin + " model");
  const std::vector<LayerInfo> layers = validate_model(spec, int(ck.class_names.size()), origin + " model");
  check_checkpoint_shapes(ck, layers, origin);
  check_checkpoint_finite(ck, origin);
  if (!keras3) return legacy_h5(spec, layers, ck, origin);
  const std::string config = keras::make_config(spec, layers).dump();
  const std::string meta = json{{"keras_version", kKerasVersion}, {"date_saved", "landcover export-keras"}}.dump();
  return write_zip({{"metadata.json", std::vector<std::uint8_t>(meta.begin(), meta.end())},
                    {"config.json", std::vector<std::uint8_t>(config.begin(), config.end())},
                    {"model.weights.h5", keras3_weights(spec, layers, ck, origin)}});
}

const std::vector<std::string>& eurosat_class_names() {
  static const std::vector<std::string> names{"AnnualCrop", "Forest",        "HerbaceousVegetation", "Highway",
                                              "Industrial", "Pasture",       "PermanentCrop",        "Residential",
                                              "River",      "SeaLake"};
  return names;
}

std::vector<std::string> load_class_names(const std::string& spec) {
  if (spec == "eurosat") return eurosat_class_names();
  const std::vector<std::uint8_t> bytes = read_file_bytes(spec);
  std::vector<std::string> names;
  std::string line;
  for (std::size_t i = 0; i <= bytes.size(); ++i) {
    if (i < bytes.size() && bytes[i] != '\n') {
      line += char(bytes[i]);
      continue;
    }
    const std::size_t a = line.find_first_not_of(" \t\r"), b = line.find_last_not_of(" \t\r");
    if (a != std::string::npos) names.push_back(line.substr(a, b - a + 1));
    line.clear();
  }
  LC_CHECK(!names.empty(), spec, ": no class names (one per line expected)");
  return names;
}

KerasImport import_keras_bytes(const std::vector<std::uint8_t>& bytes, const std::string& origin,
                               std::vector<std::string> class_names) {
  KerasImport r;
  json config;
  std::unique_ptr<WeightSource> weights;
  H5 legacy_file;
  if (is_zip(bytes)) {
    auto m = read_zip(bytes, {"config.json", "model.weights.h5"}, origin);
    LC_CHECK(m.count("config.json"), origin, ": the zip has no config.json: not a Keras 3 .keras file");
    LC_CHECK(m.count("model.weights.h5"), origin, ": the zip has no model.weights.h5: a .keras file without weights");
    config = parse_json(m["config.json"], origin + ": config.json");
    weights = std::make_unique<Keras3Weights>(keras::h5_open_image(m["model.weights.h5"], origin + " model.weights.h5"),
                                              origin + " model.weights.h5");
    r.format = "Keras 3 .keras";
  } else {
    LC_CHECK(keras::is_hdf5(bytes), origin, ": not a Keras model (neither a .keras zip nor an HDF5 .h5 file)");
    legacy_file = keras::h5_open_image(bytes, origin);
    LC_CHECK(keras::h5_has_attr(legacy_file.id(), "model_config"), origin,
             ": an HDF5 file without a model_config attribute: not a Keras model file (weights alone are not enough)");
    const std::string text = keras::h5_attr_string(legacy_file.id(), "model_config", origin);
    config = parse_json(std::vector<std::uint8_t>(text.begin(), text.end()), origin + ": model_config");
    weights = std::make_unique<LegacyWeights>(legacy_file.id(), origin);
    r.format = "legacy Keras .h5";
  }
  keras::Translation t = keras::translate_config(config, origin);
  r.keras_layers = int(t.keras_layers.size());
  r.notes = t.notes;
  if (class_names.empty()) {
    LC_CHECK(t.classes == 10, origin, ": the model has ", t.classes,
             " outputs; name its classes with --classes FILE (one name per line)");
    class_names = eurosat_class_names();
    r.notes.push_back("class names: EuroSAT's (--classes FILE for others)");
  }
  LC_CHECK(int(class_names.size()) == t.classes, origin, ": the model has ", t.classes, " outputs, but ",
           class_names.size(), " class names were given");
  const std::vector<LayerInfo> layers = validate_model(t.spec, t.classes, origin);
  std::vector<NamedTensor> params;
  for (const LayerBinding& b : t.bindings)
    for (NamedTensor& x : layer_tensors(b, weights->arrays(b), layers[std::size_t(b.lc_layer)], origin))
      params.push_back(std::move(x));
  // Trainable first, then the batch-norm statistics (the checkpoint's order).
  std::set<std::string> state;
  for (const LayerInfo& L : layers)
    for (const ParamInfo& p : L.params)
      if (!p.trainable) state.insert(p.name);
  std::stable_partition(params.begin(), params.end(), [&](const NamedTensor& x) { return !state.count(x.name); });
  r.checkpoint = imported_checkpoint(t.spec, std::move(class_names), layers, std::move(params), origin);
  check_checkpoint_shapes(r.checkpoint, layers, origin);
  check_checkpoint_finite(r.checkpoint, origin);
  return r;
}

KerasImport import_keras(const std::string& path, std::vector<std::string> class_names) {
  return import_keras_bytes(read_file_bytes(path), path, std::move(class_names));
}

}  // namespace lc

// Keras model config <-> landcover model (keras_internal.h). A Keras layer maps onto a landcover
// layer only where the computation is exactly the same; everything else is refused, naming the
// layer. Activations: ELU or linear inside Conv2D / Dense, or as a separate Activation("elu") /
// ELU(alpha=1) layer right after a linear Conv2D / Dense (fused); a final softmax (Dense activation,
// Activation("softmax") or Softmax layer) is dropped because landcover applies it itself.
// Depends on: model/keras/keras_internal.h, runtime/layer_type.h (find_layer_type), nlohmann_json.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "kernels/common/check.h"
#include "model/keras/keras_internal.h"
#include "runtime/layer_type.h"

namespace lc::keras {
namespace {

using json = nlohmann::json;

const char* kSupported =
    "InputLayer, Rescaling(1/255) first, BatchNormalization, Conv2D, MaxPooling2D, Flatten, Dense, Dropout, Activation, "
    "ELU, Softmax";

// Names of the layers feeding a functional layer, from its inbound_nodes (Keras 3:
// {"args": [{"config": {"keras_history": [name, 0, 0]}}]}; Keras 2: [[[name, 0, 0, {}]]]).
void inbound_names(const json& j, std::set<std::string>& out) {
  if (j.is_object()) {
    if (j.contains("keras_history") && j["keras_history"].is_array() && !j["keras_history"].empty() &&
        j["keras_history"][0].is_string())
      out.insert(j["keras_history"][0].get<std::string>());
    for (const auto& [k, v] : j.items()) (void)k, inbound_names(v, out);
  } else if (j.is_array()) {
    if (j.size() >= 3 && j[0].is_string() && j[1].is_number_integer()) out.insert(j[0].get<std::string>());
    else
      for (const json& v : j) inbound_names(v, out);
  }
}

// [null, H, W, C] from an input layer's or the model's config, or an empty json.
json input_shape_of(const json& cfg) {
  for (const char* key : {"batch_shape", "batch_input_shape"})
    if (cfg.contains(key) && cfg[key].is_array()) return cfg[key];
  return json();
}

struct Cursor {
  Translation t;
  std::string origin;
  bool flat = false;         // after Flatten
  bool softmax_seen = false;
  int last_dense = -1;

  std::string who(const std::string& name, const std::string& cls) const {
    return origin + ": layer '" + name + "' (" + cls + ")";
  }
  LayerSpec& add(const char* type) {
    LayerSpec L;
    L.type = find_layer_type(type);
    LC_CHECK(L.type != nullptr, "layer type ", type, " is not registered");
    t.spec.layers.push_back(L);
    return t.spec.layers.back();
  }
  // ELU after the previous layer: fused into a linear conv2d / dense just before.
  void fuse_elu(const std::string& w) {
    LC_CHECK(!t.spec.layers.empty(), w, ": ELU must follow a Conv2D or Dense layer");
    LayerSpec& prev = t.spec.layers.back();
    const std::string type = prev.type->name();
    LC_CHECK((type == "conv2d" || type == "dense") && !prev.elu, w,
             ": ELU must directly follow a Conv2D or Dense layer without activation (landcover fuses it)");
    prev.elu = true;
  }
};

template <class T>
T get(const json& c, const char* key, const std::string& w, T fallback) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  try {
    return c[key].get<T>();
  } catch (const std::exception&) {
    LC_FAIL(w, ": config '", key, "' has an unexpected value ", c[key].dump());
  }
}

std::vector<int> pair_of(const json& c, const char* key, const std::string& w, std::vector<int> fallback) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  if (c[key].is_number_integer()) return {c[key].get<int>(), c[key].get<int>()};
  std::vector<int> v = get<std::vector<int>>(c, key, w, fallback);
  LC_CHECK(v.size() == 2, w, ": config '", key, "' must have two values, got ", c[key].dump());
  return v;
}

void check_channels_last(const json& c, const std::string& w) {
  const std::string f = get<std::string>(c, "data_format", w, "channels_last");
  LC_CHECK(f == "channels_last", w, ": data_format '", f, "' is not supported (landcover is channels_last)");
}

// The activation of a Conv2D / Dense: elu, linear, or (the last Dense only) softmax.
void activation(Cursor& cur, LayerSpec& L, const json& c, const std::string& w, bool dense) {
  const std::string a = get<std::string>(c, "activation", w, "linear");
  if (a == "elu") L.elu = true;
  else if (dense && a == "softmax") cur.softmax_seen = true;
  else
    LC_CHECK(a == "linear", w, ": activation '", a, "' is not supported (landcover has elu and linear",
             dense ? ", and softmax on the last layer)" : ")");
}

void conv2d(Cursor& cur, const json& c, const std::string& w, LayerBinding& b) {
  check_channels_last(c, w);
  LC_CHECK(!cur.flat, w, ": Conv2D after Flatten");
  const std::vector<int> k = pair_of(c, "kernel_size", w, {});
  LC_CHECK(k.size() == 2 && k[0] == k[1] && k[0] % 2 == 1, w, ": kernel_size ", c.value("kernel_size", json()).dump(),
           " is not supported (square and odd)");
  LC_CHECK(pair_of(c, "strides", w, {1, 1}) == std::vector<int>({1, 1}), w, ": strides other than 1 are not supported");
  LC_CHECK(pair_of(c, "dilation_rate", w, {1, 1}) == std::vector<int>({1, 1}), w, ": dilation is not supported");
  LC_CHECK(get<int>(c, "groups", w, 1) == 1, w, ": grouped convolution is not supported");
  const std::string pad = get<std::string>(c, "padding", w, "valid");
  LC_CHECK(pad == "same", w, ": padding '", pad, "' is not supported (landcover's conv2d pads 'same')");
  LayerSpec& L = cur.add("conv2d");
  L.filters = get<int>(c, "filters", w, 0);
  L.kernel = k[0];
  activation(cur, L, c, w, false);
  b.bias = get<bool>(c, "use_bias", w, true);
}

void batchnorm(Cursor& cur, const json& c, const std::string& w, LayerBinding& b) {
  json axis = c.value("axis", json(-1));
  if (axis.is_array() && axis.size() == 1) axis = axis[0];
  const int last = cur.flat ? 1 : 3;
  LC_CHECK(axis.is_number_integer() && (axis.get<int>() == -1 || axis.get<int>() == last), w, ": axis ", axis.dump(),
           " is not supported (the channel axis, -1)");
  LC_CHECK(!get<bool>(c, "renorm", w, false), w, ": batch renormalization is not supported");
  LayerSpec& L = cur.add("batchnorm");
  L.epsilon = float(get<double>(c, "epsilon", w, 1e-3));
  L.momentum = float(get<double>(c, "momentum", w, 0.99));
  b.center = get<bool>(c, "center", w, true);
  b.scale = get<bool>(c, "scale", w, true);
}

void maxpool(Cursor& cur, const json& c, const std::string& w) {
  check_channels_last(c, w);
  LC_CHECK(pair_of(c, "pool_size", w, {2, 2}) == std::vector<int>({2, 2}) &&
               pair_of(c, "strides", w, {2, 2}) == std::vector<int>({2, 2}),
           w, ": only 2x2 pooling with stride 2 is supported");
  const std::string pad = get<std::string>(c, "padding", w, "valid");
  LC_CHECK(pad == "valid", w, ": padding '", pad, "' is not supported (landcover pools 'valid')");
  cur.add("maxpool");
}

// One Keras layer (not the input layer).
void translate_layer(Cursor& cur, const std::string& name, const std::string& cls, const json& c) {
  const std::string w = cur.who(name, cls);
  LC_CHECK(!cur.softmax_seen, w, ": a layer after the softmax is not supported (softmax must come last)");
  LayerBinding b;
  b.keras_name = name, b.keras_class = cls, b.lc_layer = int(cur.t.spec.layers.size());
  if (cls == "Conv2D") {
    conv2d(cur, c, w, b);
    cur.t.bindings.push_back(b);
  } else if (cls == "BatchNormalization") {
    batchnorm(cur, c, w, b);
    cur.t.bindings.push_back(b);
  } else if (cls == "Dense") {
    LC_CHECK(cur.flat, w, ": Dense on an image is not supported (insert a Flatten)");
    LayerSpec& L = cur.add("dense");
    L.units = get<int>(c, "units", w, 0);
    activation(cur, L, c, w, true);
    b.bias = get<bool>(c, "use_bias", w, true);
    cur.last_dense = b.lc_layer;
    cur.t.bindings.push_back(b);
  } else if (cls == "MaxPooling2D") {
    maxpool(cur, c, w);
  } else if (cls == "Flatten") {
    check_channels_last(c, w);
    cur.add("flatten");
    cur.flat = true;
  } else if (cls == "Dropout") {
    LC_CHECK(c.value("noise_shape", json()).is_null(), w, ": noise_shape is not supported");
    cur.add("dropout").rate = float(get<double>(c, "rate", w, 0));
  } else if (cls == "Activation") {
    const std::string a = get<std::string>(c, "activation", w, "linear");
    if (a == "elu") cur.fuse_elu(w);
    else if (a == "softmax") cur.softmax_seen = true;
    else
      LC_CHECK(a == "linear", w, ": activation '", a, "' is not supported (elu, linear, softmax at the end)");
  } else if (cls == "ELU") {
    LC_CHECK(get<double>(c, "alpha", w, 1.0) == 1.0, w, ": ELU alpha other than 1 is not supported");
    cur.fuse_elu(w);
  } else if (cls == "Rescaling") {
    // landcover feeds the network x / 255 (docs/MODEL.md): a first Rescaling(1/255) is that step.
    const double scale = get<double>(c, "scale", w, 1.0), offset = get<double>(c, "offset", w, 0.0);
    LC_CHECK(cur.t.spec.layers.empty() && std::fabs(scale * 255.0 - 1.0) < 1e-6 && offset == 0.0, w,
             ": only a first Rescaling(1/255) is supported (landcover scales pixels by 1/255 itself)");
    cur.t.notes.push_back("leading Rescaling(1/255) dropped: landcover scales pixels by 1/255 itself");
  } else if (cls == "Softmax") {
    const json axis = c.value("axis", json(-1));
    LC_CHECK(axis == json(-1) || axis == json::array({-1}), w, ": softmax over axis ", axis.dump(), " is not supported");
    cur.softmax_seen = true;
  } else {
    LC_FAIL(w, ": layer type '", cls, "' is not supported (landcover maps ", kSupported, ")");
  }
}

// The layer list in chain order; checks that a functional model is a plain chain.
json chain_layers(const json& model, const std::string& origin, bool functional) {
  json layers = model["config"].value("layers", json());
  LC_CHECK(layers.is_array() && !layers.empty(), origin, ": the model config has no layers");
  if (!functional) return layers;
  std::string prev;
  for (const json& l : layers) {
    const std::string name = l.value("name", l.value("config", json::object()).value("name", ""));
    std::set<std::string> in;
    inbound_names(l.value("inbound_nodes", json::array()), in);
    const bool ok = prev.empty() ? in.empty() : (in.size() == 1 && *in.begin() == prev);
    LC_CHECK(ok, origin, ": layer '", name, "' does not take the previous layer '", prev,
             "' as its only input: only a chain of layers (Sequential-like) is supported");
    prev = name;
  }
  return layers;
}

// The shortest decimal that reads back as the same float (0.001, not 0.0010000000474974513).
double tidy(float f) {
  for (int digits = 1; digits < 9; ++digits) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*g", digits, double(f));
    if (std::strtof(buf, nullptr) == f) return std::strtod(buf, nullptr);
  }
  return double(f);
}

}  // namespace

static Translation translate_chain(const json& model, const std::string& origin) {
  LC_CHECK(model.is_object() && model.contains("class_name") && model.contains("config") &&
               model["config"].is_object(),
           origin, ": the model config is not a Keras model (no class_name / config)");
  const std::string cls = model["class_name"].is_string() ? model["class_name"].get<std::string>() : "";
  const bool functional = cls == "Functional" || cls == "Model";
  LC_CHECK(functional || cls == "Sequential", origin, ": model class '", cls,
           "' is not supported (Sequential, or a functional chain)");
  const json layers = chain_layers(model, origin, functional);
  Cursor cur;
  cur.origin = origin;
  cur.t.spec.name = model["config"].value("name", std::string("keras_model"));
  json shape = input_shape_of(model["config"]);
  for (const json& l : layers) {
    const std::string lcls = l.value("class_name", "");
    const json c = l.value("config", json::object());
    const std::string name = c.value("name", l.value("name", ""));
    cur.t.keras_layers.push_back(name);
    if (shape.is_null()) shape = input_shape_of(c);  // Keras 2: batch_input_shape on the first layer
    if (lcls == "InputLayer") continue;
    translate_layer(cur, name, lcls, c);
  }
  if (shape.is_null() && model["config"].contains("build_input_shape")) shape = model["config"]["build_input_shape"];
  LC_CHECK(shape.is_array() && shape.size() == 4 && shape[1].is_number_integer() && shape[2].is_number_integer() &&
               shape[3].is_number_integer(),
           origin, ": the model has no fixed input shape [batch, height, width, channels] (got ", shape.dump(), ")");
  cur.t.spec.height = shape[1], cur.t.spec.width = shape[2], cur.t.spec.channels = shape[3];
  LC_CHECK(cur.t.spec.channels == 3, origin, ": the model takes ", cur.t.spec.channels,
           "-channel input; landcover models take RGB (3 channels)");
  LC_CHECK(cur.last_dense >= 0, origin, ": the model has no Dense layer giving the class scores");
  LayerSpec& out = cur.t.spec.layers[std::size_t(cur.last_dense)];
  cur.t.classes = out.units;
  out.units = LayerSpec::kUnitsClasses;
  if (cur.softmax_seen) cur.t.notes.push_back("final softmax dropped: landcover applies softmax to the scores itself");
  else cur.t.notes.push_back("the model ends without softmax: landcover reports softmax probabilities of its outputs");
  return std::move(cur.t);
}

Translation translate_config(const json& model, const std::string& origin) {
  try {
    return translate_chain(model, origin);
  } catch (const json::exception& e) {  // a value of the wrong JSON type somewhere
    LC_FAIL(origin, ": malformed model config: ", e.what());
  }
}

std::vector<std::string> keras_layer_names(const ModelSpec& spec) {
  static const std::map<std::string, std::string> base{{"batchnorm", "batch_normalization"}, {"conv2d", "conv2d"},
                                                       {"maxpool", "max_pooling2d"},         {"flatten", "flatten"},
                                                       {"dense", "dense"},                   {"dropout", "dropout"}};
  std::map<std::string, int> count;
  std::vector<std::string> names;
  for (const LayerSpec& L : spec.layers) {
    const auto it = base.find(L.type->name());
    LC_CHECK(it != base.end(), "layer type ", L.type->name(), " has no Keras equivalent");
    const int n = count[it->second]++;
    names.push_back(n == 0 ? it->second : it->second + "_" + std::to_string(n));
  }
  return names;
}

json make_config(const ModelSpec& spec, const std::vector<LayerInfo>& layers) {
  const std::vector<std::string> names = keras_layer_names(spec);
  const json shape = {nullptr, spec.height, spec.width, spec.channels};
  int last_dense = -1;
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (std::string(layers[i].spec.type->name()) == "dense") last_dense = int(i);
  json list = json::array();
  list.push_back({{"module", "keras.layers"}, {"class_name", "InputLayer"}, {"registered_name", nullptr},
                  {"config", {{"batch_shape", shape}, {"dtype", "float32"}, {"sparse", false}, {"name", "input_layer"}}}});
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& L = layers[i].spec;
    const std::string type = L.type->name();
    json c = {{"name", names[i]}, {"trainable", true}, {"dtype", "float32"}};
    std::string cls;
    if (type == "batchnorm") {
      cls = "BatchNormalization";
      c.update({{"axis", -1}, {"momentum", tidy(L.momentum)}, {"epsilon", tidy(L.epsilon)}, {"center", true}, {"scale", true}});
    } else if (type == "conv2d") {
      cls = "Conv2D";
      c.update({{"filters", L.filters}, {"kernel_size", {L.kernel, L.kernel}}, {"strides", {1, 1}},
                {"padding", "same"}, {"data_format", "channels_last"}, {"dilation_rate", {1, 1}}, {"groups", 1},
                {"activation", L.elu ? "elu" : "linear"}, {"use_bias", true}});
    } else if (type == "maxpool") {
      cls = "MaxPooling2D";
      c.update({{"pool_size", {2, 2}}, {"strides", {2, 2}}, {"padding", "valid"}, {"data_format", "channels_last"}});
    } else if (type == "flatten") {
      cls = "Flatten";
      c["data_format"] = "channels_last";
    } else if (type == "dense") {
      cls = "Dense";
      const bool last = int(i) == last_dense;  // softmax: Keras then predicts what landcover reports
      c.update({{"units", L.units}, {"activation", last ? "softmax" : (L.elu ? "elu" : "linear")}, {"use_bias", true}});
    } else if (type == "dropout") {
      cls = "Dropout";
      c.update({{"rate", tidy(L.rate)}, {"noise_shape", nullptr}, {"seed", nullptr}});
    }
    list.push_back({{"module", "keras.layers"}, {"class_name", cls}, {"config", c}, {"registered_name", nullptr}});
  }
  return {{"module", "keras"},
          {"class_name", "Sequential"},
          {"registered_name", nullptr},
          {"config", {{"name", spec.name.empty() ? "landcover_model" : spec.name}, {"trainable", true},
                      {"dtype", "float32"}, {"layers", list}}},
          {"build_config", {{"input_shape", shape}}}};
}

}  // namespace lc::keras

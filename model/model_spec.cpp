// The JSON model file parser (see model_spec.h).
#include "model/model_spec.h"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/common/check.h"

namespace lc {

namespace {

using nlohmann::json;

std::string join(std::initializer_list<const char*> keys) {
  std::string s;
  for (const char* k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s.empty() ? "none" : s;
}

void check_keys(const json& obj, std::initializer_list<const char*> allowed, const std::string& who) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : allowed) ok = ok || it.key() == k;
    LC_CHECK(ok, who, ": unknown key '", it.key(), "' (allowed: ", join(allowed), ")");
  }
}

int get_int(const json& obj, const char* key, const std::string& who) {
  LC_CHECK(obj.contains(key), who, ": missing key '", key, "'");
  const json& v = obj.at(key);
  LC_CHECK(v.is_number_integer(), who, ": '", key, "' must be an integer, got ", v.dump());
  const auto x = v.get<std::int64_t>();
  LC_CHECK(x >= -(1ll << 30) && x <= (1ll << 30), who, ": '", key, "' is out of range: ", x);
  return int(x);
}

float get_float(const json& obj, const char* key, const std::string& who) {
  const json& v = obj.at(key);
  LC_CHECK(v.is_number(), who, ": '", key, "' must be a number, got ", v.dump());
  return v.get<float>();
}

// A float as the shortest decimal that reads back to it (0.001, not 0.0010000000474974513).
double shortest(float x) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::strtod(std::string(buf, r.ptr).c_str(), nullptr);
}

bool get_activation(const json& obj, const std::string& who) {
  if (!obj.contains("activation")) return false;
  const json& v = obj.at("activation");
  LC_CHECK(v.is_string(), who, ": 'activation' must be a string, got ", v.dump());
  const auto s = v.get<std::string>();
  LC_CHECK(s == "elu" || s == "linear", who, ": unknown activation '", s, "' (choose elu or linear)");
  return s == "elu";
}

LayerSpec parse_layer(const json& j, int index, const std::string& origin) {
  std::string who = origin + ": layer " + std::to_string(index);
  LC_CHECK(j.is_object(), who, ": must be an object, got ", j.dump());
  LC_CHECK(j.contains("type"), who, ": missing key 'type'");
  LC_CHECK(j.at("type").is_string(), who, ": 'type' must be a string, got ", j.at("type").dump());
  const std::string type = j.at("type").get<std::string>();
  who += " (" + type + ")";
  LayerSpec L;
  if (type == "batchnorm") {
    L.type = LayerType::batchnorm;
    check_keys(j, {"type", "epsilon", "momentum"}, who);
    if (j.contains("epsilon")) L.epsilon = get_float(j, "epsilon", who);
    if (j.contains("momentum")) L.momentum = get_float(j, "momentum", who);
  } else if (type == "conv2d") {
    L.type = LayerType::conv2d;
    check_keys(j, {"type", "filters", "kernel", "activation"}, who);
    L.filters = get_int(j, "filters", who);
    L.kernel = get_int(j, "kernel", who);
    L.elu = get_activation(j, who);
  } else if (type == "maxpool") {
    L.type = LayerType::maxpool;
    check_keys(j, {"type"}, who);
  } else if (type == "flatten") {
    L.type = LayerType::flatten;
    check_keys(j, {"type"}, who);
  } else if (type == "dense") {
    L.type = LayerType::dense;
    check_keys(j, {"type", "units", "activation"}, who);
    LC_CHECK(j.contains("units"), who, ": missing key 'units'");
    const json& u = j.at("units");
    if (u.is_string()) {
      LC_CHECK(u.get<std::string>() == "classes", who, ": 'units' must be an integer or \"classes\", got ",
               u.dump());
      L.units = LayerSpec::kUnitsClasses;
    } else {
      L.units = get_int(j, "units", who);
      LC_CHECK(L.units > 0, who, ": units must be positive, got ", L.units);
    }
    L.elu = get_activation(j, who);
  } else if (type == "dropout") {
    L.type = LayerType::dropout;
    check_keys(j, {"type", "rate"}, who);
    LC_CHECK(j.contains("rate"), who, ": missing key 'rate'");
    L.rate = get_float(j, "rate", who);
  } else {
    LC_FAIL(who, ": unknown layer type '", type,
            "' (known: batchnorm, conv2d, maxpool, flatten, dense, dropout)");
  }
  return L;
}

}  // namespace

ModelSpec parse_model_json(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e2222
    LC_FAIL(origin, ": not valid JSON: ", e.what());
  }
  LC_CHECK(j.is_object(), origin, ": the model must be a JSON object");
  check_keys(j, {"name", "input", "layers"}, origin);
  ModelSpec spec;
  if (j.contains("name")) {
    LC_CHECK(j.at("name").is_string(), origin, ": 'name' must be a string");
    spec.name = j.at("name").get<std::string>();
  }
  LC_CHECK(j.contains("input"), origin, ": missing key 'input' ([height, width, channels])");
  const json& in = j.at("input");
  LC_CHECK(in.is_array() && in.size() == 3, origin, ": 'input' must be [height, width, channels], got ", in.dump());
  int dims[3];
  for (int i = 0; i < 3; ++i) {
    LC_CHECK(in[i].is_number_integer() && in[i].get<std::int64_t>() > 0 && in[i].get<std::int64_t>() <= 65536,
             origin, ": 'input' must hold three positive integers, got ", in.dump());
    dims[i] = in[i].get<int>();
  }
  spec.height = dims[0], spec.width = dims[1], spec.channels = dims[2];
  LC_CHECK(j.contains("layers"), origin, ": missing key 'layers'");
  const json& layers = j.at("layers");
  LC_CHECK(layers.is_array() && !layers.empty(), origin, ": 'layers' must be a non-empty list");
  LC_CHECK(layers.size() <= 100, origin, ": at most 100 layers (names use two digits), got ", layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) spec.layers.push_back(parse_layer(layers[i], int(i), origin));
  return spec;
}

ModelSpec load_model_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LC_CHECK(f.good(), "cannot open model file ", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_model_json(ss.str(), path);
}

std::vector<LayerInfo> validate_model(const ModelSpec& spec, int classes, const std::string& origin) {
  try {
    return infer_layers(spec, classes);
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
}

const std::string& default_model_json() {
  // The same text as model/eurosat_cnn.json (a test checks that both parse to the same spec).
  static const std::string text = R"json({
  "name": "eurosat_cnn",
  "input": [64, 64, 3],
  "layers": [
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 16, "kernel": 5, "activation": "elu"},
    {"type": "maxpool"},
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 32, "kernel": 3, "activation": "elu"},
    {"type": "conv2d", "filters": 32, "kernel": 3, "activation": "elu"},
    {"type": "maxpool"},
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 64, "kernel": 3, "activation": "elu"},
    {"type": "conv2d", "filters": 64, "kernel": 3, "activation": "elu"},
    {"type": "maxpool"},
    {"type": "batchnorm"},
    {"type": "conv2d", "filters": 128, "kernel": 3, "activation": "elu"},
    {"type": "maxpool"},
    {"type": "flatten"},
    {"type": "dense", "units": 128, "activation": "elu"},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "units": 64, "activation": "elu"},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "units": "classes"}
  ]
}
)json";
  return text;
}

std::string model_to_json(const ModelSpec& spec) {
  json j;
  j["name"] = spec.name;
  j["input"] = {spec.height, spec.width, spec.channels};
  json layers = json::array();
  for (const LayerSpec& L : spec.layers) {
    json o;
    o["type"] = layer_type_name(L.type);
    switch (L.type) {
      case LayerType::batchnorm:
        o["epsilon"] = shortest(L.epsilon);
        o["momentum"] = shortest(L.momentum);
        break;
      case LayerType::conv2d:
        o["filters"] = L.filters;
        o["kernel"] = L.kernel;
        o["activation"] = L.elu ? "elu" : "linear";
        break;
      case LayerType::dense:
        if (L.units == LayerSpec::kUnitsClasses)
          o["units"] = "classes";
        else
          o["units"] = L.units;
        o["activation"] = L.elu ? "elu" : "linear";
        break;
      case LayerType::dropout: o["rate"] = shortest(L.rate); break;
      case LayerType::maxpool:
      case LayerType::flatten: break;
    }
    layers.push_back(std::move(o));
  }
  j["layers"] = std::move(layers);
  return j.dump(2) + "\n";
}

}  // namespace lc

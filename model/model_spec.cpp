// The JSON model file parser (see model_spec.h).
#include "model/model_spec.h"

#include <fstream>
#include <vector>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/common/check.h"
#include "model/seed_model.h"
#include "runtime/layer_type.h"

namespace lc {

namespace {

using nlohmann::json;

std::string join(const std::vector<const char*>& keys) {
  std::string s;
  for (const char* k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s.empty() ? "none" : s;
}

void check_keys(const json& obj, const std::vector<const char*>& allowed, const std::string& who) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : allowed) ok = ok || it.key() == k;
    LC_CHECK(ok, who, ": unknown key '", it.key(), "' (allowed: ", join(allowed), ")");
  }
}

LayerSpec parse_layer(const json& j, int index, const std::string& origin) {
  std::string who = origin + ": layer " + std::to_string(index);
  LC_CHECK(j.is_object(), who, ": must be an object, got ", j.dump());
  LC_CHECK(j.contains("type"), who, ": missing key 'type'");
  LC_CHECK(j.at("type").is_string(), who, ": 'type' must be a string, got ", j.at("type").dump());
  const std::string type = j.at("type").get<std::string>();
  who += " (" + type + ")";
  LayerSpec L;
  L.type = find_layer_type(type);
  LC_CHECK(L.type, who, ": unknown layer type '", type, "' (known: ", layer_type_list(), ")");
  std::vector<const char*> keys = L.type->keys();
  keys.insert(keys.begin(), "type");
  check_keys(j, keys, who);
  L.type->parse(j, L, who);
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
  static const std::string text = kSeedModelJson;
  return text;
}

std::string model_to_json(const ModelSpec& spec) {
  json j;
  j["name"] = spec.name;
  j["input"] = {spec.height, spec.width, spec.channels};
  json layers = json::array();
  for (const LayerSpec& L : spec.layers) {
    json o;
    o["type"] = L.type->name();
    L.type->to_json(L, o);
    layers.push_back(std::move(o));
  }
  j["layers"] = std::move(layers);
  return j.dump(2) + "\n";
}

}  // namespace lc

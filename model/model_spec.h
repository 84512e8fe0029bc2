// The JSON model file: one object with "name", "input" [H, W, C] and "layers", a list of objects
// with one "type" each (batchnorm, conv2d, maxpool, flatten, dense, dropout) and that type's keys:
//   batchnorm  optional "epsilon" (1e-3), "momentum" (0.99)
//   conv2d     "filters", "kernel" (odd; stride 1, padding same), optional "activation": "elu" | "linear"
//   maxpool    no keys (2x2, stride 2)
//   flatten    no keys
//   dense      "units" (a number or "classes"), optional "activation": "elu" | "linear"
//   dropout    "rate" in [0, 1)
// Unknown keys, unknown types, wrong value types and impossible shapes are errors naming the layer
// ("model.json: layer 3 (conv2d): unknown key 'filter'"). The seed network is model/eurosat_cnn.json.
// Depends on: runtime/layers.h (ModelSpec, shape inference), nlohmann_json.
#pragma once

#include <string>

#include "runtime/layers.h"

namespace lc {

// Parses model JSON text. `origin` names the source in errors (a file name). Checks keys and value
// types; shape checks need the number of classes: call validate_model (or infer_layers).
ModelSpec parse_model_json(const std::string& text, const std::string& origin = "model");
// Reads and parses a model file.
ModelSpec load_model_file(const std::string& path);
// Parses, then infers the shapes for `classes` (throws naming the origin and the layer).
std::vector<LayerInfo> validate_model(const ModelSpec& spec, int classes, const std::string& origin = "model");
// The seed network's JSON text (model/eurosat_cnn.json, compiled in so `landcover train` works from
// any directory) and its path in the source tree.
const std::string& default_model_json();
// Writes the spec back as canonical JSON (what checkpoints store).
std::string model_to_json(const ModelSpec& spec);

}  // namespace lc

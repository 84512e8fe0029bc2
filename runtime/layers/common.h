// Helpers shared by the layer types of runtime/layers/: model-file fields and the nodes two types
// add alike. Only runtime/layers/*.cpp include this.
// Depends on: runtime/layer_type.h, nlohmann_json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "runtime/layer_type.h"

namespace lc::layers {

using nlohmann::json;

int get_int(const json& obj, const char* key, const std::string& who);  // required integer
float get_float(const json& obj, const char* key, const std::string& who);
// A float as the shortest decimal that reads back to it (0.001, not 0.0010000000474974513).
double shortest(float x);
// The optional "activation": "elu" | "linear" of conv2d and dense (true for elu).
bool get_activation(const json& obj, const std::string& who);

// The ELU backward of a fused ELU epilogue, in place on dy: dy *= elu'(y), from the output y.
void add_elu_backward(PlanBuilder& b, const LayerInfo& L, Val y, Val dy);

// Defines the accessor runtime/layers/registry.cpp lists: `const LayerType& fn()`, one static
// instance of the layer type `cls`.
#define LC_DEFINE_LAYER_TYPE(cls, fn) \
  const LayerType& fn() {             \
    static const cls instance;        \
    return instance;                  \
  }

}  // namespace lc::layers

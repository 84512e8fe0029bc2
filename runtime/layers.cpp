// Layer table and shape inference (see layers.h).
#include "runtime/layers.h"

#include <cstdio>

#include "kernels/common/check.h"
#include "runtime/layer_type.h"

namespace lc {

std::string ActShape::str() const {
  if (flat) return std::to_string(c);
  return std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(c);
}

std::int64_t ParamInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string LayerInfo::prefix() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "L%02d", index);
  return std::string(buf) + "." + type_name();
}

std::string LayerInfo::describe() const { return "layer " + std::to_string(index) + " (" + type_name() + ")"; }

const char* LayerInfo::type_name() const { return spec.type ? spec.type->name() : "?"; }

std::vector<LayerInfo> infer_layers(const ModelSpec& spec, int classes) {
  LC_CHECK(classes >= 2, "model '", spec.name, "': need at least 2 classes, got ", classes);
  LC_CHECK(spec.height > 0 && spec.width > 0 && spec.channels > 0, "model '", spec.name,
           "': input must be positive H x W x C, got ", spec.height, "x", spec.width, "x", spec.channels);
  LC_CHECK(!spec.layers.empty(), "model '", spec.name, "' has no layers");
  std::vector<LayerInfo> out;
  ActShape cur{spec.height, spec.width, spec.channels, false};
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    LayerInfo L;
    L.index = int(i);
    L.spec = spec.layers[i];
    L.in = cur;
    LC_CHECK(L.spec.type, L.describe(), ": no layer type");
    L.spec.type->infer(L, classes);
    cur = L.out;
    out.push_back(std::move(L));
  }
  const LayerInfo& last = out.back();
  LC_CHECK(last.out.flat && last.out.c == classes, last.describe(),
           ": the last layer must output a flat vector of the ", classes, " class logits, got ", last.out.str(),
           " (end with a dense layer with \"units\": \"classes\")");
  LC_CHECK(!last.spec.type->has_activation(last.spec), last.describe(),
           ": the last layer gives the logits of the softmax loss; it takes no activation");
  return out;
}

std::int64_t trainable_parameter_count(const std::vector<LayerInfo>& layers) {
  std::int64_t n = 0;
  for (const auto& L : layers)
    for (const auto& p : L.params)
      if (p.trainable) n += p.numel();
  return n;
}

std::int64_t state_count(const std::vector<LayerInfo>& layers) {
  std::int64_t n = 0;
  for (const auto& L : layers)
    for (const auto& p : L.params)
      if (!p.trainable) n += p.numel();
  return n;
}

std::int64_t forward_macs_per_image(const std::vector<LayerInfo>& layers) {
  std::int64_t macs = 0;
  for (const auto& L : layers) macs += L.spec.type->macs_per_image(L);
  return macs;
}

}  // namespace lc

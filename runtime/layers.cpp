// Layer table and shape inference (see layers.h).
#include "runtime/layers.h"

#include <cstdio>

#include "kernels/common/check.h"

namespace lc {

const char* layer_type_name(LayerType t) {
  switch (t) {
    case LayerType::batchnorm: return "batchnorm";
    case LayerType::conv2d: return "conv2d";
    case LayerType::maxpool: return "maxpool";
    case LayerType::flatten: return "flatten";
    case LayerType::dense: return "dense";
    case LayerType::dropout: return "dropout";
  }
  return "?";
}

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
  return std::string(buf) + "." + layer_type_name(spec.type);
}

std::string LayerInfo::describe() const {
  return "layer " + std::to_string(index) + " (" + layer_type_name(spec.type) + ")";
}

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
    const std::string who = L.describe();
    const std::string p = L.prefix() + ".";
    auto param = [&](const char* name, std::vector<std::int64_t> shape, bool trainable = true) {
      L.params.push_back({p + name, std::move(shape), trainable});
    };
    switch (L.spec.type) {
      case LayerType::batchnorm: {
        LC_CHECK(L.spec.epsilon > 0.f, who, ": epsilon must be positive, got ", L.spec.epsilon);
        LC_CHECK(L.spec.momentum >= 0.f && L.spec.momentum < 1.f, who, ": momentum must be in [0, 1), got ",
                 L.spec.momentum);
        const std::int64_t c = cur.c;
        param("gamma", {c});
        param("beta", {c});
        param("moving_mean", {c}, false);
        param("moving_var", {c}, false);
        L.out = cur;
        break;
      }
      case LayerType::conv2d: {
        LC_CHECK(!cur.flat, who, ": needs an image input (H x W x C), got a flat vector of ", cur.c);
        LC_CHECK(L.spec.filters > 0, who, ": filters must be positive, got ", L.spec.filters);
        LC_CHECK(L.spec.kernel > 0 && L.spec.kernel % 2 == 1, who,
                 ": kernel must be a positive odd size (padding 'same' is symmetric), got ", L.spec.kernel);
        LC_CHECK(L.spec.kernel <= 2 * cur.h + 1 && L.spec.kernel <= 2 * cur.w + 1, who, ": kernel ",
                 L.spec.kernel, " is larger than twice the ", cur.str(), " input plus one");
        param("kernel", {L.spec.filters, L.spec.kernel, L.spec.kernel, cur.c});
        param("bias", {L.spec.filters});
        L.out = {cur.h, cur.w, L.spec.filters, false};
        break;
      }
      case LayerType::maxpool: {
        LC_CHECK(!cur.flat, who, ": needs an image input (H x W x C), got a flat vector of ", cur.c);
        LC_CHECK(cur.h >= 2 && cur.w >= 2, who, ": 2x2 pooling needs at least a 2x2 input, got ", cur.str());
        L.out = {cur.h / 2, cur.w / 2, cur.c, false};  // Keras 'valid' pooling: floor
        break;
      }
      case LayerType::flatten: {
        LC_CHECK(!cur.flat, who, ": input is already flat (", cur.c, " features)");
        const std::int64_t n = cur.numel();
        LC_CHECK(n <= (1 << 30), who, ": flattened size ", n, " is too large");
        L.out = {1, 1, int(n), true};
        break;
      }
      case LayerType::dense: {
        LC_CHECK(cur.flat, who, ": needs a flat input, got an image ", cur.str(), " (insert a flatten layer)");
        if (L.spec.units == LayerSpec::kUnitsClasses) L.spec.units = classes;
        LC_CHECK(L.spec.units > 0, who, ": units must be positive, got ", L.spec.units);
        param("kernel", {cur.c, L.spec.units});
        param("bias", {L.spec.units});
        L.out = {1, 1, L.spec.units, true};
        break;
      }
      case LayerType::dropout: {
        LC_CHECK(L.spec.rate >= 0.f && L.spec.rate < 1.f, who, ": rate must be in [0, 1), got ", L.spec.rate);
        L.out = cur;
        break;
      }
    }
    cur = L.out;
    out.push_back(std::move(L));
  }
  const LayerInfo& last = out.back();
  LC_CHECK(last.out.flat && last.out.c == classes, last.describe(),
           ": the last layer must output a flat vector of the ", classes, " class logits, got ", last.out.str(),
           " (end with a dense layer with \"units\": \"classes\")");
  LC_CHECK(!(last.spec.type == LayerType::dense && last.spec.elu), last.describe(),
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
  for (const auto& L : layers) {
    if (L.spec.type == LayerType::conv2d)
      macs += L.out.numel() * std::int64_t(L.spec.kernel) * L.spec.kernel * L.in.c;
    else if (L.spec.type == LayerType::dense)
      macs += std::int64_t(L.in.c) * L.out.c;
  }
  return macs;
}

}  // namespace lc

// The registered layer types (runtime/layer_type.h). A new type: its file under runtime/layers/
// a declaration and an entry in the list below.
#include "kernels/common/check.h"
#include "runtime/layers/common.h"

namespace lc {

namespace layers {
const LayerType& batchnorm_layer();
const LayerType& conv2d_layer();
const LayerType& maxpool_layer();
const LayerType& flatten_layer();
const LayerType& dense_layer();
const LayerType& dropout_layer();
}  // namespace layers

const std::vector<const LayerType*>& layer_types() {
  static const std::vector<const LayerType*> types{
      &layers::batchnorm_layer(), &layers::conv2d_layer(), &layers::maxpool_layer(),
      &layers::flatten_layer(),   &layers::dense_layer(),  &layers::dropout_layer(),
  };
  return types;
}

const LayerType* find_layer_type(const std::string& name) {
  for (const LayerType* t : layer_types())
    if (name == t->name()) return t;
  return nullptr;
}

std::string layer_type_list() {
  std::string s;
  for (const LayerType* t : layer_types()) s += (s.empty() ? "" : ", ") + std::string(t->name());
  return s;
}

int FlatClassTable::id(std::vector<int> key) {
  const auto [it, fresh] = ids_.emplace(std::move(key), next_);
  if (fresh) ++next_;
  return it->second;
}

void LayerType::parse(const nlohmann::json&, LayerSpec&, const std::string&) const {}
void LayerType::to_json(const LayerSpec&, nlohmann::json&) const {}

}  // namespace lc

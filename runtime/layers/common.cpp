// Helpers shared by the layer types (see common.h).
#include "runtime/layers/common.h"

#include <charconv>
#include <cstdlib>

#include "kernels/common/check.h"
#include "kernels/elu/elu.h"

namespace lc::layers {

int get_int(const json& obj, const char* key, const std::string& who) {
  LC_CHECK(obj.contains(key), who, ": missing key '", key, "'");
  const json& v = obj.at(key);
  LC_CHECK(v.is_number_integer(), who, ": '", key, "' must be an integer, got ", v.dump());
  const auto x = v.get<std::int64_t>();
  LC_CHECK(x >= -(1ll << 30) && x <= (1ll << 30), who, ": '", key, "' is out of range: ", x);
  return int(x);
}

float get_float(const json& obj, const char* key, const std::string& who) {
  LC_CHECK(obj.contains(key), who, ": missing key '", key, "'");
  const json& v = obj.at(key);
  LC_CHECK(v.is_number(), who, ": '", key, "' must be a number, got ", v.dump());
  return v.get<float>();
}

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

void add_elu_backward(PlanBuilder& b, const LayerInfo& L, Val y, Val dy) {
  const EluArgs a{std::int64_t(b.batch()) * L.out.numel()};
  b.add_node(L.prefix() + " elu bwd" + b.tag(), {y, dy}, {}, [=](const NodeContext& c) {
    float* g = c.f(dy);
    LC_DISPATCH(c.kind(), elu_backward, a, c.f(y), g, g, c.stream());
  });
}

}  // namespace lc::layers

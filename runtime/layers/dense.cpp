// Fully connected layer y = x W + b with an optional fused ELU epilogue. Parameters kernel
// [in][out] (Keras' layout) and bias [out]; "units": "classes" resolves to the number of classes.
#include "kernels/common/check.h"
#include "kernels/dense/dense.h"
#include "runtime/layers/common.h"

namespace lc::layers {
namespace {

class Dense final : public LayerType {
 public:
  const char* name() const override { return "dense"; }
  std::vector<const char*> keys() const override { return {"units", "activation"}; }
  void parse(const json& j, LayerSpec& L, const std::string& who) const override {
    LC_CHECK(j.contains("units"), who, ": missing key 'units'");
    const json& u = j.at("units");
    if (u.is_string()) {
      LC_CHECK(u.get<std::string>() == "classes", who, ": 'units' must be an integer or \"classes\", got ", u.dump());
      L.units = LayerSpec::kUnitsClasses;
    } else {
      L.units = get_int(j, "units", who);
      LC_CHECK(L.units > 0, who, ": units must be positive, got ", L.units);
    }
    L.elu = get_activation(j, who);
  }
  void to_json(const LayerSpec& L, json& o) const override {
    if (L.units == LayerSpec::kUnitsClasses)
      o["units"] = "classes";
    else
      o["units"] = L.units;
    o["activation"] = L.elu ? "elu" : "linear";
  }

  void infer(LayerInfo& L, int classes) const override {
    const std::string who = L.describe();
    LC_CHECK(L.in.flat, who, ": needs a flat input, got an image ", L.in.str(), " (insert a flatten layer)");
    if (L.spec.units == LayerSpec::kUnitsClasses) L.spec.units = classes;
    LC_CHECK(L.spec.units > 0, who, ": units must be positive, got ", L.spec.units);
    const std::string p = L.prefix() + ".";
    const ParamInit glorot{ParamInit::glorot_uniform, double(L.in.c), double(L.spec.units)};
    L.params = {{p + "kernel", {L.in.c, L.spec.units}, true, glorot}, {p + "bias", {L.spec.units}, true, {}}};
    L.out = {1, 1, L.spec.units, true};
  }
  std::int64_t macs_per_image(const LayerInfo& L) const override { return std::int64_t(L.in.c) * L.out.c; }
  bool has_activation(const LayerSpec& L) const override { return L.elu; }

  static DenseArgs args(const PlanBuilder& b, const LayerInfo& L) {
    return {b.batch(), L.in.c, L.out.c, L.spec.elu ? DenseActivation::elu : DenseActivation::none};
  }

  Val forward(PlanBuilder& b, const LayerInfo& L, Val x, SavedBufs&) const override {
    const DenseArgs a = args(b, L);
    const float *w = b.param(L, 0), *bias = b.param(L, 1);
    const Val y = b.new_val(L.prefix() + ".y", std::int64_t(a.n) * L.out.numel());
    b.add_node(L.prefix() + (b.training() ? " fwd" : " infer") + b.tag(), {x, y}, {}, [=](const NodeContext& c) {
      DenseArgs an = a;
      an.n = c.rows();
      LC_DISPATCH(c.kind(), dense_forward, an, c.f(x), w, bias, c.f(y), c.stream());
    });
    return y;
  }

  Val backward(PlanBuilder& b, const LayerInfo& L, Val x, Val y, Val dy, const SavedBufs&,
               bool first) const override {
    const DenseArgs a = args(b, L);
    const float* w = b.param(L, 0);
    float *dw = b.grad(L, 0), *db = b.grad(L, 1);
    if (L.spec.elu) add_elu_backward(b, L, y, dy);
    const Val dx = first ? Val{} : b.new_val(L.prefix() + ".dx", std::int64_t(a.n) * L.in.numel());
    b.add_node(L.prefix() + " bwd" + b.tag(), {x, dy, dx}, {}, [=](const NodeContext& c) {
      LC_DISPATCH(c.kind(), dense_backward, a, c.f(x), w, c.f(dy), dx.valid() ? c.f(dx) : nullptr, dw, db, c.stream());
    });
    return dx;
  }
};

}  // namespace

LC_DEFINE_LAYER_TYPE(Dense, dense_layer)

}  // namespace lc::layers

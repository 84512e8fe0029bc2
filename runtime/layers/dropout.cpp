// Inverted dropout: in training, each unit is kept with probability 1 - rate and scaled by
// 1 / (1 - rate); the mask is keyed by (run seed, layer index, optimizer step) and the element
// index (kernels/dropout), so the backward recomputes it. Identity in inference.
#include "kernels/common/check.h"
#include "kernels/dropout/dropout.h"
#include "runtime/layers/common.h"

namespace lc::layers {
namespace {

class Dropout final : public LayerType {
 public:
  const char* name() const override { return "dropout"; }
  std::vector<const char*> keys() const override { return {"rate"}; }
  void parse(const json& j, LayerSpec& L, const std::string& who) const override {
    L.rate = get_float(j, "rate", who);
  }
  void to_json(const LayerSpec& L, json& o) const override { o["rate"] = shortest(L.rate); }

  void infer(LayerInfo& L, int) const override {
    LC_CHECK(L.spec.rate >= 0.f && L.spec.rate < 1.f, L.describe(), ": rate must be in [0, 1), got ", L.spec.rate);
    L.out = L.in;
  }

  static DropoutArgs args(const PlanBuilder& b, const LayerInfo& L) {
    DropoutArgs a;
    a.n = std::int64_t(b.batch()) * L.out.numel(), a.rate = L.spec.rate, a.seed = b.seed();
    a.stream = std::uint32_t(L.index), a.training = true;
    return a;
  }

  Val forward(PlanBuilder& b, const LayerInfo& L, Val x, SavedBufs&) const override {
    if (!b.training()) return x;  // identity in inference
    const DropoutArgs a = args(b, L);
    const std::int64_t* step = b.step();
    const Val y = b.new_val(L.prefix() + ".y", a.n);
    b.add_node(L.prefix() + " fwd" + b.tag(), {x, y}, {}, [=](const NodeContext& c) {
      LC_DISPATCH(c.kind(), dropout_forward, a, step, c.f(x), c.f(y), c.stream());
    });
    return y;
  }

  Val backward(PlanBuilder& b, const LayerInfo& L, Val, Val, Val dy, const SavedBufs&, bool) const override {
    const DropoutArgs a = args(b, L);
    const std::int64_t* step = b.step();
    b.add_node(L.prefix() + " bwd" + b.tag(), {dy}, {}, [=](const NodeContext& c) {
      float* g = c.f(dy);
      LC_DISPATCH(c.kind(), dropout_backward, a, step, g, g, c.stream());  // in place
    });
    return dy;
  }
};

}  // namespace

LC_DEFINE_LAYER_TYPE(Dropout, dropout_layer)

}  // namespace lc::layers

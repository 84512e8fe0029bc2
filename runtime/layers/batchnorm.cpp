// Batch normalization over the channels (Keras BatchNormalization(axis=-1)): training mode
// normalises with the batch statistics and updates the moving ones; inference uses the moving
// statistics. Parameters gamma, beta; state moving_mean, moving_var (all [C]).
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/common/check.h"
#include "runtime/layers/common.h"

namespace lc::layers {
namespace {

class BatchNorm final : public LayerType {
 public:
  const char* name() const override { return "batchnorm"; }
  std::vector<const char*> keys() const override { return {"epsilon", "momentum"}; }
  void parse(const json& j, LayerSpec& L, const std::string& who) const override {
    if (j.contains("epsilon")) L.epsilon = get_float(j, "epsilon", who);
    if (j.contains("momentum")) L.momentum = get_float(j, "momentum", who);
  }
  void to_json(const LayerSpec& L, json& o) const override {
    o["epsilon"] = shortest(L.epsilon);
    o["momentum"] = shortest(L.momentum);
  }

  void infer(LayerInfo& L, int) const override {
    const std::string who = L.describe();
    LC_CHECK(L.spec.epsilon > 0.f, who, ": epsilon must be positive, got ", L.spec.epsilon);
    LC_CHECK(L.spec.momentum >= 0.f && L.spec.momentum < 1.f, who, ": momentum must be in [0, 1), got ",
             L.spec.momentum);
    const std::int64_t c = L.in.c;
    const std::string p = L.prefix() + ".";
    const ParamInit one{ParamInit::ones}, zero{ParamInit::zeros};
    L.params = {{p + "gamma", {c}, true, one},
                {p + "beta", {c}, true, zero},
                {p + "moving_mean", {c}, false, zero},
                {p + "moving_var", {c}, false, one}};
    L.out = L.in;
  }

  static BatchNormArgs args(const PlanBuilder& b, const LayerInfo& L) {
    return {b.batch(), L.in.h, L.in.w, L.in.c, L.spec.epsilon, L.spec.momentum};
  }
  static int workspace(PlanBuilder& b, const LayerInfo& L, const BatchNormArgs& a, const char* what) {
    const BackendKind k = b.kind();
    const std::size_t bytes = [&]() -> std::size_t { LC_DISPATCH(k, batchnorm_workspace_bytes, a); }();
    return b.add_buf(L.prefix() + what, bytes);
  }

  // saved = {mean, inv_std} of the batch (training).
  Val forward(PlanBuilder& b, const LayerInfo& L, Val x, SavedBufs& saved) const override {
    const BatchNormArgs a = args(b, L);
    float *gamma = b.param(L, 0), *beta = b.param(L, 1), *mm = b.param(L, 2), *mv = b.param(L, 3);
    const Val y = b.new_val(L.prefix() + ".y", std::int64_t(a.n) * L.out.numel());
    const std::string name = L.prefix() + (b.training() ? " fwd" : " infer") + b.tag();
    if (b.training()) {
      const int mean = b.add_buf(L.prefix() + ".save_mean", std::size_t(L.in.c) * 4);
      const int inv = b.add_buf(L.prefix() + ".save_inv_std", std::size_t(L.in.c) * 4);
      const int wsb = workspace(b, L, a, ".fwd_ws");
      saved = {mean, inv};
      b.add_node(name, {x, y}, {mean, inv, wsb}, [=](const NodeContext& c) {
        LC_DISPATCH(c.kind(), batchnorm_forward_training, a, c.f(x), gamma, beta, c.f(y), mm, mv,
                    static_cast<float*>(c.raw(mean)), static_cast<float*>(c.raw(inv)), c.ws(wsb), c.stream());
      });
    } else {
      b.add_node(name, {x, y}, {}, [=](const NodeContext& c) {
        BatchNormArgs an = a;
        an.n = c.rows();
        LC_DISPATCH(c.kind(), batchnorm_forward_inference, an, c.f(x), gamma, beta, mm, mv, c.f(y), c.stream());
      });
    }
    return y;
  }

  Val backward(PlanBuilder& b, const LayerInfo& L, Val x, Val, Val dy, const SavedBufs& saved,
               bool first) const override {
    const BatchNormArgs a = args(b, L);
    const float* gamma = b.param(L, 0);
    float *dgamma = b.grad(L, 0), *dbeta = b.grad(L, 1);
    // The contract has no "skip dx": the first layer's dx goes to a scratch buffer.
    const Val dx = b.new_val(L.prefix() + (first ? ".dx_unused" : ".dx"), std::int64_t(a.n) * L.in.numel());
    const int wsb = workspace(b, L, a, ".bwd_ws");
    const int mean = saved.at(0), inv = saved.at(1);
    b.add_node(L.prefix() + " bwd" + b.tag(), {x, dy, dx}, {mean, inv, wsb}, [=](const NodeContext& c) {
      LC_DISPATCH(c.kind(), batchnorm_backward, a, c.f(x), c.f(dy), gamma, static_cast<const float*>(c.raw(mean)),
                  static_cast<const float*>(c.raw(inv)), c.f(dx), dgamma, dbeta, c.ws(wsb), c.stream());
    });
    return dx;
  }
};

}  // namespace

LC_DEFINE_LAYER_TYPE(BatchNorm, batchnorm_layer)

}  // namespace lc::layers

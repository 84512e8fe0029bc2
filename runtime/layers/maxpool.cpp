// Max-pool 2x2, stride 2, 'valid' (Keras MaxPooling2D((2, 2)): odd sizes floor). No parameters.
#include <cstdint>

#include "kernels/common/check.h"
#include "kernels/maxpool/maxpool.h"
#include "runtime/layers/common.h"

namespace lc::layers {
namespace {

class MaxPool final : public LayerType {
 public:
  const char* name() const override { return "maxpool"; }

  void infer(LayerInfo& L, int) const override {
    const std::string who = L.describe();
    LC_CHECK(!L.in.flat, who, ": needs an image input (H x W x C), got a flat vector of ", L.in.c);
    LC_CHECK(L.in.h >= 2 && L.in.w >= 2, who, ": 2x2 pooling needs at least a 2x2 input, got ", L.in.str());
    L.out = {L.in.h / 2, L.in.w / 2, L.in.c, false};
  }

  // saved = {argmax} in training on backends that keep it (cudnn recomputes from x and y: maxpool.h).
  Val forward(PlanBuilder& b, const LayerInfo& L, Val x, SavedBufs& saved) const override {
    const MaxPoolArgs a{b.batch(), L.in.h, L.in.w, L.in.c};
    const Val y = b.new_val(L.prefix() + ".y", std::int64_t(a.n) * L.out.numel());
    int am = -1;
    if (b.training() && b.kind() != BackendKind::cudnn) {
      am = b.add_buf(L.prefix() + ".argmax", std::size_t(a.out_elements()));
      saved = {am};
    }
    b.add_node(L.prefix() + (b.training() ? " fwd" : " infer") + b.tag(), {x, y}, {am},
               [=](const NodeContext& c) {
                 MaxPoolArgs an = a;
                 an.n = c.rows();
                 auto* argmax = static_cast<std::uint8_t*>(c.raw(am));
                 LC_DISPATCH(c.kind(), maxpool_forward, an, c.f(x), c.f(y), argmax, c.stream());
               });
    return y;
  }

  Val backward(PlanBuilder& b, const LayerInfo& L, Val x, Val y, Val dy, const SavedBufs& saved,
               bool) const override {
    const MaxPoolArgs a{b.batch(), L.in.h, L.in.w, L.in.c};
    const int am = saved.empty() ? -1 : saved[0];
    const Val dx = b.new_val(L.prefix() + ".dx", std::int64_t(a.n) * L.in.numel());
    const std::string name = L.prefix() + " bwd" + b.tag();
    if (am >= 0) {
      b.add_node(name, {dy, dx}, {am}, [=](const NodeContext& c) {
        const auto* argmax = static_cast<const std::uint8_t*>(c.raw(am));
        LC_DISPATCH(c.kind(), maxpool_backward, a, nullptr, nullptr, argmax, c.f(dy), c.f(dx), c.stream());
      });
    } else {
      b.add_node(name, {x, y, dy, dx}, {}, [=](const NodeContext& c) {
        LC_DISPATCH(c.kind(), maxpool_backward, a, c.f(x), c.f(y), nullptr, c.f(dy), c.f(dx), c.stream());
      });
    }
    return dx;
  }

  // Row i of the output: the pair of input rows 2i, 2i+1 (an odd last row is dropped).
  std::vector<int> flat_classes(FlatClassTable& t, const LayerInfo& L, const std::vector<int>& in) const override {
    std::vector<int> out;
    for (std::size_t i = 0; i + 1 < in.size(); i += 2) out.push_back(t.id({L.index, in[i], in[i + 1]}));
    return out;
  }
  bool flat_cut() const override { return true; }
};

}  // namespace

LC_DEFINE_LAYER_TYPE(MaxPool, maxpool_layer)

}  // namespace lc::layers

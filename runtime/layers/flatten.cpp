// Flatten: the NHWC activation taken as a flat vector of H*W*C features (Keras' H, W, C order).
// No kernel: the memory is the same, forward and backward pass their value through.
#include "kernels/common/check.h"
#include "runtime/layers/common.h"

namespace lc::layers {
namespace {

class Flatten final : public LayerType {
 public:
  const char* name() const override { return "flatten"; }

  void infer(LayerInfo& L, int) const override {
    LC_CHECK(!L.in.flat, L.describe(), ": input is already flat (", L.in.c, " features)");
    const std::int64_t n = L.in.numel();
    LC_CHECK(n <= (1 << 30), L.describe(), ": flattened size ", n, " is too large");
    L.out = {1, 1, int(n), true};
  }
  Val forward(PlanBuilder&, const LayerInfo&, Val x, SavedBufs&) const override { return x; }
  Val backward(PlanBuilder&, const LayerInfo&, Val, Val, Val dy, const SavedBufs&, bool) const override {
    return dy;
  }
};

}  // namespace

LC_DEFINE_LAYER_TYPE(Flatten, flatten_layer)

}  // namespace lc::layers

// 2-D convolution, stride 1, padding 'same', square odd kernel, with bias and an optional fused ELU
// epilogue. Parameters kernel [filters][k][k][in_channels] (KRSC) and bias [filters].
#include "kernels/common/check.h"
#include "kernels/conv2d/conv2d.h"
#include "runtime/layers/common.h"

namespace lc::layers {
namespace {

class Conv2d final : public LayerType {
 public:
  const char* name() const override { return "conv2d"; }
  std::vector<const char*> keys() const override { return {"filters", "kernel", "activation"}; }
  void parse(const json& j, LayerSpec& L, const std::string& who) const override {
    L.filters = get_int(j, "filters", who);
    L.kernel = get_int(j, "kernel", who);
    L.elu = get_activation(j, who);
  }
  void to_json(const LayerSpec& L, json& o) const override {
    o["filters"] = L.filters;
    o["kernel"] = L.kernel;
    o["activation"] = L.elu ? "elu" : "linear";
  }

  void infer(LayerInfo& L, int) const override {
    const std::string who = L.describe();
    const ActShape& in = L.in;
    LC_CHECK(!in.flat, who, ": needs an image input (H x W x C), got a flat vector of ", in.c);
    LC_CHECK(L.spec.filters > 0, who, ": filters must be positive, got ", L.spec.filters);
    LC_CHECK(L.spec.kernel > 0 && L.spec.kernel % 2 == 1, who,
             ": kernel must be a positive odd size (padding 'same' is symmetric), got ", L.spec.kernel);
    LC_CHECK(L.spec.kernel <= 2 * in.h + 1 && L.spec.kernel <= 2 * in.w + 1, who, ": kernel ", L.spec.kernel,
             " is larger than twice the ", in.str(), " input plus one");
    const std::string p = L.prefix() + ".";
    const double taps = double(L.spec.kernel) * L.spec.kernel;
    const ParamInit glorot{ParamInit::glorot_uniform, taps * in.c, taps * L.spec.filters};
    L.params = {{p + "kernel", {L.spec.filters, L.spec.kernel, L.spec.kernel, in.c}, true, glorot},
                {p + "bias", {L.spec.filters}, true, {}}};
    L.out = {in.h, in.w, L.spec.filters, false};
  }
  std::int64_t macs_per_image(const LayerInfo& L) const override {
    return L.out.numel() * std::int64_t(L.spec.kernel) * L.spec.kernel * L.in.c;
  }
  bool has_activation(const LayerSpec& L) const override { return L.elu; }

  static Conv2dArgs args(const PlanBuilder& b, const LayerInfo& L) {
    Conv2dArgs a;
    a.n = b.batch(), a.h = L.in.h, a.w = L.in.w, a.c = L.in.c, a.k = L.spec.filters;
    a.r = a.s = L.spec.kernel;
    a.fuse_elu = L.spec.elu;
    return a;
  }
  static std::size_t workspace_bytes(BackendKind k, const Conv2dArgs& a) { LC_DISPATCH(k, conv2d_workspace_bytes, a); }

  Val forward(PlanBuilder& b, const LayerInfo& L, Val x, SavedBufs&) const override {
    const Conv2dArgs a = args(b, L);
    const float *w = b.param(L, 0), *bias = b.param(L, 1);
    const Val y = b.new_val(L.prefix() + ".y", std::int64_t(a.n) * L.out.numel());
    const int wsb = b.add_buf(L.prefix() + ".fwd_ws", workspace_bytes(b.kind(), a));
    b.add_node(L.prefix() + (b.training() ? " fwd" : " infer") + b.tag(), {x, y}, {wsb},
               [=](const NodeContext& c) {
                 const Workspace ws = c.ws(wsb);
                 Conv2dArgs an = a;
                 an.n = c.rows();
                 // Fewer images must fit the workspace planned for the batch; otherwise run them all.
                 if (an.n != a.n && workspace_bytes(c.kind(), an) > ws.bytes) an.n = a.n;
                 LC_DISPATCH(c.kind(), conv2d_forward, an, c.f(x), w, bias, c.f(y), ws, c.stream());
               });
    return y;
  }

  Val backward(PlanBuilder& b, const LayerInfo& L, Val x, Val y, Val dy, const SavedBufs&,
               bool first) const override {
    const Conv2dArgs a = args(b, L);
    const float* w = b.param(L, 0);
    float *dw = b.grad(L, 0), *db = b.grad(L, 1);
    if (L.spec.elu) add_elu_backward(b, L, y, dy);
    const std::size_t wsbytes = workspace_bytes(b.kind(), a);
    const int wsw = b.add_buf(L.prefix() + ".bwd_w_ws", wsbytes);
    b.add_node(L.prefix() + " bwd weights" + b.tag(), {x, dy}, {wsw}, [=](const NodeContext& c) {
      LC_DISPATCH(c.kind(), conv2d_backward_weights, a, c.f(x), c.f(dy), dw, db, c.ws(wsw), c.stream());
    });
    if (first) return {};
    const Val dx = b.new_val(L.prefix() + ".dx", std::int64_t(a.n) * L.in.numel());
    const int wsd = b.add_buf(L.prefix() + ".bwd_d_ws", wsbytes);
    b.add_node(L.prefix() + " bwd data" + b.tag(), {dy, dx}, {wsd}, [=](const NodeContext& c) {
      LC_DISPATCH(c.kind(), conv2d_backward_data, a, c.f(dy), w, c.f(dx), c.ws(wsd), c.stream());
    });
    return dx;
  }

  // Row i of the output: the classes of input rows i-r .. i+r, padding outside.
  std::vector<int> flat_classes(FlatClassTable& t, const LayerInfo& L, const std::vector<int>& in) const override {
    const int n = int(in.size()), r = L.spec.kernel / 2;
    std::vector<int> out;
    for (int i = 0; i < n; ++i) {
      std::vector<int> key{L.index};
      for (int j = i - r; j <= i + r; ++j) key.push_back(j < 0 || j >= n ? FlatClassTable::kPad : in[std::size_t(j)]);
      out.push_back(t.id(std::move(key)));
    }
    return out;
  }
  bool flat_cut() const override { return true; }
};

}  // namespace

LC_DEFINE_LAYER_TYPE(Conv2d, conv2d_layer)

}  // namespace lc::layers

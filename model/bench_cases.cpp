// Op case tables of `landcover bench`, one per op family (see model/bench_cases.h).
// Depends on: model/bench_cases.h, every op contract under kernels/*/.
#include "model/bench_cases.h"

#include <cstdio>
#include <string>

#include "kernels/adam/adam.h"
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/common/check.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/dense/dense.h"
#include "kernels/dropout/dropout.h"
#include "kernels/elu/elu.h"
#include "kernels/maxpool/maxpool.h"
#include "kernels/softmax_ce/softmax_ce.h"

namespace lc::bench {
namespace {

#define LC_BENCH_CALL(impl, kind, fn, ...)        \
  do {                                            \
    if ((impl) == Impl::ref) {                    \
      ::lc::ref::fn(__VA_ARGS__);                 \
      return;                                     \
    }                                             \
    LC_DISPATCH(kind, fn, __VA_ARGS__);           \
  } while (0)

template <class T>
T* P(const Ptrs& p, std::size_t i) {
  return static_cast<T*>(p[i]);
}

Buf fbuf(std::string name, std::int64_t floats, Role role, Fill fill = Fill::uniform) {
  return Buf{std::move(name), std::size_t(floats) * 4, role, Type::f32, fill, 0};
}

const Tol elementwise{1e-6, 1e-5};
// Sums of up to R*S*C (576) products forward / backward-data, and of N*H*W (up to 2*64*64 at the
// validation batch) for weights and batch-norm reductions: FP32 reordering errors grow like
// sqrt(terms) * 2^-24 * |terms|; 1e-4 of the output's scale leaves a wide margin while a wrong
// index or a missing term (errors of order 1e-2 and up) still fails.
const Tol reduction{1e-4, 1e-3};

// ELU backward after a layer with a fused ELU (E elements).
OpCase elu_backward_case(const std::string& ln, std::int64_t E) {
  OpCase c;
  c.name = ln + " elu bwd", c.op = "elu_backward", c.type = "elu", c.train = true;
  c.flops = 2.0 * double(E), c.bytes = 12.0 * double(E), c.tol = elementwise;
  c.bufs = {fbuf("y", E, Role::in), fbuf("dy", E, Role::in), fbuf("dx", E, Role::out)};
  const EluArgs a{E};
  c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
    LC_BENCH_CALL(im, k, elu_backward, a, P<const float>(p, 0), P<const float>(p, 1), P<float>(p, 2), s);
  };
  return c;
}

void batchnorm_cases(std::vector<OpCase>& out, const LayerInfo& L, const std::string& ln, int n) {
  const BatchNormArgs a{n, L.in.h, L.in.w, L.in.c, L.spec.epsilon, L.spec.momentum};
  const std::int64_t C = L.in.c, E = a.elements();
  auto ws = [a](Impl im, BackendKind k) -> std::size_t {
    if (im == Impl::ref) return lc::ref::batchnorm_workspace_bytes(a);
    LC_DISPATCH(k, batchnorm_workspace_bytes, a);
  };
  {
    OpCase c;
    c.name = ln + " fwd", c.op = "batchnorm_forward_training", c.type = "batchnorm", c.train = true;
    c.flops = 7.0 * double(E), c.bytes = 4.0 * double(2 * E + 8 * C), c.tol = reduction, c.ws = ws;
    c.bufs = {fbuf("x", E, Role::in),          fbuf("gamma", C, Role::in, Fill::positive),
              fbuf("beta", C, Role::in),       fbuf("y", E, Role::out),
              fbuf("moving_mean", C, Role::inout), fbuf("moving_var", C, Role::inout, Fill::positive),
              fbuf("save_mean", C, Role::out), fbuf("save_inv_std", C, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
      LC_BENCH_CALL(im, k, batchnorm_forward_training, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<const float>(p, 2), P<float>(p, 3), P<float>(p, 4), P<float>(p, 5), P<float>(p, 6),
                    P<float>(p, 7), w, s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    c.name = ln + " infer", c.op = "batchnorm_forward_inference", c.type = "batchnorm", c.infer = true;
    c.flops = 2.0 * double(E), c.bytes = 4.0 * double(2 * E + 4 * C), c.tol = elementwise;
    c.bufs = {fbuf("x", E, Role::in), fbuf("gamma", C, Role::in, Fill::positive), fbuf("beta", C, Role::in),
              fbuf("moving_mean", C, Role::in), fbuf("moving_var", C, Role::in, Fill::positive),
              fbuf("y", E, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, batchnorm_forward_inference, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<const float>(p, 2), P<const float>(p, 3), P<const float>(p, 4), P<float>(p, 5), s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    c.name = ln + " bwd", c.op = "batchnorm_backward", c.type = "batchnorm", c.train = true;
    c.flops = 10.0 * double(E), c.bytes = 4.0 * double(3 * E + 5 * C), c.tol = reduction, c.ws = ws;
    c.bufs = {fbuf("x", E, Role::in),
              fbuf("dy", E, Role::in),
              fbuf("gamma", C, Role::in, Fill::positive),
              fbuf("save_mean", C, Role::in),
              fbuf("save_inv_std", C, Role::in, Fill::positive),
              fbuf("dx", E, Role::out),
              fbuf("dgamma", C, Role::out),
              fbuf("dbeta", C, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
      LC_BENCH_CALL(im, k, batchnorm_backward, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<const float>(p, 2), P<const float>(p, 3), P<const float>(p, 4), P<float>(p, 5),
                    P<float>(p, 6), P<float>(p, 7), w, s);
    };
    out.push_back(std::move(c));
  }
}

// The three passes with Conv2dArgs::version `version`, names ending in `tag`; only the `first`
// version's cases count in the step / inference sums and bring the ELU backward case.
void conv2d_cases(std::vector<OpCase>& out, const LayerInfo& L, const std::string& ln, int n, int version,
                  const std::string& tag, bool first) {
  const std::int64_t Eout = std::int64_t(n) * L.out.numel();
  Conv2dArgs a;
  a.n = n, a.h = L.in.h, a.w = L.in.w, a.c = L.in.c, a.k = L.spec.filters, a.r = a.s = L.spec.kernel;
  a.fuse_elu = L.spec.elu, a.version = version;
  const std::int64_t px = std::int64_t(n) * a.h * a.w, wsz = std::int64_t(a.k) * a.r * a.s * a.c;
  const double fl = 2.0 * double(px) * a.k * a.r * a.s * a.c;
  auto ws = [a](Impl im, BackendKind k) -> std::size_t {
    if (im == Impl::ref) return lc::ref::conv2d_workspace_bytes(a);
    LC_DISPATCH(k, conv2d_workspace_bytes, a);
  };
  {
    OpCase c;
    c.name = ln + " fwd" + tag, c.op = "conv2d_forward", c.type = "conv2d", c.train = c.infer = first;
    c.flops = fl, c.bytes = 4.0 * double(px * a.c + wsz + a.k + px * a.k), c.tol = reduction, c.ws = ws;
    c.bufs = {fbuf("x", px * a.c, Role::in), fbuf("w", wsz, Role::in), fbuf("b", a.k, Role::in),
              fbuf("y", px * a.k, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
      LC_BENCH_CALL(im, k, conv2d_forward, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<const float>(p, 2), P<float>(p, 3), w, s);
    };
    out.push_back(std::move(c));
  }
  if (L.spec.elu && first) out.push_back(elu_backward_case(ln, Eout));
  {
    OpCase c;
    c.name = ln + " bwd data" + tag, c.op = "conv2d_backward_data", c.type = "conv2d", c.train = first;
    c.flops = fl, c.bytes = 4.0 * double(px * a.k + wsz + px * a.c), c.tol = reduction, c.ws = ws;
    c.bufs = {fbuf("dz", px * a.k, Role::in), fbuf("w", wsz, Role::in), fbuf("dx", px * a.c, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
      LC_BENCH_CALL(im, k, conv2d_backward_data, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<float>(p, 2), w, s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    c.name = ln + " bwd weights" + tag, c.op = "conv2d_backward_weights", c.type = "conv2d", c.train = first;
    c.flops = fl, c.bytes = 4.0 * double(px * a.c + px * a.k + wsz + a.k), c.tol = reduction, c.ws = ws;
    c.bufs = {fbuf("x", px * a.c, Role::in), fbuf("dz", px * a.k, Role::in), fbuf("dw", wsz, Role::out),
              fbuf("db", a.k, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace w, stream_t s) {
      LC_BENCH_CALL(im, k, conv2d_backward_weights, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<float>(p, 2), P<float>(p, 3), w, s);
    };
    out.push_back(std::move(c));
  }
}

void maxpool_cases(std::vector<OpCase>& out, const LayerInfo& L, const std::string& ln, int n) {
  const std::int64_t Ein = std::int64_t(n) * L.in.numel(), Eout = std::int64_t(n) * L.out.numel();
  const MaxPoolArgs a{n, L.in.h, L.in.w, L.in.c};
  {
    OpCase c;
    c.name = ln + " fwd", c.op = "maxpool_forward", c.type = "maxpool", c.train = c.infer = true;
    c.flops = 3.0 * double(Eout), c.bytes = 4.0 * double(Ein + Eout) + double(Eout), c.tol = {0, 0};
    c.bufs = {fbuf("x", Ein, Role::in), fbuf("y", Eout, Role::out),
              Buf{"argmax", std::size_t(Eout), Role::out, Type::u8, Fill::zero, 0}};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, maxpool_forward, a, P<const float>(p, 0), P<float>(p, 1),
                    P<std::uint8_t>(p, 2), s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    c.name = ln + " bwd", c.op = "maxpool_backward", c.type = "maxpool", c.train = true;
    // Minimal traffic of the argmax path: argmax bytes and dy read, dx written.
    c.flops = 0, c.bytes = double(Eout) + 4.0 * double(Eout + Ein), c.tol = {0, 0};
    c.bufs = {fbuf("x", Ein, Role::in), fbuf("y", Eout, Role::in),
              Buf{"argmax", std::size_t(Eout), Role::in, Type::u8, Fill::zero, 0}, fbuf("dy", Eout, Role::in),
              fbuf("dx", Ein, Role::out)};
    // y and argmax must be those of x (cudnn recomputes the argmax from x and y).
    c.prepare = [a](const Ptrs& p) {
      lc::ref::maxpool_forward(a, P<const float>(p, 0), P<float>(p, 1), P<std::uint8_t>(p, 2), nullptr);
    };
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, maxpool_backward, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<const std::uint8_t>(p, 2), P<const float>(p, 3), P<float>(p, 4), s);
    };
    out.push_back(std::move(c));
  }
}

void dense_cases(std::vector<OpCase>& out, const LayerInfo& L, const std::string& ln, int n) {
  const std::int64_t Eout = std::int64_t(n) * L.out.numel();
  const DenseArgs a{n, L.in.c, L.out.c, L.spec.elu ? DenseActivation::elu : DenseActivation::none};
  const std::int64_t in = a.in, o = a.out;
  {
    OpCase c;
    c.name = ln + " fwd", c.op = "dense_forward", c.type = "dense", c.train = c.infer = true;
    c.flops = 2.0 * double(n) * double(in * o), c.bytes = 4.0 * double(n * in + in * o + o + n * o);
    c.tol = reduction;
    c.bufs = {fbuf("x", n * in, Role::in), fbuf("w", in * o, Role::in), fbuf("b", o, Role::in),
              fbuf("y", n * o, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, dense_forward, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<const float>(p, 2), P<float>(p, 3), s);
    };
    out.push_back(std::move(c));
  }
  if (L.spec.elu) out.push_back(elu_backward_case(ln, Eout));
  {
    OpCase c;
    c.name = ln + " bwd", c.op = "dense_backward", c.type = "dense", c.train = true;
    c.flops = 4.0 * double(n) * double(in * o);
    c.bytes = 4.0 * double(2 * n * in + 2 * in * o + n * o + o), c.tol = reduction;
    c.bufs = {fbuf("x", n * in, Role::in),   fbuf("w", in * o, Role::in),   fbuf("dy", n * o, Role::in),
              fbuf("dx", n * in, Role::out), fbuf("dw", in * o, Role::out), fbuf("db", o, Role::out)};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, dense_backward, a, P<const float>(p, 0), P<const float>(p, 1),
                    P<const float>(p, 2), P<float>(p, 3), P<float>(p, 4), P<float>(p, 5), s);
    };
    out.push_back(std::move(c));
  }
}

void dropout_cases(std::vector<OpCase>& out, const LayerInfo& L, const std::string& ln, int n) {
  const std::int64_t Eout = std::int64_t(n) * L.out.numel();
  DropoutArgs a;
  a.n = Eout, a.rate = L.spec.rate, a.seed = 42, a.stream = std::uint32_t(L.index), a.training = true;
  for (int pass = 0; pass < 2; ++pass) {
    OpCase c;
    c.name = ln + (pass ? " bwd" : " fwd"), c.op = pass ? "dropout_backward" : "dropout_forward";
    c.type = "dropout", c.train = true, c.tol = {0, 0};
    c.flops = double(Eout), c.bytes = 8.0 * double(Eout) + 8;
    c.bufs = {Buf{"step", 8, Role::in, Type::raw, Fill::step, 0}, fbuf("x", Eout, Role::in),
              fbuf("y", Eout, Role::out)};
    c.run = [a, pass](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      if (pass == 0)
        LC_BENCH_CALL(im, k, dropout_forward, a, P<const std::int64_t>(p, 0), P<const float>(p, 1),
                      P<float>(p, 2), s);
      else
        LC_BENCH_CALL(im, k, dropout_backward, a, P<const std::int64_t>(p, 0), P<const float>(p, 1),
                      P<float>(p, 2), s);
    };
    out.push_back(std::move(c));
  }
}

// The loss and the optimizer: softmax-CE (training), softmax-predict (inference), Adam.
void head_cases(std::vector<OpCase>& out, const std::vector<LayerInfo>& layers, int n, std::int64_t params) {
  const int classes = layers.back().out.c;
  const SoftmaxCeArgs sa{n, classes};
  const std::int64_t lg = std::int64_t(n) * classes;
  {
    OpCase c;
    c.name = "softmax_ce", c.op = "softmax_ce", c.type = "softmax_ce", c.train = true;
    c.flops = 6.0 * double(lg), c.bytes = 4.0 * double(2 * lg + 3 * n) + double(sizeof(SoftmaxCeTotals));
    c.tol = elementwise;
    c.bufs = {fbuf("logits", lg, Role::in), Buf{"labels", std::size_t(n) * 4, Role::in, Type::i32, Fill::labels, classes},
              fbuf("loss", n, Role::out), fbuf("dlogits", lg, Role::out),
              Buf{"pred", std::size_t(n) * 4, Role::out, Type::i32, Fill::zero, 0},
              // Totals accumulate in double in an implementation-defined order: not compared.
              Buf{"totals", sizeof(SoftmaxCeTotals), Role::inout, Type::raw, Fill::zero, 0}};
    c.run = [sa](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, softmax_ce, sa, P<const float>(p, 0), P<const std::int32_t>(p, 1), P<float>(p, 2),
                    P<float>(p, 3), P<std::int32_t>(p, 4), P<SoftmaxCeTotals>(p, 5), s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    c.name = "softmax_predict", c.op = "softmax_predict", c.type = "softmax_ce", c.infer = true;
    c.flops = 4.0 * double(lg), c.bytes = 4.0 * double(2 * lg + n), c.tol = elementwise;
    c.bufs = {fbuf("logits", lg, Role::in), fbuf("probs", lg, Role::out),
              Buf{"pred", std::size_t(n) * 4, Role::out, Type::i32, Fill::zero, 0}};
    c.run = [sa](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, softmax_predict, sa, P<const float>(p, 0), P<float>(p, 1), P<std::int32_t>(p, 2), s);
    };
    out.push_back(std::move(c));
  }
  {
    OpCase c;
    AdamArgs a;
    a.n = params;
    c.name = "adam", c.op = "adam_update", c.type = "adam", c.train = true;
    c.flops = 12.0 * double(params), c.bytes = 28.0 * double(params), c.tol = elementwise;
    c.bufs = {fbuf("params", params, Role::inout), fbuf("grads", params, Role::in),
              fbuf("m", params, Role::inout), fbuf("v", params, Role::inout, Fill::positive),
              Buf{"state", sizeof(AdamState), Role::inout, Type::raw, Fill::adam_state, 0}};
    c.run = [a](Impl im, BackendKind k, const Ptrs& p, Workspace, stream_t s) {
      LC_BENCH_CALL(im, k, adam_update, a, P<float>(p, 0), P<const float>(p, 1), P<float>(p, 2), P<float>(p, 3),
                    P<AdamState>(p, 4), s);
    };
    out.push_back(std::move(c));
  }
}

}  // namespace

std::vector<OpCase> model_cases(const std::vector<LayerInfo>& layers, int n, std::int64_t params,
                                const std::vector<int>& conv_versions) {
  for (const int v : conv_versions)
    LC_CHECK(v >= 0 && v <= kConv2dMaxVersion, "bench: conv2d version ", v, " does not exist (0..",
             kConv2dMaxVersion, ")");
  std::vector<OpCase> out;
  for (const LayerInfo& L : layers) {
    char lname[32];
    std::snprintf(lname, sizeof lname, "L%02d %s", L.index, L.type_name());
    const std::string ln = lname, type = L.type_name();
    const std::size_t first = out.size();
    if (type == "batchnorm")
      batchnorm_cases(out, L, ln, n);
    else if (type == "conv2d" && conv_versions.empty())
      conv2d_cases(out, L, ln, n, kConv2dAuto, "", true);
    else if (type == "conv2d")
      for (std::size_t i = 0; i < conv_versions.size(); ++i)
        conv2d_cases(out, L, ln, n, conv_versions[i], " v" + std::to_string(conv_versions[i]), i == 0);
    else if (type == "maxpool")
      maxpool_cases(out, L, ln, n);
    else if (type == "dense")
      dense_cases(out, L, ln, n);
    else if (type == "dropout")
      dropout_cases(out, L, ln, n);
    // flatten: no kernel, NHWC memory is the flat vector
    for (std::size_t i = first; i < out.size(); ++i)
      out[i].n = n, out[i].h = L.in.h, out[i].w = L.in.w, out[i].c = L.in.c;
  }
  head_cases(out, layers, n, params);
  return out;
}

bool selected(const OpCase& c, const std::vector<std::string>& ops) {
  if (ops.empty()) return true;
  for (const std::string& o : ops)
    if (o == c.op || o == c.type || c.name.find(o) != std::string::npos) return true;
  return false;
}

}  // namespace lc::bench

// 2-D convolution on the cudnn backend (contract: conv2d.h): cuDNN's legacy convolution API on
// the same NHWC buffers (NHWC tensor descriptors, a KRSC = CUDNN_TENSOR_NHWC filter), FP32 with
// CUDNN_FMA_MATH (no TF32). Forward is cudnnConvolutionBiasActivationForward (bias fused, identity
// activation) where the chosen algorithm is IMPLICIT_PRECOMP_GEMM and cuDNN accepts it, else
// cudnnConvolutionForward + cudnnAddTensor; then lc::cudnn::elu_forward in place (cuDNN's fused
// call has no ELU). Backward is cudnnConvolutionBackwardData / BackwardFilter / BackwardBias.
// Algorithms: chosen once per shape by measurement (cudnnFind*Algorithm; the cudnnGet*_v7
// heuristics where measuring fails): the fastest FMA candidate (for backward, the fastest
// deterministic one, or with a note a non-deterministic one where none is) whose workspace query
// cuDNN accepts, trying candidates in order (a note on stderr when the first is rejected), cached
// in a map keyed by the shape; the workspace each needs comes from cudnnGet*WorkspaceSize, and
// conv2d_workspace_bytes returns the largest of the three (it needs the GPU to ask cuDNN). The
// choice is made before any CUDA Graph capture: at conv2d_workspace_bytes (network construction)
// or the first, eager, call.
// Conv2dArgs::version is validated and otherwise ignored (it selects custom kernels).
// Depends on: conv2d.h, kernels/elu/elu.h, kernels/common/cudnn_context.h.
#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "kernels/common/cudnn_context.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/elu/elu.h"

namespace lc::cudnn {

namespace {

// The descriptors of one convolution.
struct ConvDescs {
  TensorDesc x, y, bias;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  explicit ConvDescs(const Conv2dArgs& a) {
    x.set_nhwc(a.n, a.h, a.w, a.c);
    y.set_nhwc(a.n, a.h, a.w, a.k);
    bias.set_nhwc(1, 1, 1, a.k);
    LC_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    LC_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, a.k, a.c, a.r, a.s));
    LC_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    LC_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, (a.r - 1) / 2, (a.s - 1) / 2, 1, 1, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    LC_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
  }
  ~ConvDescs() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
  }
  ConvDescs(const ConvDescs&) = delete;
  ConvDescs& operator=(const ConvDescs&) = delete;
};

struct Algos {
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t data{};
  cudnnConvolutionBwdFilterAlgo_t filter{};
  std::size_t fwd_bytes = 0, data_bytes = 0, filter_bytes = 0;
  int fused_bias = -1;  // cudnnConvolutionBiasActivationForward accepted: -1 not yet tried, 0 no, 1 yes
};

// Candidates in cuDNN's order (fastest measured first for Find, best guess first for Get), with
// the ones to try: status success, deterministic when asked, FMA math first (entries reported
// with the default math type after them; they still run under the descriptor's CUDNN_FMA_MATH).
template <class Perf>
std::vector<Perf> usable(const std::vector<Perf>& perf, int count, bool deterministic) {
  std::vector<Perf> out;
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < count; ++i) {
      const Perf& p = perf[std::size_t(i)];
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      if (p.mathType == (pass == 0 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH)) out.push_back(p);
    }
  return out;
}

// The first candidate whose workspace query cuDNN accepts; a note on stderr when it is not the
// first, an error naming the pass when none is.
template <class Perf, class Algo, class Query>
void take_first(const std::vector<Perf>& cands, const char* what, Algo& algo, std::size_t& bytes, Query query) {
  for (std::size_t i = 0; i < cands.size(); ++i) {
    std::size_t b = 0;
    const cudnnStatus_t st = query(cands[i].algo, &b);
    if (st != CUDNN_STATUS_SUCCESS) continue;
    if (i > 0)
      std::fprintf(stderr, "note: conv2d (cudnn): %zu %s algorithm(s) rejected for this shape, using algorithm %d\n",
                   i, what, int(cands[i].algo));
    algo = cands[i].algo, bytes = b;
    return;
  }
  LC_FAIL("conv2d (cudnn): no usable ", what, " algorithm among ", cands.size(),
          " candidate(s) (FMA or default math; cuDNN rejected every workspace query)");
}

// Measured candidates (cudnnFind*, which times every algorithm on scratch buffers it allocates),
// or cuDNN's heuristics (cudnnGet*_v7) where measuring fails or yields none. Where no
// deterministic candidate exists, the non-deterministic ones, with a note (the cudnn backend's
// training is then not bit-reproducible for this shape).
template <class Perf, class Find, class Get>
std::vector<Perf> candidates(int max_count, bool deterministic, const char* what, Find find, Get get) {
  std::vector<Perf> found(std::size_t(std::max(1, max_count))), guessed(found.size());
  int nf = 0, ng = 0;
  if (find(int(found.size()), &nf, found.data()) != CUDNN_STATUS_SUCCESS) nf = 0;
  LC_CUDNN_CHECK(get(int(guessed.size()), &ng, guessed.data()));
  for (const bool det : {deterministic, false}) {
    auto c = usable(found, nf, det);
    if (c.empty()) c = usable(guessed, ng, det);
    if (c.empty()) continue;
    if (det != deterministic)
      std::fprintf(stderr, "note: conv2d (cudnn): no deterministic %s algorithm for this shape, using a "
                           "non-deterministic one\n", what);
    return c;
  }
  return {};
}

Algos choose(const ConvDescs& d, cudnnHandle_t h) {
  Algos al;
  int mc = 0;
  LC_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &mc));
  take_first(candidates<cudnnConvolutionFwdAlgoPerf_t>(
                 mc, false, "forward",
                 [&](int n, int* c, cudnnConvolutionFwdAlgoPerf_t* p) {
                   return cudnnFindConvolutionForwardAlgorithm(h, d.x.d, d.w, d.conv, d.y.d, n, c, p);
                 },
                 [&](int n, int* c, cudnnConvolutionFwdAlgoPerf_t* p) {
                   return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w, d.conv, d.y.d, n, c, p);
                 }),
             "forward", al.fwd, al.fwd_bytes, [&](cudnnConvolutionFwdAlgo_t a, std::size_t* b) {
               return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.d, d.w, d.conv, d.y.d, a, b);
             });
  LC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &mc));
  take_first(candidates<cudnnConvolutionBwdDataAlgoPerf_t>(
                 mc, true, "backward data",
                 [&](int n, int* c, cudnnConvolutionBwdDataAlgoPerf_t* p) {
                   return cudnnFindConvolutionBackwardDataAlgorithm(h, d.w, d.y.d, d.conv, d.x.d, n, c, p);
                 },
                 [&](int n, int* c, cudnnConvolutionBwdDataAlgoPerf_t* p) {
                   return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y.d, d.conv, d.x.d, n, c, p);
                 }),
             "backward data", al.data, al.data_bytes, [&](cudnnConvolutionBwdDataAlgo_t a, std::size_t* b) {
               return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y.d, d.conv, d.x.d, a, b);
             });
  LC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &mc));
  take_first(candidates<cudnnConvolutionBwdFilterAlgoPerf_t>(
                 mc, true, "backward filter",
                 [&](int n, int* c, cudnnConvolutionBwdFilterAlgoPerf_t* p) {
                   return cudnnFindConvolutionBackwardFilterAlgorithm(h, d.x.d, d.y.d, d.conv, d.w, n, c, p);
                 },
                 [&](int n, int* c, cudnnConvolutionBwdFilterAlgoPerf_t* p) {
                   return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv, d.w, n, c, p);
                 }),
             "backward filter", al.filter, al.filter_bytes,
             [&](cudnnConvolutionBwdFilterAlgo_t a, std::size_t* b) {
               return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.d, d.y.d, d.conv, d.w, a, b);
             });
  return al;
}

using Key = std::tuple<int, int, int, int, int, int, int>;
Key key_of(const Conv2dArgs& a) { return Key{a.n, a.h, a.w, a.c, a.k, a.r, a.s}; }
std::mutex g_mu;
std::map<Key, Algos>& cache() {
  static std::map<Key, Algos> c;
  return c;
}

// Algorithms per shape, chosen once (outside any CUDA Graph capture: the first step runs eagerly).
Algos algos_for(const Conv2dArgs& a, const ConvDescs& d, cudnnHandle_t h) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = cache().find(key_of(a));
  if (it == cache().end()) it = cache().emplace(key_of(a), choose(d, h)).first;
  return it->second;
}

void set_fused(const Conv2dArgs& a, bool ok) {
  std::lock_guard<std::mutex> lock(g_mu);
  cache()[key_of(a)].fused_bias = ok ? 1 : 0;
}

void check_workspace(const Workspace& ws, std::size_t need, const char* fn) {
  LC_CHECK(ws.bytes >= need && (need == 0 || ws.ptr != nullptr), fn, " (cudnn): workspace of ", ws.bytes,
           " bytes, cuDNN needs ", need, " (conv2d_workspace_bytes)");
}

}  // namespace

std::size_t conv2d_workspace_bytes(const Conv2dArgs& a) {
  conv2d_check_args(a, "conv2d_workspace_bytes (cudnn)");
  const ConvDescs d(a);
  const Algos al = algos_for(a, d, handle(nullptr));
  std::size_t b = std::max(al.fwd_bytes, std::max(al.data_bytes, al.filter_bytes));
  return (b + 255) / 256 * 256;
}

void conv2d_forward(const Conv2dArgs& a, const float* x, const float* wt, const float* b, float* y, Workspace ws,
                    stream_t stream) {
  conv2d_check_args(a, "conv2d_forward (cudnn)");
  cudnnHandle_t h = handle(stream);
  const ConvDescs d(a);
  const Algos al = algos_for(a, d, h);
  check_workspace(ws, al.fwd_bytes, "conv2d_forward");
  const float one = 1.f, zero = 0.f;
  // Bias fused into the convolution where cuDNN offers it: cudnnConvolutionBiasActivationForward
  // with the identity activation, which cuDNN runs only with IMPLICIT_PRECOMP_GEMM (z = y with
  // alpha2 = 0). Whether cuDNN accepts it for this shape is learnt on the first (eager) call.
  if (b && al.fwd == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM && al.fused_bias != 0) {
    cudnnActivationDescriptor_t act;
    LC_CUDNN_CHECK(cudnnCreateActivationDescriptor(&act));
    cudnnStatus_t st = cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_IDENTITY, CUDNN_PROPAGATE_NAN, 0.0);
    if (st == CUDNN_STATUS_SUCCESS)
      st = cudnnConvolutionBiasActivationForward(h, &one, d.x.d, x, d.w, wt, d.conv, al.fwd, ws.ptr, ws.bytes, &zero,
                                                 d.y.d, y, d.bias.d, b, act, d.y.d, y);
    cudnnDestroyActivationDescriptor(act);
    if (al.fused_bias < 0) set_fused(a, st == CUDNN_STATUS_SUCCESS);
    if (st == CUDNN_STATUS_SUCCESS) {
      if (a.fuse_elu) elu_forward(EluArgs{(std::int64_t)a.n * a.h * a.w * a.k}, y, y, stream);
      return;
    }
    LC_CHECK(al.fused_bias < 0, "conv2d_forward (cudnn): fused bias failed after succeeding: ",
             cudnnGetErrorString(st));
  }
  LC_CUDNN_CHECK(cudnnConvolutionForward(h, &one, d.x.d, x, d.w, wt, d.conv, al.fwd, ws.ptr, ws.bytes, &zero, d.y.d, y));
  if (b) LC_CUDNN_CHECK(cudnnAddTensor(h, &one, d.bias.d, b, &one, d.y.d, y));
  if (a.fuse_elu) elu_forward(EluArgs{(std::int64_t)a.n * a.h * a.w * a.k}, y, y, stream);
}

void conv2d_backward_data(const Conv2dArgs& a, const float* dz, const float* wt, float* dx, Workspace ws,
                          stream_t stream) {
  conv2d_check_args(a, "conv2d_backward_data (cudnn)");
  if (!dx) return;
  cudnnHandle_t h = handle(stream);
  const ConvDescs d(a);
  const Algos al = algos_for(a, d, h);
  check_workspace(ws, al.data_bytes, "conv2d_backward_data");
  const float one = 1.f, zero = 0.f;
  LC_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, d.w, wt, d.y.d, dz, d.conv, al.data, ws.ptr, ws.bytes, &zero,
                                              d.x.d, dx));
}

void conv2d_backward_weights(const Conv2dArgs& a, const float* x, const float* dz, float* dw, float* db,
                             Workspace ws, stream_t stream) {
  conv2d_check_args(a, "conv2d_backward_weights (cudnn)");
  LC_CHECK(dw || db, "conv2d_backward_weights (cudnn): dw and db are both null");
  cudnnHandle_t h = handle(stream);
  const ConvDescs d(a);
  const float one = 1.f, zero = 0.f;
  if (dw) {
    const Algos al = algos_for(a, d, h);
    check_workspace(ws, al.filter_bytes, "conv2d_backward_weights");
    LC_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, d.x.d, x, d.y.d, dz, d.conv, al.filter, ws.ptr, ws.bytes,
                                                  &zero, d.w, dw));
  }
  if (db) LC_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, d.y.d, dz, &zero, d.bias.d, db));
}

}  // namespace lc::cudnn

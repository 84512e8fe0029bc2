// 2-D convolution on the cudnn backend (contract: conv2d.h): cuDNN's legacy convolution API on
// the same NHWC buffers (NHWC tensor descriptors, a KRSC = CUDNN_TENSOR_NHWC filter), FP32 with
// CUDNN_FMA_MATH (no TF32). Forward is cudnnConvolutionForward + cudnnAddTensor (bias) +
// lc::cudnn::elu_forward in place (cudnnConvolutionBiasActivationForward has no ELU);
// backward is cudnnConvolutionBackwardData / BackwardFilter / BackwardBias.
// Algorithms: chosen once per shape with the cudnnGet*Algorithm_v7 heuristics (the first FMA
// algorithm that succeeds; for backward, the first deterministic one) and cached in a map keyed
// by the shape; the workspace each needs comes from cudnnGet*WorkspaceSize, and
// conv2d_workspace_bytes returns the largest of the three (it needs the GPU to ask cuDNN).
// Conv2dArgs::version is validated and otherwise ignored (it selects custom kernels).
// Depends on: conv2d.h, kernels/elu/elu.h, kernels/common/cudnn_context.h.
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
};

// The first usable entry of a v7 heuristic list: status success, FMA math (entries reported with
// the default math type are taken only when no FMA entry exists; they still run under the
// descriptor's CUDNN_FMA_MATH), and deterministic when asked.
template <class Perf>
int pick(const std::vector<Perf>& perf, int count, bool deterministic, const char* what) {
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < count; ++i) {
      const Perf& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      if (p.mathType == (pass == 0 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH)) return i;
    }
  LC_FAIL("conv2d (cudnn): no usable ", what, " algorithm", deterministic ? " (deterministic, FMA math)" : " (FMA math)");
}

Algos choose(const ConvDescs& d, cudnnHandle_t h) {
  Algos al;
  int max_count = 0, count = 0;
  {
    LC_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(std::max(1, max_count));
    LC_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w, d.conv, d.y.d, int(perf.size()), &count,
                                                          perf.data()));
    al.fwd = perf[pick(perf, count, false, "forward")].algo;
    LC_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x.d, d.w, d.conv, d.y.d, al.fwd, &al.fwd_bytes));
  }
  {
    LC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(std::max(1, max_count));
    LC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y.d, d.conv, d.x.d, int(perf.size()), &count,
                                                               perf.data()));
    al.data = perf[pick(perf, count, true, "backward data")].algo;
    LC_CUDNN_CHECK(
        cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y.d, d.conv, d.x.d, al.data, &al.data_bytes));
  }
  {
    LC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(std::max(1, max_count));
    LC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv, d.w, int(perf.size()),
                                                                 &count, perf.data()));
    al.filter = perf[pick(perf, count, true, "backward filter")].algo;
    LC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.d, d.y.d, d.conv, d.w, al.filter,
                                                                  &al.filter_bytes));
  }
  return al;
}

// Algorithms per shape, chosen once.
Algos algos_for(const Conv2dArgs& a, const ConvDescs& d, cudnnHandle_t h) {
  using Key = std::tuple<int, int, int, int, int, int, int>;
  static std::mutex mu;
  static std::map<Key, Algos> cache;
  const Key key{a.n, a.h, a.w, a.c, a.k, a.r, a.s};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, choose(d, h)).first;
  return it->second;
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

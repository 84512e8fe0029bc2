// 2-D convolution, the contract: stride 1, padding `same`, odd filter sizes, any channel counts.
//
// Layouts (docs/ARCHITECTURE.md): activations NHWC, float32, densely packed; weights KRSC
// ([out k][row r][col s][in c], cuDNN's NHWC filter format); bias [k].
//   x  [n][h][w][c]      input
//   wt [k][r][s][c]      filter
//   b  [k]               bias (nullptr: no bias)
//   y  [n][h][w][k]      output (same h, w as the input)
//
// Formula (cross-correlation, like Keras and cuDNN's CUDNN_CROSS_CORRELATION), with
// ph = (r - 1) / 2, pw = (s - 1) / 2 and x = 0 outside the image:
//   z[n,i,j,k] = b[k] + sum_{u<r, v<s, ch<c} x[n, i+u-ph, j+v-pw, ch] * wt[k,u,v,ch]
//   y = z                    (fuse_elu false)
//   y = elu(z)               (fuse_elu true; ELU alpha 1: z > 0 ? z : expm1(z), kernels/elu/elu.h)
// With the ELU fused, y is the post-activation output: kernels/elu/elu.h's backward reads y, so
// the pre-activation z need not be kept.
//
// Backward takes dz, the gradient of the loss with respect to the PRE-activation z. With the
// ELU fused, the caller first runs elu_backward(y, dy) -> dz (in place is fine); fuse_elu is
// ignored by the backward functions. Backward saves nothing from the forward: it needs x and wt.
//   dx[n,p,q,ch] = sum_{k,u,v} dz[n, p-u+ph, q-v+pw, k] * wt[k,u,v,ch]   (dz = 0 outside)
//                = the forward convolution of dz with the flipped, transposed filter
//                  wt'[ch][u'][v'][k] = wt[k][r-1-u'][s-1-v'][ch] (same padding), no bias
//   dw[k,u,v,ch] = sum_{n,i,j} dz[n,i,j,k] * x[n, i+u-ph, j+v-pw, ch]
//   db[k]        = sum_{n,i,j} dz[n,i,j,k]
// Every output is overwritten (never accumulated into). dx, dw and db may be nullptr to skip
// that gradient (dw and db: at least one of them). Outputs must not alias inputs.
//
// Determinism: dw and db of every implementation here except cudnn's are bitwise reproducible
// run to run for the same arguments (no float atomics: the cuda/sim split-K partial sums are
// reduced in a fixed order by a second pass; the cpu path's per-thread partials are summed in
// thread order, so it is reproducible for a fixed OpenMP thread count). cudnn picks
// deterministic algorithms (CUDNN_DETERMINISTIC) for backward data and filter.
//
// Versions (Conv2dArgs::version) select the custom kernel set of lc::sim and lc::cuda; lc::ref,
// lc::cpu and lc::cudnn check the value and otherwise ignore it. conv2d_version_for() says which
// kernel `auto` picks:
//   0 auto                 per shape and pass, see conv2d_version_for
//   1 direct               one thread per output element, all reads from global memory; dw:
//                          one thread per weight, serial sum over n*h*w (no workspace)
//   2 implicit GEMM        tiled shared-memory GEMM that never materialises im2col: forward
//                          M = n*h*w pixels x N = k channels x K = r*s*c, register micro-tiles,
//                          float4 loads when c % 4 == 0; backward data = the same kernel on dz
//                          with the flipped, transposed filter (written to the workspace);
//                          dw/db = split-K GEMM (k x (r*s*c + 1) over n*h*w, the extra column
//                          of ones gives db) into workspace partials + a fixed-order reduction
//   3 small-channel direct  for the first layer's poor GEMM shape (c = 3, 5x5, k = 16): input
//                          tile + halo in shared memory, the filter in shared memory, every
//                          thread 2 pixels x 16 (or 4) output channels in registers; channels
//                          processed in chunks, so it is correct for any shape. Backward data
//                          uses it on the transposed filter. dw/db have no version 3 kernel:
//                          version 3 runs version 2's split-K GEMM for them.
//
// Workspace: conv2d_workspace_bytes(a) in each implementation namespace is enough for all three
// passes with the same arguments (a.version resolved per pass); pass a Workspace of at least
// that size (ptr may be null when it is 0) on the implementation's memory (device memory for
// cuda/cudnn, host memory for ref/cpu/sim).
//   ref    0.
//   sim, cuda  max of: backward data v2/v3, the transposed filter (r*s*c*k floats); dw/db v2/v3,
//          the split-K partials (splits * k * (r*s*c + 1) floats, splits from the shape only).
//   cpu    a transposed copy of the filter (r*s*c*k floats, for backward data with c >= 8 and
//          for the direct paths) plus, per OpenMP thread, an im2col / column block (the wide
//          direct path keeps its zero-padded input rows there)
//          and dw and db partials; the number of threads a call uses is
//          min(omp_get_max_threads(), what the workspace holds), so a workspace sized with more
//          threads than are later available still works (results are reproducible for a fixed
//          thread count).
//   cudnn  the largest cudnnGet*WorkspaceSize of the three cached algorithms (needs the GPU).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/impls.h"

namespace lc {

struct Conv2dArgs {
  int n = 0, h = 0, w = 0, c = 0;  // input NHWC: batch, height, width, channels
  int k = 0;                       // output channels
  int r = 3, s = 3;                // filter height and width, odd
  bool fuse_elu = false;           // forward: y = elu(z) (backward ignores it, see above)
  int version = 0;                 // sim/cuda kernel set: 0 auto, 1 direct, 2 implicit GEMM, 3 small-channel
};

inline constexpr int kConv2dAuto = 0;
inline constexpr int kConv2dDirect = 1;
inline constexpr int kConv2dImplicitGemm = 2;
inline constexpr int kConv2dSmallChannel = 3;
inline constexpr int kConv2dMaxVersion = 3;

enum class Conv2dPass { forward, backward_data, backward_weights };

// Throws lc::Error naming `fn` unless the arguments describe a valid convolution: positive
// sizes, odd r and s, version in 0..3, and n*h*w*max(c, k) and k*r*s*c below 2^31 elements
// per tensor dimension product (indices inside one image and one filter fit in int).
inline void conv2d_check_args(const Conv2dArgs& a, const char* fn) {
  LC_CHECK(a.n > 0 && a.h > 0 && a.w > 0 && a.c > 0 && a.k > 0, fn, ": sizes must be positive (n ", a.n,
           ", h ", a.h, ", w ", a.w, ", c ", a.c, ", k ", a.k, ")");
  LC_CHECK(a.r > 0 && a.s > 0 && a.r % 2 == 1 && a.s % 2 == 1, fn, ": filter ", a.r, "x", a.s,
           " must have odd sizes (padding same)");
  LC_CHECK(a.version >= 0 && a.version <= kConv2dMaxVersion, fn, ": unknown version ", a.version,
           " (0 auto, 1 direct, 2 implicit GEMM, 3 small-channel)");
  const std::int64_t px = std::int64_t(a.h) * a.w;
  const std::int64_t ch = a.c > a.k ? a.c : a.k;
  LC_CHECK(px * ch < (std::int64_t(1) << 31), fn, ": one image of ", a.h, "x", a.w, "x", ch,
           " is too large");
  LC_CHECK(std::int64_t(a.k) * a.r * a.s * a.c < (std::int64_t(1) << 31), fn, ": filter too large");
  LC_CHECK(std::int64_t(a.n) * px < (std::int64_t(1) << 31), fn, ": more than 2^31 pixels in a batch");
}

// The custom kernel (1, 2 or 3) that lc::sim / lc::cuda run for a pass: a.version when it is
// not 0 (except that backward_weights runs 2 for version 3), else the automatic choice:
//   forward          3 when c <= 4 and k <= 32 (the first layer), else 2
//   backward_data    3 when c <= 4 (few outputs per pixel: a GEMM with N = c is mostly empty), else 2
//   backward_weights 2
inline int conv2d_version_for(const Conv2dArgs& a, Conv2dPass pass) {
  if (pass == Conv2dPass::backward_weights) return a.version == kConv2dDirect ? kConv2dDirect : kConv2dImplicitGemm;
  if (a.version != kConv2dAuto) return a.version;
  if (pass == Conv2dPass::forward) return (a.c <= 4 && a.k <= 32) ? kConv2dSmallChannel : kConv2dImplicitGemm;
  return a.c <= 4 ? kConv2dSmallChannel : kConv2dImplicitGemm;
}

}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  // Bytes of workspace enough for every pass of `a` (see above).
  std::size_t conv2d_workspace_bytes(const Conv2dArgs& a);
  // y = [elu](conv(x, wt) + b).
  void conv2d_forward(const Conv2dArgs& a, const float* x, const float* wt, const float* b, float* y,
                      Workspace ws, stream_t stream);
  // dx from dz (the pre-activation gradient).
  void conv2d_backward_data(const Conv2dArgs& a, const float* dz, const float* wt, float* dx,
                            Workspace ws, stream_t stream);
  // dw and db from x and dz; either may be nullptr.
  void conv2d_backward_weights(const Conv2dArgs& a, const float* x, const float* dz, float* dw, float* db,
                               Workspace ws, stream_t stream);
)

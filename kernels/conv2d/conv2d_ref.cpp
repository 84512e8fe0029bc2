// 2-D convolution reference (contract: conv2d.h): the formulas of the contract as naive loops,
// accumulating in double, rounding once to float. The truth in tests; no cleverness.
// Depends on: conv2d.h.
#include <cmath>

#include "kernels/conv2d/conv2d.h"

namespace lc::ref {

namespace {
inline std::int64_t at4(int d1, int d2, int d3, int i0, int i1, int i2, int i3) {
  return ((std::int64_t(i0) * d1 + i1) * d2 + i2) * d3 + i3;
}
}  // namespace

std::size_t conv2d_workspace_bytes(const Conv2dArgs& a) {
  conv2d_check_args(a, "conv2d_workspace_bytes (ref)");
  return 0;
}

void conv2d_forward(const Conv2dArgs& a, const float* x, const float* wt, const float* b, float* y, Workspace,
                    stream_t) {
  conv2d_check_args(a, "conv2d_forward (ref)");
  const int ph = (a.r - 1) / 2, pw = (a.s - 1) / 2;
  for (int n = 0; n < a.n; ++n)
    for (int i = 0; i < a.h; ++i)
      for (int j = 0; j < a.w; ++j)
        for (int k = 0; k < a.k; ++k) {
          double z = b ? double(b[k]) : 0.0;
          for (int u = 0; u < a.r; ++u) {
            const int ii = i + u - ph;
            if (ii < 0 || ii >= a.h) continue;
            for (int v = 0; v < a.s; ++v) {
              const int jj = j + v - pw;
              if (jj < 0 || jj >= a.w) continue;
              for (int ch = 0; ch < a.c; ++ch)
                z += double(x[at4(a.h, a.w, a.c, n, ii, jj, ch)]) * double(wt[at4(a.r, a.s, a.c, k, u, v, ch)]);
            }
          }
          if (a.fuse_elu && !(z > 0.0)) z = std::expm1(z);
          y[at4(a.h, a.w, a.k, n, i, j, k)] = float(z);
        }
}

void conv2d_backward_data(const Conv2dArgs& a, const float* dz, const float* wt, float* dx, Workspace,
                          stream_t) {
  conv2d_check_args(a, "conv2d_backward_data (ref)");
  if (!dx) return;
  const int ph = (a.r - 1) / 2, pw = (a.s - 1) / 2;
  for (int n = 0; n < a.n; ++n)
    for (int p = 0; p < a.h; ++p)
      for (int q = 0; q < a.w; ++q)
        for (int ch = 0; ch < a.c; ++ch) {
          double g = 0.0;
          for (int u = 0; u < a.r; ++u) {
            const int i = p - u + ph;
            if (i < 0 || i >= a.h) continue;
            for (int v = 0; v < a.s; ++v) {
              const int j = q - v + pw;
              if (j < 0 || j >= a.w) continue;
              for (int k = 0; k < a.k; ++k)
                g += double(dz[at4(a.h, a.w, a.k, n, i, j, k)]) * double(wt[at4(a.r, a.s, a.c, k, u, v, ch)]);
            }
          }
          dx[at4(a.h, a.w, a.c, n, p, q, ch)] = float(g);
        }
}

void conv2d_backward_weights(const Conv2dArgs& a, const float* x, const float* dz, float* dw, float* db,
                             Workspace, stream_t) {
  conv2d_check_args(a, "conv2d_backward_weights (ref)");
  LC_CHECK(dw || db, "conv2d_backward_weights (ref): dw and db are both null");
  const int ph = (a.r - 1) / 2, pw = (a.s - 1) / 2;
  for (int k = 0; k < a.k; ++k) {
    if (db) {
      double g = 0.0;
      for (int n = 0; n < a.n; ++n)
        for (int i = 0; i < a.h; ++i)
          for (int j = 0; j < a.w; ++j) g += double(dz[at4(a.h, a.w, a.k, n, i, j, k)]);
      db[k] = float(g);
    }
    if (!dw) continue;
    for (int u = 0; u < a.r; ++u)
      for (int v = 0; v < a.s; ++v)
        for (int ch = 0; ch < a.c; ++ch) {
          double g = 0.0;
          for (int n = 0; n < a.n; ++n)
            for (int i = 0; i < a.h; ++i) {
              const int ii = i + u - ph;
              if (ii < 0 || ii >= a.h) continue;
              for (int j = 0; j < a.w; ++j) {
                const int jj = j + v - pw;
                if (jj < 0 || jj >= a.w) continue;
                g += double(dz[at4(a.h, a.w, a.k, n, i, j, k)]) * double(x[at4(a.h, a.w, a.c, n, ii, jj, ch)]);
              }
            }
          dw[at4(a.r, a.s, a.c, k, u, v, ch)] = float(g);
        }
  }
}

}  // namespace lc::ref

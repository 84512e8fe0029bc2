// Dense layer on the host for the cpu backend (contract: dense.h): the three products are
// cblas_sgemm calls (OpenBLAS, row-major, single-threaded: kernels/common/blas_threads.h); bias,
// ELU and the bias gradient are OpenMP loops.
#include <cblas.h>

#include <cmath>
#include <climits>

#include "kernels/common/blas_threads.h"
#include "kernels/dense/dense.h"

namespace lc::cpu {

namespace {
void check_args(const DenseArgs& a, const char* what) {
  LC_CHECK(a.n >= 0 && a.n <= INT_MAX && a.in > 0 && a.out > 0, what, ": bad shape n=", a.n, " in=", a.in,
           " out=", a.out);
}
}  // namespace

void dense_forward(const DenseArgs& a, const float* x, const float* w, const float* b, float* y, stream_t) {
  check_args(a, "dense_forward (cpu)");
  if (a.n == 0) return;
  const int n = int(a.n);
  BlasSingleThread single;
  // y = x W (beta 0), then bias and ELU per element.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, a.out, a.in, 1.f, x, a.in, w, a.out, 0.f, y, a.out);
  const bool elu = a.activation == DenseActivation::elu;
  if (!b && !elu) return;
#pragma omp parallel for if (a.n * a.out > 16384) schedule(static)
  for (std::int64_t r = 0; r < a.n; ++r) {
    float* row = y + r * a.out;
    for (int o = 0; o < a.out; ++o) {
      float v = b ? row[o] + b[o] : row[o];
      if (elu && !(v > 0.f)) v = std::expm1(v);
      row[o] = v;
    }
  }
}

void dense_backward(const DenseArgs& a, const float* x, const float* w, const float* dy, float* dx, float* dw,
                    float* db, stream_t) {
  check_args(a, "dense_backward (cpu)");
  LC_CHECK(dw && db, "dense_backward (cpu): dw and db are required");
  const int n = int(a.n);
  BlasSingleThread single;
  if (dx && n > 0)  // dx[n][in] = dy[n][out] W^T, W stored [in][out]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, a.in, a.out, 1.f, dy, a.out, w, a.out, 0.f, dx, a.in);
  if (n > 0)  // dW[in][out] = x^T dy
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a.in, a.out, n, 1.f, x, a.in, dy, a.out, 0.f, dw, a.out);
  else
    for (std::int64_t i = 0; i < std::int64_t(a.in) * a.out; ++i) dw[i] = 0.f;
  for (int o = 0; o < a.out; ++o) db[o] = 0.f;
  for (std::int64_t r = 0; r < a.n; ++r)  // rows in order: vectorises over o, deterministic
    for (int o = 0; o < a.out; ++o) db[o] += dy[r * a.out + o];
}

}  // namespace lc::cpu

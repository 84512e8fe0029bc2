// Dense layer on the cudnn backend (contract: dense.h). The products are cublasSgemm calls on the
// row-major buffers read as column-major transposes (row-major C = A B is column-major
// C^T = B^T A^T), on the handle from lc::cudnn::blas (FP32 with FMA, no TF32). Bias and ELU
// are cudnnAddTensor and cudnnActivationForward (ELU, coef 1, NaN propagated) on y viewed as NHWC
// [n][1][1][out];
// the bias gradient is cudnnConvolutionBackwardBias on dy viewed the same way.
#include <climits>

#include "kernels/common/cudnn_context.h"
#include "kernels/dense/dense.h"

namespace lc::cudnn {

namespace {
void check_args(const DenseArgs& a, const char* what) {
  LC_CHECK(a.n >= 0 && a.n <= INT_MAX && a.in > 0 && a.out > 0, what, ": bad shape n=", a.n, " in=", a.in,
           " out=", a.out);
}
}  // namespace

void dense_forward(const DenseArgs& a, const float* x, const float* w, const float* b, float* y,
                   stream_t stream) {
  check_args(a, "dense_forward (cudnn)");
  if (a.n == 0) return;
  const int n = int(a.n);
  const float one = 1.f, zero = 0.f;
  // Column-major: y^T [out x n] = W^T [out x in] * x^T [in x n]; W^T is W's memory with ld out.
  LC_CUBLAS_CHECK(cublasSgemm(blas(stream), CUBLAS_OP_N, CUBLAS_OP_N, a.out, n, a.in, &one, w, a.out, x, a.in,
                              &zero, y, a.out));
  TensorDesc yd;
  yd.set_nhwc(n, 1, 1, a.out);
  if (b) {
    TensorDesc bd;
    bd.set_nhwc(1, 1, 1, a.out);
    LC_CUDNN_CHECK(cudnnAddTensor(handle(stream), &one, bd.d, b, &one, yd.d, y));
  }
  if (a.activation == DenseActivation::elu) {
    cudnnActivationDescriptor_t act;
    LC_CUDNN_CHECK(cudnnCreateActivationDescriptor(&act));
    cudnnStatus_t st = cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_ELU, CUDNN_PROPAGATE_NAN, 1.0);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnActivationForward(handle(stream), act, &one, yd.d, y, &zero, yd.d, y);
    cudnnDestroyActivationDescriptor(act);
    LC_CUDNN_CHECK(st);
  }
}

void dense_backward(const DenseArgs& a, const float* x, const float* w, const float* dy, float* dx, float* dw,
                    float* db, stream_t stream) {
  check_args(a, "dense_backward (cudnn)");
  LC_CHECK(dw && db, "dense_backward (cudnn): dw and db are required");
  const int n = int(a.n);
  if (n == 0) {  // empty sums: dW = 0, db = 0 (dx is empty)
    LC_CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * std::size_t(a.in) * std::size_t(a.out), stream));
    LC_CUDA_CHECK(cudaMemsetAsync(db, 0, sizeof(float) * std::size_t(a.out), stream));
    return;
  }
  const float one = 1.f, zero = 0.f;
  // dx^T [in x n] = W [in x out] * dy^T [out x n]; W's memory read column-major is W^T (ld out).
  if (dx)
    LC_CUBLAS_CHECK(cublasSgemm(blas(stream), CUBLAS_OP_T, CUBLAS_OP_N, a.in, n, a.out, &one, w, a.out, dy, a.out,
                                &zero, dx, a.in));
  // dW^T [out x in] = dy^T [out x n] * x [n x in]; x's memory read column-major is x^T (ld in).
  LC_CUBLAS_CHECK(cublasSgemm(blas(stream), CUBLAS_OP_N, CUBLAS_OP_T, a.out, a.in, n, &one, dy, a.out, x, a.in,
                              &zero, dw, a.out));
  TensorDesc dyd, dbd;
  dyd.set_nhwc(n, 1, 1, a.out);
  dbd.set_nhwc(1, 1, 1, a.out);
  LC_CUDNN_CHECK(cudnnConvolutionBackwardBias(handle(stream), &one, dyd.d, dy, &zero, dbd.d, db));
}

}  // namespace lc::cudnn

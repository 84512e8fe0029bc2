// The cudnn backend's per-thread cuDNN / cuBLAS handles (kernels/common/cudnn_context.h): after a
// Backend is destroyed no handle points at its stream (issue 14, row 11), and a new Backend's
// calls work and bind the handles to its own stream.
#include <gtest/gtest.h>

#include "kernels/dense/dense.h"
#include "tests/support/testing.h"
#if LC_HAVE_CUDA
#include "kernels/common/cudnn_info.h"
#endif

namespace lc::test {
namespace {

#if LC_HAVE_CUDA
// One cuBLAS + cuDNN call (dense forward with bias and ELU) on `be`, checked against the reference.
void dense_once(Backend& be) {
  const DenseArgs a{3, 5, 4, DenseActivation::elu};
  const auto x = random_floats(15, 1), w = random_floats(20, 2), b = random_floats(4, 3);
  std::vector<float> want(12);
  ref::dense_forward(a, x.data(), w.data(), b.data(), want.data(), nullptr);
  Guarded<float> gx(be, x), gw(be, w), gb(be, b), gy(be, std::size_t(12));
  LC_DISPATCH(be.kind(), dense_forward, a, gx.get(), gw.get(), gb.get(), gy.get(), be.stream());
  EXPECT_TRUE(all_close(gy.download(), want, {1e-5, 1e-5}, "dense forward on cudnn"));
}
#endif

TEST(CudnnContext, HandlesForgetADestroyedBackendsStream) {
  if (!backend_or_skip(BackendKind::cudnn)) return;
#if LC_HAVE_CUDA
  stream_t old = nullptr;
  {
    Backend be(BackendKind::cudnn);
    old = be.stream();
    dense_once(be);
    EXPECT_EQ(cudnn::bound_stream(), old);
  }
  EXPECT_EQ(cudnn::bound_stream(), nullptr) << "a handle still points at the destroyed stream";
  Backend be(BackendKind::cudnn);
  dense_once(be);
  EXPECT_EQ(cudnn::bound_stream(), be.stream());
#endif
}

}  // namespace
}  // namespace lc::test

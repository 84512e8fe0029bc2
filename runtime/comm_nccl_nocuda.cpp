// Without CUDA (LC_WITH_CUDA=OFF): no NCCL; GPU backends are not built, so host backends use world().
#include "kernels/common/check.h"
#include "runtime/comm.h"

namespace lc {

std::unique_ptr<Communicator> make_device_communicator(bool gpu_backend) {
  LC_CHECK(!gpu_backend || world().size() == 1, "more than one rank on a GPU backend needs NCCL: this landcover "
           "was built without CUDA");
  return nullptr;
}

int local_gpu_ordinal() { return 0; }

namespace detail {
std::unique_ptr<Communicator> make_nccl(Communicator&) { LC_FAIL("NCCL needs a build with LC_WITH_CUDA=ON"); }
}  // namespace detail

}  // namespace lc

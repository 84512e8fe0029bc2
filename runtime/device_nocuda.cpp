// Stand-ins for the CUDA device functions when the project is built without CUDA (LC_WITH_CUDA=OFF).
#include "kernels/common/check.h"
#include "runtime/device.h"

namespace lc {

bool cuda_usable(std::string* why) {
  if (why) *why = "not compiled in (built with LC_WITH_CUDA=OFF)";
  return false;
}

std::unique_ptr<Device> make_cuda_device(int) {
  LC_FAIL("no usable GPU: this build has no CUDA support (LC_WITH_CUDA=OFF)");
}

std::string cuda_runtime_version() { return ""; }
std::string cuda_driver_version() { return ""; }

}  // namespace lc

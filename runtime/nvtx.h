// NVTX ranges for Nsight Systems: an RAII range and LC_NVTX_RANGE(...) that names it from parts
// ("L07 conv2d [cuda v2]"). Compiled out with -DLC_WITH_NVTX=OFF. Uses the NVTX 3 headers of the
// CUDA toolkit, which cost one branch per range when no tool is attached (no injection library).
// Hierarchy used by the project: `epoch N` > `step N` > `fwd` | `bwd` | `optim` | `eval` > one range
// per graph node; in segmentation `image <stem>` > `tile N` > `batch N`.
#pragma once

#include <string>

#if LC_WITH_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace lc::nvtx {

class Range {
 public:
#if LC_WITH_NVTX
  explicit Range(const char* name) { nvtxRangePushA(name); }
  explicit Range(const std::string& name) { nvtxRangePushA(name.c_str()); }
  ~Range() { nvtxRangePop(); }
#else
  explicit Range(const char*) {}
  explicit Range(const std::string&) {}
#endif
  Range(const Range&) = delete;
  Range& operator=(const Range&) = delete;
};

}  // namespace lc::nvtx

#define LC_NVTX_CONCAT2(a, b) a##b
#define LC_NVTX_CONCAT(a, b) LC_NVTX_CONCAT2(a, b)
// LC_NVTX_RANGE("step ", step): a range open until the end of the enclosing scope.
#if LC_WITH_NVTX
#define LC_NVTX_RANGE(...) ::lc::nvtx::Range LC_NVTX_CONCAT(lc_nvtx_range_, __LINE__)(::lc::detail::concat(__VA_ARGS__))
#else
#define LC_NVTX_RANGE(...) ((void)0)
#endif

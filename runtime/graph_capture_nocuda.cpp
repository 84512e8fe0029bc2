// CUDA Graph capture stand-in for builds without CUDA (LC_WITH_CUDA=OFF): nothing can be captured;
// the runtime never asks on the cpu and sim backends (see graph_capture.h).
#include "kernels/common/check.h"
#include "runtime/graph_capture.h"

namespace lc {

bool graph_capture_supported() { return false; }

CapturedGraph::~CapturedGraph() = default;

void CapturedGraph::reset() { exec_ = graph_ = nullptr, nodes_ = other_nodes_ = 0; }

void CapturedGraph::capture(stream_t, const std::function<void()>&) {
  LC_FAIL("CUDA Graph capture is not available: built without CUDA (LC_WITH_CUDA=OFF)");
}

void CapturedGraph::launch(stream_t) { LC_FAIL("CUDA Graph launch is not available: built without CUDA (LC_WITH_CUDA=OFF)"); }

}  // namespace lc

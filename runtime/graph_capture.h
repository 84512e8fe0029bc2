// CUDA Graph capture for the graph runtime: record everything one function enqueues on a stream
// into a CUDA Graph once, instantiate it, and replay it with one launch. Only the cuda and cudnn
// backends capture; graph_capture_cuda.cpp implements it with the CUDA runtime
// (cudaStreamBeginCapture / cudaStreamEndCapture / cudaGraphInstantiate / cudaGraphLaunch) and
// graph_capture_nocuda.cpp, built without CUDA, refuses. Every replay counts one graph launch
// (lc::graph_launch_counter()).
// Rules for what is captured: no allocation, no host<->device copy that the host waits for, no
// stream synchronisation; everything that changes between replays lives in device memory.
// Depends on: kernels/common (types, checks, launch counters).
#pragma once

#include <functional>

#include "kernels/common/types.h"

namespace lc {

class CapturedGraph {
 public:
  CapturedGraph() = default;
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Captures what `body` enqueues on `stream` (a real CUDA stream, not the default stream) and
  // instantiates it; the work is recorded, not run. Replaces a previous capture. On failure
  // (an exception from `body`, or a capture CUDA refuses) throws lc::Error and leaves nothing
  // captured (ready() false), so the caller can run the work eagerly.
  void capture(stream_t stream, const std::function<void()>& body);
  // Launches the instantiated graph on `stream`.
  void launch(stream_t stream);
  bool ready() const { return exec_ != nullptr; }
  void reset();
  // Kernel, memset and copy nodes in the captured graph (0 when none).
  std::size_t node_count() const { return nodes_; }
  // Every other node (memory allocation / free, host, event nodes): 0 for a training step,
  // whose libraries must not allocate inside the capture (kernels/common/cudnn_context.h).
  std::size_t other_node_count() const { return other_nodes_; }

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  std::size_t nodes_ = 0, other_nodes_ = 0;
};

// Whether this build can capture CUDA Graphs (LC_WITH_CUDA).
bool graph_capture_supported();

}  // namespace lc

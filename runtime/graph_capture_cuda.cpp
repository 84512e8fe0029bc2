// CUDA Graph capture with the CUDA runtime (see graph_capture.h). Built only with LC_WITH_CUDA.
#include <cuda_runtime.h>

#include <vector>

#include "kernels/common/cuda_check.h"
#include "kernels/common/launch_count.h"
#include "runtime/graph_capture.h"

namespace lc {

bool graph_capture_supported() { return true; }

CapturedGraph::~CapturedGraph() { reset(); }

void CapturedGraph::reset() {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  exec_ = graph_ = nullptr;
  nodes_ = other_nodes_ = 0;
}

void CapturedGraph::capture(stream_t stream, const std::function<void()>& body) {
  LC_CHECK(stream != nullptr, "CUDA Graph capture needs a non-default stream");
  reset();
  // Thread-local mode: unsafe calls from this thread (allocation, synchronous copies) fail the
  // capture instead of silently leaving the graph; other threads are not affected.
  LC_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    body();
  } catch (...) {
    cudaGraph_t broken = nullptr;
    cudaStreamEndCapture(stream, &broken);
    if (broken) cudaGraphDestroy(broken);
    cudaGetLastError();
    throw;
  }
  try {
    cudaGraph_t graph = nullptr;
    LC_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    graph_ = graph;
    cudaGraphExec_t exec = nullptr;
    LC_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    exec_ = exec;
    size_t n = 0;
    LC_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &n));
    std::vector<cudaGraphNode_t> nodes(n);
    LC_CUDA_CHECK(cudaGraphGetNodes(graph, nodes.data(), &n));
    for (cudaGraphNode_t node : nodes) {
      cudaGraphNodeType t{};
      LC_CUDA_CHECK(cudaGraphNodeGetType(node, &t));
      const bool work = t == cudaGraphNodeTypeKernel || t == cudaGraphNodeTypeMemset || t == cudaGraphNodeTypeMemcpy;
      (work ? nodes_ : other_nodes_)++;
    }
  } catch (...) {
    reset();  // a failed capture leaves nothing behind: the caller may run the work eagerly
    cudaGetLastError();
    throw;
  }
}

void CapturedGraph::launch(stream_t stream) {
  LC_CHECK(exec_ != nullptr, "launch of a CUDA Graph that was not captured");
  graph_launch_counter().fetch_add(1, std::memory_order_relaxed);
  LC_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream));
}

}  // namespace lc

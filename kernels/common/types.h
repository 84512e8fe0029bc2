// Types every op contract uses: the stream handle (the CUDA runtime's cudaStream_t, opaque here
// so that host-only code and the emulator need no CUDA header) and the workspace span.
#pragma once

#include <cstddef>
#include <cstdint>

struct CUstream_st;  // the CUDA runtime's opaque stream type; cudaStream_t is CUstream_st*

namespace lc {

using stream_t = CUstream_st*;  // nullptr = default stream; ignored by host implementations

// Scratch memory an op may use during one call, on the op's device. Ops that need it expose
// <op>_workspace_bytes(...) in their contract; callers pass at least that much.
struct Workspace {
  void* ptr = nullptr;
  std::size_t bytes = 0;
};

}  // namespace lc

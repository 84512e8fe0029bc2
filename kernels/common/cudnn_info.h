// What the cudnn backend's library state exposes to code without cuDNN headers. Defined in
// cudnn_context_cudnn.cpp; only call where the cudnn backend is compiled in (LC_HAVE_CUDA).
#pragma once

#include <string>

#include "kernels/common/types.h"

namespace lc::cudnn {
// Versions of the cuDNN and cuBLAS libraries loaded at run time ("9.x.y").
std::string library_version();
std::string cublas_version();
// Unbinds every thread's cuDNN / cuBLAS handle that is set to `stream` (sets it to the default
// stream); the owner calls this before destroying the stream (runtime/backend.cpp).
void forget_stream(stream_t stream);
// The stream the calling thread's handles are set to (nullptr: none or the default stream).
stream_t bound_stream();
}  // namespace lc::cudnn

// Versions of the cuDNN and cuBLAS libraries loaded at run time ("9.x.y"). Defined in
// cudnn_context_cudnn.cpp; only call where the cudnn backend is compiled in.
#pragma once

#include <string>

namespace lc::cudnn {
std::string library_version();
std::string cublas_version();
}  // namespace lc::cudnn

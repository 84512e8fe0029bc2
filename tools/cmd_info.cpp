// `landcover info`: version, backends compiled in, which are usable here and why not, library versions.
#include <cstdio>

#include "runtime/backend.h"
#include "tools/command.h"

namespace {

void run_info() {
  std::printf("landcover %s\n", LC_VERSION);
  std::printf("backends:\n");
  for (lc::BackendKind k : lc::kAllBackends) {
    lc::BackendStatus s = lc::backend_status(k);
    if (!s.compiled)
      std::printf("  %-6s not compiled in (%s)\n", lc::backend_name(k), s.why.c_str());
    else if (s.usable)
      std::printf("  %-6s usable\n", lc::backend_name(k));
    else
      std::printf("  %-6s compiled in, unusable: %s\n", lc::backend_name(k), s.why.c_str());
  }
  std::string rt = lc::cuda_runtime_version(), drv = lc::cuda_driver_version();
  std::printf("CUDA runtime: %s\n", rt.empty() ? "not compiled in" : rt.c_str());
  std::printf("CUDA driver:  %s\n", drv.empty() ? "none" : drv.c_str());
  std::string dnn = lc::cudnn_version(), blas = lc::cublas_version();
  std::printf("cuDNN:        %s\n", dnn.empty() ? "not compiled in" : dnn.c_str());
  std::printf("cuBLAS:       %s\n", blas.empty() ? "not compiled in" : blas.c_str());
  std::printf("default backend (auto): %s\n", lc::backend_name(lc::parse_backend("auto")));
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show version, backends and whether each is usable here");
  cmd->callback(run_info);
}

}  // namespace

LC_REGISTER_COMMAND(info, setup);

// landcover: the command-line entry point. Parses arguments, runs one subcommand, maps errors to
// exit codes: 0 success, 1 error (one line on stderr), 2 bad usage.
#include <cstdio>
#include <exception>
#include <new>
#include <map>
#include <string>

#include "kernels/common/check.h"
#include "tools/command.h"

namespace lc::tools {

namespace {
std::map<std::string, CommandSetup>& registry() {
  static std::map<std::string, CommandSetup> commands;
  return commands;
}
}  // namespace

bool register_command(const char* name, CommandSetup setup) {
  registry()[name] = std::move(setup);
  return true;
}

}  // namespace lc::tools

int main(int argc, char** argv) {
  CLI::App app{"landcover: land-cover mapping from satellite images with custom CUDA kernels"};
  app.require_subcommand(1);
  app.set_version_flag("--version", LC_VERSION);
  for (auto& [name, setup] : lc::tools::registry()) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (CLI11's own codes are not ours).
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "landcover: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "landcover: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

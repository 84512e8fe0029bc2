// landcover: the command-line entry point. Parses arguments, runs one subcommand, maps errors to
// exit codes: 0 success, 1 error (one line on stderr), 2 bad usage. In a job of several ranks
// (runtime/comm.h) an error line names its rank and ends every rank of the job.
#include <cstdio>
#include <exception>
#include <new>
#include <map>
#include <string>

#include "kernels/common/check.h"
#include "runtime/comm.h"
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

namespace {
// Exit status 1; with several ranks, the whole job ends (the others may wait in a collective).
int fail() {
  std::fflush(stderr);
  if (lc::world().size() > 1) lc::world().abort(1);
  return 1;
}
}  // namespace

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
    std::fprintf(stderr, "landcover: error: %sout of memory\n", lc::rank_prefix().c_str());
    return fail();
  } catch (const std::exception& e) {
    const std::string prefix = lc::rank_prefix(), what = e.what();
    // Errors raised by a communicator already name their rank.
    std::fprintf(stderr, "landcover: error: %s%s\n", what.rfind(prefix, 0) == 0 ? "" : prefix.c_str(), what.c_str());
    return fail();
  }
  return 0;
}

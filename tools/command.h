// Subcommand registry of the `landcover` CLI. Each tools/cmd_<name>.cpp registers its subcommand
// with LC_REGISTER_COMMAND; main parses, runs the chosen one, and turns an lc::Error into one
// line on stderr and exit status 1 (usage errors exit 2).
// Depends on: CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <exception>
#include <functional>
#include <new>
#include <string>

namespace lc::tools {

// `setup` adds a subcommand to the app and sets its callback (which does the work and may throw).
using CommandSetup = std::function<void(CLI::App& app)>;
bool register_command(const char* name, CommandSetup setup);

// The one-line text of a failure of `what` ("<image path>"): lc::Error messages name their file
// already; an allocation failure becomes "<what>: out of memory" instead of "std::bad_alloc".
inline std::string error_text(const std::exception& e, const std::string& what) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) return what + ": out of memory";
  return e.what();
}

}  // namespace lc::tools

#define LC_REGISTER_COMMAND(name, setup) \
  static const bool lc_command_registered_##name = ::lc::tools::register_command(#name, setup)

// Subcommand registry of the `landcover` CLI. Each tools/cmd_<name>.cpp registers its subcommand
// with LC_REGISTER_COMMAND; main parses, runs the chosen one, and turns an lc::Error into one
// line on stderr and exit status 1 (usage errors exit 2).
// Depends on: CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace lc::tools {

// `setup` adds a subcommand to the app and sets its callback (which does the work and may throw).
using CommandSetup = std::function<void(CLI::App& app)>;
bool register_command(const char* name, CommandSetup setup);

}  // namespace lc::tools

#define LC_REGISTER_COMMAND(name, setup) \
  static const bool lc_command_registered_##name = ::lc::tools::register_command(#name, setup)

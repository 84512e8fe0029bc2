// Files and processes for tests: a fresh temporary directory removed at scope exit (checkpoints,
// caches, images, metrics), reading a whole file, running a command with its output logged.
// Depends on: the C++ standard library and POSIX (mkdtemp, system, WEXITSTATUS).
#pragma once

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace lc::test {

struct TempDir {
  std::string path;
  // `prefix` names the directory (lc_<prefix>_XXXXXX) so a leftover shows which test made it.
  explicit TempDir(const std::string& prefix = "test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("lc_" + prefix + "_XXXXXX")).string();
    const char* p = ::mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path + "/" + name; }
  // The names in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

// The whole file as bytes ("" when it cannot be opened).
// A pid that is certainly gone: a child that exited and was reaped.
inline long dead_pid() {
  const pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  ::waitpid(p, nullptr, 0);
  return long(p);
}

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command with stdout and stderr going to `log`; its exit status (-1 when it did not
// exit normally).
inline int run_logged(const std::string& cmd, const std::filesystem::path& log) {
  const int rc = std::system((cmd + " > '" + log.string() + "' 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace lc::test

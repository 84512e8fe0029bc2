// Error handling shared by every layer: lc::Error, LC_CHECK (always on, never assert) and
// LC_FAIL. Library code throws; the CLI catches in main, prints one line and exits non-zero.
// Depends on: the C++ standard library only (safe to include from .cu files under nvcc).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lc {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace lc

// LC_CHECK(cond, "message parts", value, ...): throws lc::Error naming the failed condition.
#define LC_CHECK(cond, ...)                                                                  \
  do {                                                                                       \
    if (!(cond))                                                                             \
      ::lc::detail::throw_error(__FILE__, __LINE__,                                          \
                                ::lc::detail::concat(__VA_ARGS__, " [" #cond "]"));          \
  } while (0)

#define LC_FAIL(...) ::lc::detail::throw_error(__FILE__, __LINE__, ::lc::detail::concat(__VA_ARGS__))

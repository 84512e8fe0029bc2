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
[[noreturn]] void throw_call_error(const char* file, int line, const char* function, const char* library,
                                   const char* call, const std::string& status);
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

// LC_CHECK_CALL(library, expr, ok, describe): the one base of the library checks (LC_CUDA_CHECK in
// kernels/common/cuda_check.h, LC_CUDNN_CHECK and LC_CUBLAS_CHECK in kernels/common/cudnn_context.h).
// Evaluates expr once; unless its status equals ok, throws lc::Error naming the library, the call,
// the enclosing function, file and line, and describe(status) (a std::string).
#define LC_CHECK_CALL(library, expr, ok, describe)                                              \
  do {                                                                                        \
    const auto lc_status_ = (expr);                                                           \
    if (lc_status_ != (ok))                                                                   \
      ::lc::detail::throw_call_error(__FILE__, __LINE__, __func__, library, #expr,            \
                                     describe(lc_status_));                                   \
  } while (0)

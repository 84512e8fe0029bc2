// Out-of-line part of check.h.
#include "kernels/common/check.h"

namespace lc::detail {

[[noreturn]] void throw_error(const char* file, int line, const std::string& msg) {
  // The message is what users see; file:line helps developers and stays at the end.
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  throw Error(concat(msg, " (", base, ":", line, ")"));
}

[[noreturn]] void throw_call_error(const char* file, int line, const char* function, const char* library,
                                   const char* call, const std::string& status) {
  throw_error(file, line, concat(library, " error in ", call, " (in ", function, "): ", status));
}

}  // namespace lc::detail

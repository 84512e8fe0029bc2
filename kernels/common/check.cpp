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

}  // namespace lc::detail

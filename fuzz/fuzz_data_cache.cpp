// Fuzz target: the decoded-data cache reader (model/dataset.h check_cache_file) for a data set of
// two classes and three 4x4 images. The input is written to a private temporary file (the reader
// reads files); its fingerprint field is taken as the expected one so that inputs get past it.
// Every input is accepted or rejected with a reason, never a crash.
// Depends on: model/dataset.h, model/file_io.h (load_le64), libFuzzer, POSIX (mkstemp).
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <string>

#include "kernels/common/check.h"
#include "model/dataset.h"
#include "model/file_io.h"

namespace {
const std::string& temp_file() {
  static const std::string path = [] {
    char tmpl[] = "/tmp/lc_fuzz_cache_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) __builtin_trap();
    ::close(fd);
    return std::string(tmpl);
  }();
  return path;
}
struct Cleanup {
  ~Cleanup() { ::unlink(temp_file().c_str()); }
} cleanup;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = temp_file();
  // A plain write: the atomic writer's fsyncs would cost most of the time.
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  const std::uint64_t fingerprint = size >= 24 ? lc::load_le64(data + 16) : 0;
  (void)lc::check_cache_file(path, {"a", "b"}, {"a/0.png", "b/0.png", "b/1.png"}, 4, fingerprint);
  return 0;
}

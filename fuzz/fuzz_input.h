// The fuzz targets whose parser opens files itself (GDAL, netCDF, the zone table reader): each
// input is written to one temporary file per process, then parsed from there.
// Depends on: POSIX.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lc::fuzz {

// Writes the input to "<TMPDIR or /tmp>/lc_fuzz_<tag>_<pid><suffix>" and returns its path.
inline std::string input_file(const std::uint8_t* data, std::size_t size, const char* tag, const char* suffix) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/lc_fuzz_" + tag + "_" +
                           std::to_string(long(::getpid())) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();  // the fuzzing machine's own problem, not an input's
  if (size && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  return path;
}

}  // namespace lc::fuzz

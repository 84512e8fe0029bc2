// File I/O shared by checkpoints, the decoded-data cache, metrics and every output of the tools:
// CRC-32, little-endian integers, whole-file reading, and atomic file replacement with temporary
// names that always fit the file system's name limit. The output layer (model/output_set.h)
// builds on it.
// Depends on: kernels/common/check.h, POSIX (open, fsync, rename).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lc {

// ----- CRC-32 ----------------------------------------------------------------------------------
// The zlib / IEEE 802.3 CRC (reflected polynomial 0xEDB88320, initial value 0xFFFFFFFF, final XOR
// 0xFFFFFFFF); crc32("123456789") = 0xCBF43926. crc32_update continues a running value: start
// from 0 and pass the previous result (crc32_update(crc32_update(0, a), b) == crc32 of a then b).
std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t bytes);
inline std::uint32_t crc32(const void* data, std::size_t bytes) { return crc32_update(0, data, bytes); }

// ----- Little-endian integers (independent of the host's byte order) ---------------------------
inline std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}
inline std::uint64_t load_le64(const std::uint8_t* p) {
  return std::uint64_t(load_le32(p)) | std::uint64_t(load_le32(p + 4)) << 32;
}
inline void store_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::uint8_t(v >> (8 * i));
}
inline void store_le64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::uint8_t(v >> (8 * i));
}
inline void append_le32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(std::uint8_t(v >> (8 * i)));
}
inline void append_le64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(std::uint8_t(v >> (8 * i)));
}

// ----- Names -----------------------------------------------------------------------------------

// The longest file name (one path component) in bytes that the tools create: 255, the limit of
// every Linux file system in use.
inline constexpr std::size_t kNameMax = 255;

// The directory part of a path ("." when it has none) and the last component.
std::string dir_of(const std::string& path);
std::string base_of(const std::string& path);

// `name` + `suffix` when it fits in kNameMax - reserve bytes; otherwise `name` cut at a UTF-8
// boundary, "~" and the CRC-32 of the whole name (8 hex digits), then `suffix`, exactly fitting.
std::string fit_name(const std::string& name, const std::string& suffix, std::size_t reserve = 0);

// The temporary file name for writing `path` from process `pid`, in the same directory:
// "<name>.tmp.<pid>", or, when that could pass kNameMax, fit_name(name, ".tmp.", 10) + pid (room
// for any pid). temp_name_prefix is that name without the pid
// ("<...>.tmp."), which stale-temp cleanup matches.
std::string temp_path_for(const std::string& path, long pid);
std::string temp_name_prefix(const std::string& name);
// Removes the temporary files of `path` ("<name>.tmp.<pid>") left by processes that are gone
// (killed during a write); those of live processes stay. AtomicFile calls it before writing.
void remove_stale_temps(const std::string& path);

// ----- Reading ---------------------------------------------------------------------------------

// Reads a whole regular file; throws lc::Error "<path>: cannot read: <reason>" (a directory, a
// FIFO or a device is refused without opening it for reading, so a FIFO never blocks).
std::vector<std::uint8_t> read_file_bytes(const std::string& path);
// The same checks without reading: the path names a readable regular file (for readers that open
// it themselves, such as GDAL).
void check_readable_file(const std::string& path);

// ----- Atomic replacement ----------------------------------------------------------------------

// Writes a file so that readers see the old content or the new, never a part: writes the temporary
// file temp_path_for(path, getpid()) in the same directory, fsyncs and closes it, renames it over
// `path`, then fsyncs the directory. On any failure the temporary file is removed, `path` is
// untouched, and lc::Error names the path and the failing step. The output layer
// (model/output_set.h) checks targets, locks them and commits several files together; this class
// is its single-file building block. Creating one first removes stale temporary files of `path`.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // creates the temporary file (throws when it cannot)
  ~AtomicFile();                          // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t bytes);
  void sync();    // fsync and close the temporary file (the step that can still fail for space)
  void rename();  // renames the synced temporary file over the path (sync() first)
  void commit();  // sync, rename, fsync the directory
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

 private:
  std::string path_, temp_;
  int fd_ = -1;
  bool synced_ = false, committed_ = false;
};

void write_file_atomic(const std::string& path, const void* data, std::size_t bytes);
inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

// fsyncs a directory so that renames inside it are durable (file systems that refuse: ignored).
void sync_directory(const std::string& dir);

// Test hook: after this many more bytes pass through AtomicFile::write in this process, the next
// write fails with "simulated write failure" (negative: off, the default). Lets tests prove that a
// failed write leaves the previous file intact.
void set_atomic_write_fault_for_testing(std::int64_t fail_after_bytes);

}  // namespace lc

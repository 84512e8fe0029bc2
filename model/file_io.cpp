// CRC-32 (slice-by-8 tables), names of temporary files, the whole-file reader and atomic file
// replacement (model/file_io.h).
// Depends on: model/file_io.h, kernels/common/check.h, POSIX.
#include "model/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kernels/common/check.h"

namespace lc {

// ----- CRC-32 ----------------------------------------------------------------------------------

namespace {

// table[0] is the classic byte-at-a-time table; table[k][b] is the CRC of byte b followed by k
// zero bytes, which lets the loop fold 8 input bytes per step (slice-by-8).
struct CrcTables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  CrcTables() {
    for (std::uint32_t b = 0; b < 256; ++b) {
      std::uint32_t c = b;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
      t[0][b] = c;
    }
    for (int k = 1; k < 8; ++k)
      for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
};
const CrcTables& crc_tables() {
  static const CrcTables tables;
  return tables;
}

}  // namespace

std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t bytes) {
  const auto& t = crc_tables().t;
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint32_t c = ~crc;
  while (bytes >= 8) {
    std::uint32_t lo = load_le32(p) ^ c, hi = load_le32(p + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    bytes -= 8;
  }
  while (bytes--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return ~c;
}

// ----- Names -----------------------------------------------------------------------------------

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string fit_name(const std::string& name, const std::string& suffix, std::size_t reserve) {
  if (name.size() + suffix.size() + reserve <= kNameMax) return name + suffix;
  char hash[16];
  std::snprintf(hash, sizeof hash, "~%08x", unsigned(crc32(name.data(), name.size())));
  std::size_t keep = kNameMax - reserve - suffix.size() - std::strlen(hash);
  // Do not cut inside a UTF-8 sequence: back off over continuation bytes (10xxxxxx).
  while (keep > 0 && (std::uint8_t(name[keep]) & 0xC0) == 0x80) --keep;
  return name.substr(0, keep) + hash + suffix;
}

// Room for any pid (Linux: at most 2^22, 7 digits; 10 covers every 32-bit value).
std::string temp_name_prefix(const std::string& name) { return fit_name(name, ".tmp.", 10); }

std::string temp_path_for(const std::string& path, long pid) {
  const std::string dir = dir_of(path), name = base_of(path);
  const std::string temp = temp_name_prefix(name) + std::to_string(pid);
  return path.find('/') == std::string::npos ? temp : (dir == "/" ? "/" : dir + "/") + temp;
}

// ----- Reading ---------------------------------------------------------------------------------

namespace {
// Opens a regular file for reading; fills st. O_NONBLOCK: opening a FIFO must not wait for a
// writer; fstat then refuses it.
int open_regular(const std::string& path, struct stat& st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) LC_FAIL(path, ": cannot read: ", std::strerror(errno));
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    LC_FAIL(path, ": cannot read: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    LC_FAIL(path, ": cannot read: ", S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
  }
  return fd;
}
}  // namespace

void check_readable_file(const std::string& path) {
  struct stat st {};
  ::close(open_regular(path, st));
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  struct stat st {};
  int fd = open_regular(path, st);
  std::vector<std::uint8_t> bytes;
  try {
    bytes.reserve(std::size_t(st.st_size));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    LC_FAIL(path, ": cannot read: out of memory for ", st.st_size, " bytes");
  }
  std::uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      LC_FAIL(path, ": cannot read: ", std::strerror(err));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  ::close(fd);
  return bytes;
}

// ----- Atomic files ----------------------------------------------------------------------------

namespace {
std::atomic<std::int64_t> g_fault_after{-1};
}  // namespace

void set_atomic_write_fault_for_testing(std::int64_t fail_after_bytes) { g_fault_after = fail_after_bytes; }

void sync_directory(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

// Removes "<name>.tmp.<pid>" files beside `path` whose process is gone.
void remove_stale_temps(const std::string& path) {
  const std::string dir = dir_of(path), prefix = temp_name_prefix(base_of(path));
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = n.substr(prefix.size());
    if (digits.size() > 10 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const long pid = std::stol(digits);
    if (pid == long(::getpid()) || pid <= 0) continue;
    if (::kill(pid_t(pid), 0) != 0 && errno == ESRCH) stale.push_back((path.find('/') == std::string::npos ? n : (dir == "/" ? "/" : dir + "/") + n));
  }
  ::closedir(d);
  for (const std::string& s : stale) ::unlink(s.c_str());
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  LC_CHECK(!path_.empty(), "cannot write a file with an empty name");
  remove_stale_temps(path_);
  temp_ = temp_path_for(path_, long(::getpid()));
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) LC_FAIL(path_, ": cannot create ", temp_, ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  LC_CHECK(fd_ >= 0 && !synced_, path_, ": write after commit");
  std::int64_t budget = g_fault_after.load();
  if (budget >= 0) {
    if (std::int64_t(bytes) > budget) {
      g_fault_after = -1;
      LC_FAIL(path_, ": cannot write ", temp_, ": simulated write failure (test hook)");
    }
    g_fault_after = budget - std::int64_t(bytes);
  }
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      LC_FAIL(path_, ": cannot write ", temp_, ": ", std::strerror(errno));
    }
    p += n;
    bytes -= std::size_t(n);
  }
}

void AtomicFile::sync() {
  LC_CHECK(fd_ >= 0 && !synced_, path_, ": commit twice");
  if (::fsync(fd_) != 0) LC_FAIL(path_, ": cannot fsync ", temp_, ": ", std::strerror(errno));
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) LC_FAIL(path_, ": cannot close ", temp_, ": ", std::strerror(errno));
  synced_ = true;
}

void AtomicFile::rename() {
  LC_CHECK(synced_ && !committed_, path_, ": rename before sync");
  if (::rename(temp_.c_str(), path_.c_str()) != 0)
    LC_FAIL(path_, ": cannot rename ", temp_, " over it: ", std::strerror(errno));
  committed_ = true;
}

void AtomicFile::commit() {
  sync();
  rename();
  sync_directory(dir_of(path_));
}

void write_file_atomic(const std::string& path, const void* data, std::size_t bytes) {
  AtomicFile f(path);
  f.write(data, bytes);
  f.commit();
}

}  // namespace lc

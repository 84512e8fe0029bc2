// The output layer (model/output_set.h): target checks, alias detection, advisory locks, stale
// temporary files, staged sets committed together.
// Depends on: model/output_set.h, model/file_io.h, kernels/common/check.h, POSIX.
#include "model/output_set.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "kernels/common/check.h"

namespace lc {

namespace {

const char* kind_of(mode_t m) {
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISDIR(m)) return "a folder";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

std::string in_dir(const std::string& dir, const std::string& name, const std::string& path) {
  if (path.find('/') == std::string::npos) return name;
  return (dir == "/" ? "/" : dir + "/") + name;
}

}  // namespace

void check_output_target(const std::string& path, const std::string& role) {
  if (path.empty()) LC_FAIL(role, ": empty file name");
  auto fail = [&](const std::string& why) { LC_FAIL(role, " ", path, ": ", why); };
  const std::string name = base_of(path), dir = dir_of(path);
  if (name.empty() || name == "." || name == "..") fail("names a folder, not a file");
  if (name.size() > kNameMax)
    fail("file name too long (" + std::to_string(name.size()) + " bytes; at most " + std::to_string(kNameMax) + ")");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) fail(std::string("is ") + kind_of(st.st_mode) + "; refusing to replace it");
  } else if (errno != ENOENT) {
    fail(std::strerror(errno));
  }
  struct stat ds {};
  if (::stat(dir.c_str(), &ds) != 0) fail("folder " + dir + ": " + std::strerror(errno));
  if (!S_ISDIR(ds.st_mode)) fail(dir + " is not a folder");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) fail("cannot write in folder " + dir + ": " + std::strerror(errno));
}

struct OutputSet::Lock {
  std::string path;
  int fd = -1;
  ~Lock() {
    if (fd < 0) return;
    ::unlink(path.c_str());  // before unlocking: a waiter that opened it re-checks the inode
    ::close(fd);
  }
};

struct OutputSet::Staged {
  std::string path, temp;
  std::unique_ptr<AtomicFile> file;  // null for a temp_path() writer
  bool renamed = false;
  ~Staged() {
    if (!file && !renamed) ::unlink(temp.c_str());
  }
};

OutputSet::OutputSet() = default;
OutputSet::~OutputSet() = default;

void OutputSet::add(const std::string& path, const std::string& role) {
  LC_CHECK(!open_, "OutputSet::add after open");
  paths_.push_back(path);
  roles_.push_back(role);
}

void OutputSet::open() {
  LC_CHECK(!open_, "OutputSet::open twice");
  // Identity of each target: its folder's real path and its name, and its inode when it exists.
  std::vector<std::string> keys;
  std::vector<std::pair<dev_t, ino_t>> inodes;
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    check_output_target(paths_[i], roles_[i]);
    char real[PATH_MAX];
    const std::string dir = dir_of(paths_[i]);
    keys.push_back(std::string(::realpath(dir.c_str(), real) ? real : dir.c_str()) + "/" + base_of(paths_[i]));
    struct stat st {};
    inodes.push_back(::stat(paths_[i].c_str(), &st) == 0 ? std::make_pair(st.st_dev, st.st_ino)
                                                         : std::make_pair(dev_t(0), ino_t(0)));
    for (std::size_t j = 0; j < i; ++j)
      if (keys[j] == keys[i] || (inodes[i].second != 0 && inodes[j] == inodes[i]))
        LC_FAIL(roles_[i], " ", paths_[i], " is the same file as ", roles_[j], " ", paths_[j],
                "; give each output its own file");
  }
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    const std::string& path = paths_[i];
    auto lock = std::make_unique<Lock>();
    lock->path = in_dir(dir_of(path), fit_name("." + base_of(path), ".lock"), path);
    for (int attempt = 0; lock->fd < 0; ++attempt) {
      LC_CHECK(attempt < 16, roles_[i], " ", path, ": cannot take the lock ", lock->path, " (it keeps changing)");
      const int fd = ::open(lock->path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0) LC_FAIL(roles_[i], " ", path, ": cannot create the lock file ", lock->path, ": ", std::strerror(errno));
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char pid[24] = {};
        (void)!::pread(fd, pid, sizeof pid - 1, 0);
        ::close(fd);
        if (err == EWOULDBLOCK)
          LC_FAIL(roles_[i], " ", path, ": another landcover process (pid ", pid[0] ? pid : "?",
                  ") is writing it; wait for it to finish or choose another name");
        LC_FAIL(roles_[i], " ", path, ": cannot lock ", lock->path, ": ", std::strerror(err));
      }
      struct stat a {}, b {};
      if (::fstat(fd, &a) == 0 && ::stat(lock->path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
        const std::string me = std::to_string(long(::getpid()));
        (void)!::ftruncate(fd, 0);
        (void)!::pwrite(fd, me.data(), me.size(), 0);
        lock->fd = fd;
      } else {
        ::close(fd);  // the holder removed the file between our open and flock: take the new one
      }
    }
    locks_.push_back(std::move(lock));
    remove_stale_temps(path);
  }
  open_ = true;
}

const std::string& OutputSet::checked(const std::string& path, const char* what) const {
  LC_CHECK(open_, "OutputSet::", what, " before open");
  auto it = std::find(paths_.begin(), paths_.end(), path);
  LC_CHECK(it != paths_.end(), "OutputSet::", what, ": ", path, " is not a declared output");
  for (const auto& s : staged_) LC_CHECK(s->path != path, "OutputSet::", what, ": ", path, " staged twice");
  return *it;
}

AtomicFile& OutputSet::stream(const std::string& path) {
  auto s = std::make_unique<Staged>();
  s->path = checked(path, "stream");
  s->file = std::make_unique<AtomicFile>(path);
  s->temp = s->file->temp_path();
  staged_.push_back(std::move(s));
  return *staged_.back()->file;
}

void OutputSet::stage(const std::string& path, const void* data, std::size_t bytes) {
  AtomicFile& f = stream(path);
  try {
    f.write(data, bytes);
  } catch (...) {
    staged_.pop_back();
    throw;
  }
}

std::string OutputSet::temp_path(const std::string& path) {
  auto s = std::make_unique<Staged>();
  s->path = checked(path, "temp_path");
  s->temp = temp_path_for(path, long(::getpid()));
  ::unlink(s->temp.c_str());
  staged_.push_back(std::move(s));
  return staged_.back()->temp;
}

void OutputSet::commit() {
  LC_CHECK(open_, "OutputSet::commit before open");
  try {
    for (auto& s : staged_) {
      if (s->file) {
        s->file->sync();
        continue;
      }
      const int fd = ::open(s->temp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) LC_FAIL(s->path, ": the writer left no file ", s->temp, ": ", std::strerror(errno));
      const int rc = ::fsync(fd);
      const int err = errno;
      ::close(fd);
      if (rc != 0) LC_FAIL(s->path, ": cannot fsync ", s->temp, ": ", std::strerror(err));
    }
  } catch (...) {
    staged_.clear();  // removes every temporary file: no target changed
    throw;
  }
  std::set<std::string> dirs;
  for (auto& s : staged_) {
    if (s->file) {
      s->file->rename();
    } else if (::rename(s->temp.c_str(), s->path.c_str()) != 0) {
      LC_FAIL(s->path, ": cannot rename ", s->temp, " over it: ", std::strerror(errno));
    }
    s->renamed = true;
    dirs.insert(dir_of(s->path));
  }
  for (const std::string& d : dirs) sync_directory(d);
  staged_.clear();
}

void OutputSet::replace(const std::string& path, const void* data, std::size_t bytes) {
  AtomicFile f(checked(path, "replace"));
  f.write(data, bytes);
  f.commit();
}

}  // namespace lc

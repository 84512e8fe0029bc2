// The output layer: every file the tools write (checkpoints, metrics, confusion matrices, maps,
// tables, .npy, GeoTIFFs) goes through an OutputSet, which
//   - refuses targets that are not regular files (devices, FIFOs, sockets, symbolic links,
//     directories), empty names and names over the 255-byte limit, missing or unwritable folders;
//   - refuses two targets of one run that are the same file (same folder by realpath and same
//     name, or the same existing inode through a hard link);
//   - does all of that in open(), before the caller starts any work;
//   - takes an advisory lock (flock) per target on a hidden lock file beside it
//     (".<name>.lock", removed when the set is released), so a second process writing the same
//     target fails at once naming the first one's pid;
//   - removes stale temporary files of the targets ("<name>.tmp.<pid>" of processes that are gone);
//   - writes a set together: staged files go to temporary files first (a disk-full or any other
//     failure shows up there and removes them all), and commit() renames them into place only
//     after every one of them is complete and synced, so a set appears whole or not at all.
//     (The renames themselves need no space; a rename refused half-way, which only a concurrent
//     change of the folder can cause, is reported naming the file.)
// Writers that need a file name rather than bytes (GDAL writing a GeoTIFF) take temp_path(target):
// a temporary name inside the set, in the target's folder, committed (synced and renamed) with the
// rest, or removed when the set is abandoned.
// Depends on: model/file_io.h (AtomicFile, temporary names), kernels/common/check.h, POSIX (flock,
// realpath, kill).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "model/file_io.h"

namespace lc {

// Checks one output target as open() does, without locking: throws lc::Error
// "<role> <path>: <why>" (role: the option that named it, e.g. "--out").
void check_output_target(const std::string& path, const std::string& role);

class OutputSet {
 public:
  OutputSet();
  ~OutputSet();  // removes uncommitted temporary files and releases the locks
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;

  // Declares a target; `role` names it in messages ("--out", "--metrics", "segment output").
  void add(const std::string& path, const std::string& role);
  // Checks every target, refuses aliases, takes the locks and removes stale temporary files.
  void open();

  // Staged writes, made visible by commit(). Each target at most once per commit.
  void stage(const std::string& path, const void* data, std::size_t bytes);
  void stage(const std::string& path, const std::string& text) { stage(path, text.data(), text.size()); }
  AtomicFile& stream(const std::string& path);     // a temporary file to write piece by piece
  std::string temp_path(const std::string& path);  // a temporary name for a writer that needs one
  // Syncs every staged file (any failure: all are removed, no target changes), then renames each
  // over its target and syncs the folders.
  void commit();

  // Replaces one target now, atomically (a checkpoint rewritten every epoch).
  void replace(const std::string& path, const void* data, std::size_t bytes);
  void replace(const std::string& path, const std::string& text) { replace(path, text.data(), text.size()); }

  // The declared targets.
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  struct Lock;
  struct Staged;
  const std::string& checked(const std::string& path, const char* what) const;
  std::vector<std::string> paths_, roles_;
  std::vector<std::unique_ptr<Lock>> locks_;
  std::vector<std::unique_ptr<Staged>> staged_;
  bool open_ = false;
};

}  // namespace lc

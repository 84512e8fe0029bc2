// The output layer (model/output_set.h) under hostile targets: devices, FIFOs, symbolic links and
// folders refused; aliases refused (same name, "./" spelling, a symlinked folder, a hard link);
// missing folders and empty names refused before any work; temporary names within 255 bytes;
// stale temporary files of dead processes removed, a live one's kept; a second writer refused
// while the first holds the lock; a set that fails part-way (test hook, or RLIMIT_FSIZE as a full
// disk) leaves no file at all; a writer that needs a path is committed with the set.
// Depends on: model/output_set.h, tests/support/files.h, GoogleTest, POSIX (mkfifo, fork).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "kernels/common/check.h"
#include "model/output_set.h"
#include "tests/support/files.h"

namespace lc {
namespace {

namespace fs = std::filesystem;
using test::read_text_file;
using test::TempDir;
using test::dead_pid;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void open_set(const std::vector<std::string>& paths) {
  OutputSet s;
  for (const auto& p : paths) s.add(p, "--out");
  s.open();
}

TEST(CpuOutputSet, RefusesNonRegularTargets) {
  TempDir dir("hostile_out");
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0644), 0);
  std::ofstream(dir.file("real")) << "keep";
  ASSERT_EQ(::symlink(dir.file("real").c_str(), dir.file("link").c_str()), 0);
  fs::create_directories(dir.file("folder"));
  EXPECT_NE(error_of([&] { open_set({"/dev/null"}); }).find("is a character device"), std::string::npos);
  EXPECT_NE(error_of([&] { open_set({dir.file("fifo")}); }).find("is a FIFO"), std::string::npos);
  EXPECT_NE(error_of([&] { open_set({dir.file("link")}); }).find("is a symbolic link"), std::string::npos);
  EXPECT_NE(error_of([&] { open_set({dir.file("folder")}); }).find("is a folder"), std::string::npos);
  EXPECT_NE(error_of([&] { open_set({dir.file("folder/")}); }).find("names a folder"), std::string::npos);
  EXPECT_TRUE(fs::is_fifo(dir.file("fifo")));
  EXPECT_TRUE(fs::is_symlink(dir.file("link")));
  EXPECT_EQ(read_text_file(dir.file("real")), "keep");
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(CpuOutputSet, RefusesMissingFoldersAndEmptyNamesBeforeWork) {
  TempDir dir("hostile_out");
  EXPECT_NE(error_of([&] { open_set({""}); }).find("empty file name"), std::string::npos);
  EXPECT_NE(error_of([&] { open_set({dir.file("no/such/x.ckpt")}); }).find("No such file"), std::string::npos);
  std::ofstream(dir.file("plain")) << "x";
  EXPECT_NE(error_of([&] { open_set({dir.file("plain/x.ckpt")}); }).find("Not a directory"), std::string::npos);
  const std::string long_name(256, 'a');
  EXPECT_NE(error_of([&] { open_set({dir.file(long_name)}); }).find("file name too long"), std::string::npos);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
}

TEST(CpuOutputSet, RefusesTargetsThatAreTheSameFile) {
  TempDir dir("hostile_out");
  fs::create_directories(dir.file("sub"));
  ASSERT_EQ(::symlink(dir.file("sub").c_str(), dir.file("sublink").c_str()), 0);
  std::ofstream(dir.file("a.csv")) << "a";
  ASSERT_EQ(::link(dir.file("a.csv").c_str(), dir.file("hard.csv").c_str()), 0);
  auto err = [&](const std::string& a, const std::string& b) {
    return error_of([&] {
      OutputSet s;
      s.add(a, "--out");
      s.add(b, "--metrics");
      s.open();
    });
  };
  EXPECT_NE(err(dir.file("m.ckpt"), dir.file("m.ckpt")).find("is the same file as --out"), std::string::npos);
  EXPECT_NE(err(dir.file("m.ckpt"), dir.path + "/./m.ckpt").find("same file"), std::string::npos);
  EXPECT_NE(err(dir.file("sub/m.ckpt"), dir.file("sublink/m.ckpt")).find("same file"), std::string::npos);
  EXPECT_NE(err(dir.file("a.csv"), dir.file("hard.csv")).find("same file"), std::string::npos);
  EXPECT_EQ(err(dir.file("m.ckpt"), dir.file("m.csv")), "no error");
}

TEST(CpuOutputSet, TemporaryNamesFitTheNameLimit) {
  TempDir dir("hostile_out");
  const std::string stem(236, 's');  // + "_fractions.json": 251 bytes, a valid name
  const std::string target = dir.file(stem + "_fractions.json");
  const std::string temp = base_of(temp_path_for(target, 4194304));
  EXPECT_LE(temp.size(), kNameMax);
  EXPECT_NE(temp, base_of(temp_path_for(dir.file(stem + "_fractions.csv"), 4194304)));
  // A cut never splits a UTF-8 sequence: 2-byte characters throughout.
  std::string utf8;
  while (utf8.size() < 250) utf8 += "\xc3\xa9";
  const std::string t2 = base_of(temp_path_for(dir.file(utf8), 1));
  EXPECT_LE(t2.size(), kNameMax);
  const std::size_t tilde = t2.find('~');
  ASSERT_NE(tilde, std::string::npos);
  EXPECT_EQ(tilde % 2, 0u) << t2;
  OutputSet s;
  s.add(target, "output");
  s.open();
  s.stage(target, "{}\n");
  s.commit();
  EXPECT_EQ(read_text_file(target), "{}\n");
}

TEST(CpuOutputSet, RemovesStaleTemporaryFilesOfDeadProcessesOnly) {
  TempDir dir("hostile_out");
  const std::string target = dir.file("m.ckpt");
  const std::string stale = temp_path_for(target, dead_pid()), live = temp_path_for(target, long(::getppid()));
  std::ofstream(stale) << "old";
  std::ofstream(live) << "busy";
  std::ofstream(dir.file("m.ckpt.tmp.notapid")) << "x";
  {
    OutputSet s;
    s.add(target, "--out");
    s.open();
  }
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(dir.file("m.ckpt.tmp.notapid")));
}

// Single files written on their own (the data cache, bench JSON) clean up after killed writers too.
TEST(CpuOutputSet, AtomicFileRemovesStaleTemporaryFilesOfDeadProcessesOnly) {
  TempDir dir("hostile_out");
  const std::string target = dir.file("ucm.lcdata");
  const std::string stale = temp_path_for(target, dead_pid()), live = temp_path_for(target, long(::getppid()));
  std::ofstream(stale) << "old";
  std::ofstream(live) << "busy";
  write_file_atomic(target, std::string("new"));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_EQ(read_text_file(target), "new");
}

TEST(CpuOutputSet, SecondWriterIsRefusedWhileTheFirstHoldsTheLock) {
  TempDir dir("hostile_out");
  const std::string target = dir.file("m.ckpt");
  OutputSet first;
  first.add(target, "--out");
  first.open();
  const std::string e = error_of([&] { open_set({target}); });
  EXPECT_NE(e.find("another landcover process (pid " + std::to_string(::getpid()) + ")"), std::string::npos) << e;
  first.replace(target, "ckpt");
  EXPECT_EQ(read_text_file(target), "ckpt");
}

TEST(CpuOutputSet, LockIsReleasedAndItsFileRemoved) {
  TempDir dir("hostile_out");
  open_set({dir.file("m.ckpt")});
  open_set({dir.file("m.ckpt")});
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CpuOutputSet, FailedSetLeavesNoFileAndKeepsTheOldOnes) {
  TempDir dir("hostile_out");
  const std::string a = dir.file("a.png"), b = dir.file("b.png"), c = dir.file("c.csv");
  std::ofstream(c) << "previous";
  {
    OutputSet s;
    for (const auto& p : {a, b, c}) s.add(p, "output");
    s.open();
    s.stage(a, std::string(100, 'a'));
    set_atomic_write_fault_for_testing(10);
    EXPECT_THROW(s.stage(b, std::string(100, 'b')), Error);
    set_atomic_write_fault_for_testing(-1);
    EXPECT_THROW(s.stage(a, "again"), Error);  // each target once
    // The caller gives up: the set is released without commit.
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.csv"});
  EXPECT_EQ(read_text_file(c), "previous");
}

TEST(CpuOutputSet, FileSizeLimitAsAFullDiskLeavesNoPartialSet) {
  // A child process writes a set under RLIMIT_FSIZE (writes past the limit fail with EFBIG, as on a
  // full disk) and reports how it ended.
  TempDir dir("hostile_out");
  const std::string a = dir.file("x_classes.png"), b = dir.file("x_overlay.png"), c = dir.file("x_fractions.csv");
  const pid_t p = ::fork();
  if (p == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &rl);
    try {
      OutputSet s;
      for (const auto& x : {a, b, c}) s.add(x, "output");
      s.open();
      s.stage(a, std::string(1000, 'a'));
      s.stage(b, std::string(10000, 'b'));  // past the limit
      s.stage(c, std::string(10, 'c'));
      s.commit();
    } catch (const Error& e) {
      std::ofstream(dir.file("error.txt")) << e.what();
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(p, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_NE(read_text_file(dir.file("error.txt")).find("File too large"), std::string::npos)
      << read_text_file(dir.file("error.txt"));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"error.txt"});
}

TEST(CpuOutputSet, WriterThatNeedsAPathIsCommittedWithTheSet) {
  TempDir dir("hostile_out");
  const std::string tif = dir.file("x_classes.tif"), csv = dir.file("x_fractions.csv");
  {
    OutputSet s;
    s.add(tif, "output");
    s.add(csv, "output");
    s.open();
    const std::string temp = s.temp_path(tif);
    EXPECT_EQ(dir_of(temp), dir.path);
    std::ofstream(temp) << "II*\0";  // what an external writer (GDAL) would create
    s.stage(csv, "class\n");
    EXPECT_FALSE(fs::exists(tif));
    s.commit();
  }
  EXPECT_TRUE(fs::exists(tif));
  EXPECT_EQ(read_text_file(csv), "class\n");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"x_classes.tif", "x_fractions.csv"}));
  // Abandoned: the writer's file is removed, nothing appears.
  {
    OutputSet s;
    s.add(dir.file("y.tif"), "output");
    s.open();
    std::ofstream(s.temp_path(dir.file("y.tif"))) << "partial";
  }
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"x_classes.tif", "x_fractions.csv"}));
  // A writer that created nothing: commit fails naming the file, nothing appears.
  OutputSet s;
  s.add(dir.file("z.tif"), "output");
  s.open();
  (void)s.temp_path(dir.file("z.tif"));
  EXPECT_NE(error_of([&] { s.commit(); }).find("left no file"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("z.tif")));
}

}  // namespace
}  // namespace lc

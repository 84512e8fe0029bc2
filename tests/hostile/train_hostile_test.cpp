// `landcover train` and `bench` used carelessly or with hostile outputs (issue rows 1, 3, 4, 9, 11,
// 13): --out naming a device, FIFO or symbolic link; --metrics equal to --out; bad output locations
// found before the first epoch; stale temporary files of a killed run removed; an unfinished run's
// checkpoint (or any other file) never replaced by a fresh run; a second writer of the same --out
// refused; bench's bad --ops / --batch / --json; usage errors exit 2. Runs the built binary on a
// tiny generated data set (cpu backend, well under a second per run).
// Depends on: the landcover executable (LC_LANDCOVER_BIN), tests/hostile/hostile.h,
// model/checkpoint.h, model/output_set.h, GoogleTest, POSIX (mknod, mkfifo, mount).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "model/checkpoint.h"
#include "model/output_set.h"
#include "tests/hostile/hostile.h"

namespace lc {
namespace {

namespace fs = std::filesystem;
using hostile::q;
using test::read_text_file;
using test::run_logged;
using test::TempDir;
using test::dead_pid;

// Files in the folder other than the generated inputs.
std::vector<std::string> outputs_in(const TempDir& dir) {
  std::vector<std::string> out;
  for (const std::string& e : dir.entries())
    if (e != "data" && e != "tiny.json" && e != "log" && e != "ro") out.push_back(e);
  return out;
}

TEST(CpuHostileTrain, OutNamingDeviceFifoOrSymlinkIsRefused) {
  LC_NEED_BIN(bin);
  TempDir dir("hostile_train");
  hostile::make_tiny_dataset(dir);
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0644), 0);
  std::ofstream(dir.file("target")) << "keep";
  ASSERT_EQ(::symlink(dir.file("target").c_str(), dir.file("link").c_str()), 0);
  std::vector<std::string> nodes = {"fifo", "link"};
  if (::mknod(dir.file("null").c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0) nodes.push_back("null");
  for (const std::string& n : nodes) {
    SCOPED_TRACE(n);
    const int rc = run_logged(hostile::train_cmd(bin, dir) + " --out " + q(dir.file(n)), dir.file("log"));
    const std::string log = read_text_file(dir.file("log"));
    EXPECT_EQ(rc, 1) << log;
    EXPECT_NE(log.find("refusing to replace it"), std::string::npos) << log;
    EXPECT_EQ(log.find("epoch 1/"), std::string::npos) << log;
  }
  EXPECT_TRUE(fs::is_fifo(dir.file("fifo")));
  EXPECT_TRUE(fs::is_symlink(dir.file("link")));
  EXPECT_EQ(read_text_file(dir.file("target")), "keep");
  if (nodes.size() == 3) {
    EXPECT_TRUE(fs::is_character_file(dir.file("null")));
  }
  for (const std::string& e : dir.entries()) EXPECT_EQ(e.find("_metrics.csv"), std::string::npos) << e;
}

TEST(CpuHostileTrain, OutputsThatAreTheSameFileAreRefused) {
  LC_NEED_BIN(bin);
  TempDir dir("hostile_train");
  hostile::make_tiny_dataset(dir);
  const int rc = run_logged(hostile::train_cmd(bin, dir) + " --out " + q(dir.file("m.ckpt")) + " --metrics " +
                                q(dir.path + "/./m.ckpt"),
                            dir.file("log"));
  const std::string log = read_text_file(dir.file("log"));
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("is the same file as --out"), std::string::npos) << log;
  EXPECT_TRUE(outputs_in(dir).empty());
}

TEST(CpuHostileTrain, BadOutputLocationsFailBeforeTheFirstEpoch) {
  LC_NEED_BIN(bin);
  TempDir dir("hostile_train");
  hostile::make_tiny_dataset(dir);
  fs::create_directories(dir.file("o"));
  std::vector<std::pair<std::string, std::string>> cases = {
      {dir.file("o"), "is a folder"}, {"", "empty file name"}, {dir.file("missing/m.ckpt"), "No such file"}};
  // A read-only file system, where this test may mount one (root with mount rights).
  fs::create_directories(dir.file("ro"));
  const bool ro = ::mount("tmpfs", dir.file("ro").c_str(), "tmpfs", MS_RDONLY, "size=64k") == 0;
  if (ro) cases.push_back({dir.file("ro/m.ckpt"), "Read-only file system"});
  for (const auto& [out, why] : cases) {
    SCOPED_TRACE(out);
    const int rc = run_logged(hostile::train_cmd(bin, dir) + " --out " + q(out), dir.file("log"));
    const std::string log = read_text_file(dir.file("log"));
    EXPECT_EQ(rc, 1) << log;
    EXPECT_NE(log.find(why), std::string::npos) << log;
    EXPECT_EQ(log.find("epoch 1/"), std::string::npos) << log;
  }
  if (ro) ::umount(dir.file("ro").c_str());
  EXPECT_EQ(outputs_in(dir), std::vector<std::string>{"o"});
  EXPECT_TRUE(fs::is_empty(dir.file("o")));
}

TEST(CpuHostileTrain, StaleTempsGoAndUnfinishedRunsOrOtherFilesStay) {
  LC_NEED_BIN(bin);
  TempDir dir("hostile_train");
  hostile::make_tiny_dataset(dir);
  const std::string ckpt = dir.file("m.ckpt");
  const std::string stale = temp_path_for(ckpt, dead_pid());
  std::ofstream(stale) << "left by kill -9";
  ASSERT_EQ(run_logged(hostile::train_cmd(bin, dir) + " --out " + q(ckpt), dir.file("log")), 0)
      << read_text_file(dir.file("log"));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_EQ(outputs_in(dir), (std::vector<std::string>{"m.ckpt", "m_metrics.csv", "m_metrics_confusion.csv"}));

  // A finished run may be replaced; an unfinished one, or a file that is no checkpoint, not.
  Checkpoint ck = load_checkpoint(ckpt);
  for (auto& [k, v] : ck.meta)
    if (k == "complete") v = "0";
  save_checkpoint(dir.file("u.ckpt"), ck);
  std::ofstream(dir.file("notes.txt")) << "my notes";
  const std::string before = read_text_file(dir.file("u.ckpt"));
  for (const auto& [out, why] : {std::pair<std::string, std::string>{"u.ckpt", "holds an unfinished run"},
                                 {"notes.txt", "is not a readable landcover checkpoint"}}) {
    SCOPED_TRACE(out);
    const int rc = run_logged(hostile::train_cmd(bin, dir) + " --out " + q(dir.file(out)), dir.file("log"));
    const std::string log = read_text_file(dir.file("log"));
    EXPECT_EQ(rc, 1) << log;
    EXPECT_NE(log.find(why), std::string::npos) << log;
    EXPECT_EQ(log.find("epoch 1/"), std::string::npos) << log;
  }
  EXPECT_EQ(read_text_file(dir.file("u.ckpt")), before);
  EXPECT_EQ(read_text_file(dir.file("notes.txt")), "my notes");
  EXPECT_EQ(run_logged(hostile::train_cmd(bin, dir) + " --out " + q(ckpt), dir.file("log")), 0)
      << read_text_file(dir.file("log"));
}

TEST(CpuHostileTrain, SecondRunToTheSameOutIsRefused) {
  LC_NEED_BIN(bin);
  TempDir dir("hostile_train");
  hostile::make_tiny_dataset(dir);
  OutputSet running;  // stands for a first train run still writing m.ckpt
  running.add(dir.file("m.ckpt"), "--out");
  running.open();
  const int rc = run_logged(hostile::train_cmd(bin, dir) + " --out " + q(dir.file("m.ckpt")), dir.file("log"));
  const std::string log = read_text_file(dir.file("log"));
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("another landcover process (pid " + std::to_string(::getpid()) + ")"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir.file("m.ckpt")));
}

TEST(CpuHostileBench, BadOptionsFailBeforeAnyWork) {
  LC_NEED_BIN(bin);
  TempDir dir("hostile_bench");
  fs::create_directories(dir.file("d"));
  const std::string b = q(bin) + " bench --backend cpu --no-segment --repeats 1 --warmup 0 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--ops nosuchop", "--ops nosuchop matches no op"},
      {"--batch abc", "--batch values must be positive integers, got 'abc'"},
      {"--ops elu --batch 1 --json " + q(dir.file("d")), "--json " + dir.file("d") + ": is a folder"}};
  for (const auto& [args, why] : cases) {
    SCOPED_TRACE(args);
    const int rc = run_logged(b + args, dir.file("log"));
    const std::string log = read_text_file(dir.file("log"));
    EXPECT_EQ(rc, 1) << log;
    EXPECT_NE(log.find(why), std::string::npos) << log;
    EXPECT_EQ(log.find("validating"), std::string::npos) << log;
  }
}

TEST(CpuHostileUsage, BadUsageExitsWithTwo) {
  LC_NEED_BIN(bin);
  TempDir dir("hostile_usage");
  EXPECT_EQ(run_logged(q(bin) + " train --nosuch", dir.file("log")), 2) << read_text_file(dir.file("log"));
  EXPECT_EQ(run_logged(q(bin) + " train", dir.file("log")), 2) << read_text_file(dir.file("log"));
  EXPECT_EQ(run_logged(q(bin) + " train --data x --epochs abc", dir.file("log")), 2);
  EXPECT_EQ(run_logged(q(bin) + " nosuchcommand", dir.file("log")), 2);
  EXPECT_EQ(run_logged(q(bin), dir.file("log")), 2);
  EXPECT_EQ(run_logged(q(bin) + " --help", dir.file("log")), 0);
  EXPECT_EQ(run_logged(q(bin) + " --version", dir.file("log")), 0);
}

}  // namespace
}  // namespace lc

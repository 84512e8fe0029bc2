// `landcover data fetch` against a local HTTP server on 127.0.0.1 serving a generated EuroSAT-shaped
// zip (10 class folders, 2 tiny PNGs each): full download, a cut download resumed with Range, a
// corrupt archive, an archive with a `../` entry, a wrong --sha256, a stalling server, no server at
// all, an existing folder, `train --data eurosat`. Each ends with success or a one-line error, and
// the final folder is either complete or absent.
// Depends on: the landcover executable (LC_LANDCOVER_BIN), libarchive (writing the zip),
// stb_image_write (the PNGs), tests/support/files.h, POSIX sockets, sha256sum (coreutils).
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stb_image_write.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/files.h"

namespace {

namespace fs = std::filesystem;
using Entries = std::vector<std::pair<std::string, std::string>>;

std::string tiny_png(int seed) {
  std::vector<unsigned char> px(8 * 8 * 3);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(seed * 37 + i * 11);
  std::string out;
  stbi_write_png_to_func([](void* ctx, void* data, int n) { static_cast<std::string*>(ctx)->append((char*)data, n); },
                         &out, 8, 8, 3, px.data(), 8 * 3);
  return out;
}

// A zip of `entries` (name -> bytes), written with libarchive.
std::string make_zip(const Entries& entries, bool stored = false) {
  std::vector<char> buf(1 << 22);
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  if (stored) {
    EXPECT_EQ(archive_write_set_options(a, "zip:compression=store"), ARCHIVE_OK);
  }
  EXPECT_EQ(archive_write_open_memory(a, buf.data(), buf.size(), &used), ARCHIVE_OK);
  for (const auto& [name, bytes] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, la_int64_t(bytes.size()));
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << name;
    EXPECT_EQ(archive_write_data(a, bytes.data(), bytes.size()), la_ssize_t(bytes.size()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

const char* kClasses[] = {"AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
                          "Pasture",    "PermanentCrop", "Residential", "River", "SeaLake"};

Entries eurosat_entries() {
  Entries e;
  int k = 0;
  for (const char* c : kClasses)
    for (int i = 1; i <= 2; ++i) e.push_back({std::string("EuroSAT_RGB/") + c + "/" + c + "_" + std::to_string(i) + ".png", tiny_png(k++)});
  return e;
}

// A one-file HTTP/1.0 server on 127.0.0.1 that honours "Range: bytes=N-". Modes: cut the first
// full response after `cut_after` bytes (Content-Length still promises the whole file), stall
// after sending the headers and `cut_after` bytes until stopped, or ignore Range (as some servers do).
class Server {
 public:
  enum class Mode { normal, cut_once, stall, no_range };
  Server(std::string body, Mode mode = Mode::normal, std::size_t cut_after = 0)
      : body_(std::move(body)), mode_(mode), cut_after_(cut_after) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(fd_, (sockaddr*)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, (sockaddr*)&addr, &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::listen(fd_, 8), 0);
    thread_ = std::thread([this] { loop(); });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/EuroSAT_RGB.zip"; }
  std::vector<std::string> ranges() {  // the Range header of each request ("" when none)
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) serve(c);
      if (c >= 0) ::close(c);
    }
  }
  void serve(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, std::size_t(n));
    }
    std::string range;
    if (auto p = req.find("Range: bytes="); p != std::string::npos) range = req.substr(p + 13, req.find("\r\n", p) - p - 13);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ranges_.push_back(range);
    }
    if (mode_ == Mode::no_range) range.clear();  // answers 200 with the whole file
    std::size_t from = range.empty() ? 0 : std::stoul(range);
    std::string head = range.empty() ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.0 206 Partial Content\r\n";
    if (!range.empty())
      head += "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(body_.size() - 1) + "/" +
              std::to_string(body_.size()) + "\r\n";
    head += "Content-Length: " + std::to_string(body_.size() - from) + "\r\n\r\n";
    std::size_t end = body_.size();
    const bool cut = mode_ == Mode::stall || (mode_ == Mode::cut_once && !cut_done_);
    if (cut) end = std::min(end, from + cut_after_), cut_done_ = true;
    send_all(c, head);
    send_all(c, body_.substr(from, end - from));
    while (mode_ == Mode::stall && !stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  static void send_all(int c, const std::string& s) {
    for (std::size_t off = 0; off < s.size();) {
      const ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += std::size_t(n);
    }
  }
  std::string body_;
  Mode mode_;
  std::size_t cut_after_;
  bool cut_done_ = false;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> ranges_;
};

struct Fetch {
  lc::test::TempDir tmp{"fetch"};
  std::string bin, log;
  std::string dir() const { return tmp.file("eurosat"); }
  Fetch() {
    if (const char* b = std::getenv("LC_LANDCOVER_BIN")) bin = b;
  }
  int run(const std::string& url, const std::string& args) {
    const std::string env = "env no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 XDG_CACHE_HOME='" + tmp.file("cache") +
                            "' LC_EUROSAT_URL='" + url + "' LC_EUROSAT_EXPECT_IMAGES=20 ";
    const int rc = lc::test::run_logged(env + "'" + bin + "' data " + args, tmp.file("log.txt"));
    log = lc::test::read_text_file(tmp.file("log.txt"));
    return rc;
  }
  int fetch(const std::string& url, const std::string& extra = "") {
    return run(url, "fetch eurosat --dir '" + dir() + "' --timeout 2 --retries 0 " + extra);
  }
  // Nothing half-written: no final folder, no temporary unpack folder left next to it.
  void expect_nothing_under_final_name() {
    EXPECT_FALSE(fs::exists(dir())) << log;
    for (const auto& e : fs::directory_iterator(tmp.path))
      EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
  void expect_complete() {
    for (const char* c : kClasses) {
      const std::string f = dir() + "/EuroSAT_RGB/" + c + "/" + c + "_2.png";
      EXPECT_TRUE(fs::is_regular_file(f)) << f << "\n" << log;
    }
    EXPECT_TRUE(fs::exists(dir() + "/.landcover-dataset.json"));
    EXPECT_FALSE(fs::exists(dir() + ".download.zip.part"));
    EXPECT_FALSE(fs::exists(dir() + ".download.zip"));
  }
};

std::string sha256sum(const std::string& bytes, const std::string& path) {
  { std::ofstream(path, std::ios::binary) << bytes; }
  std::FILE* p = ::popen(("sha256sum '" + path + "'").c_str(), "r");
  char buf[65] = {0};
  if (p && std::fread(buf, 1, 64, p) != 64) buf[0] = 0;
  if (p) ::pclose(p);
  return buf;
}

#define NEED_BIN(f) \
  if ((f).bin.empty()) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)"

TEST(CpuDataFetch, FullDownloadChecksUnpacksPrintsSha256AndLists) {
  Fetch f;
  NEED_BIN(f);
  const std::string zip = make_zip(eurosat_entries());
  const std::string sum = sha256sum(zip, f.tmp.file("expected.zip"));
  ASSERT_EQ(sum.size(), 64u);
  Server s(zip);
  ASSERT_EQ(f.fetch(s.url(), "--sha256 " + sum), 0) << f.log;
  f.expect_complete();
  EXPECT_NE(f.log.find("10 classes, 20 images"), std::string::npos) << f.log;
  EXPECT_NE(f.log.find("SHA-256: " + sum), std::string::npos) << f.log;
  // A second fetch finds it and downloads nothing.
  ASSERT_EQ(f.fetch(s.url()), 0) << f.log;
  EXPECT_NE(f.log.find("already fetched"), std::string::npos) << f.log;
  EXPECT_EQ(s.ranges().size(), 1u);
  // The same archive from a file, into the default cache folder; `data list` shows it.
  ASSERT_EQ(f.run("http://127.0.0.1:1/none", "fetch eurosat --from-file '" + f.tmp.file("expected.zip") + "'"), 0)
      << f.log;
  ASSERT_EQ(f.run("", "list"), 0) << f.log;
  EXPECT_NE(f.log.find(f.tmp.file("cache") + "/landcover/datasets/eurosat_rgb"), std::string::npos) << f.log;
  EXPECT_NE(f.log.find(sum), std::string::npos) << f.log;
}

TEST(CpuDataFetch, CutDownloadIsResumedWithRange) {
  Fetch f;
  NEED_BIN(f);
  const std::string zip = make_zip(eurosat_entries());
  const std::size_t half = zip.size() / 2;
  Server s(zip, Server::Mode::cut_once, half);
  EXPECT_NE(f.fetch(s.url()), 0) << f.log;  // no retries: the cut ends this run
  EXPECT_NE(f.log.find("run again to resume"), std::string::npos) << f.log;
  f.expect_nothing_under_final_name();
  ASSERT_EQ(fs::file_size(f.dir() + ".download.zip.part"), half);
  ASSERT_EQ(f.fetch(s.url()), 0) << f.log;
  f.expect_complete();
  const auto r = s.ranges();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], "");
  EXPECT_EQ(r[1], std::to_string(half) + "-");
  // The content is the served archive, byte for byte: its SHA-256 was printed.
  EXPECT_NE(f.log.find(sha256sum(zip, f.tmp.file("expected.zip"))), std::string::npos) << f.log;
}

TEST(CpuDataFetch, RetryWithinOneRunResumes) {
  Fetch f;
  NEED_BIN(f);
  const std::string zip = make_zip(eurosat_entries());
  Server s(zip, Server::Mode::cut_once, zip.size() / 3);
  ASSERT_EQ(f.run(s.url(), "fetch eurosat --dir '" + f.dir() + "' --timeout 2 --retries 1"), 0) << f.log;
  f.expect_complete();
  const auto r = s.ranges();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1], std::to_string(zip.size() / 3) + "-");
}

// Deflated entries fail to inflate; stored ones are caught only by their CRC-32 (libarchive reports a
// bad CRC as a mere warning).
TEST(CpuDataFetch, CorruptArchiveIsAnErrorAndRemoved) {
  for (const bool stored : {false, true}) {
    Fetch f;
    NEED_BIN(f);
    std::string zip = make_zip(eurosat_entries(), stored);
    for (std::size_t i = zip.size() / 3; i < zip.size() / 3 + 64; ++i) zip[i] = char(~zip[i]);
    Server s(zip);
    EXPECT_EQ(f.fetch(s.url()), 1) << f.log;
    EXPECT_NE(f.log.find("landcover: error: " + f.dir() + ".download.zip: corrupt archive"), std::string::npos)
        << f.log;
    EXPECT_NE(f.log.find("removed"), std::string::npos) << f.log;
    f.expect_nothing_under_final_name();
    EXPECT_FALSE(fs::exists(f.dir() + ".download.zip"));
  }
}

TEST(CpuDataFetch, EntriesEscapingTheFolderAreRejected) {
  Fetch f;
  NEED_BIN(f);
  for (const std::string bad : {"EuroSAT_RGB/../../escaped.png", "/tmp/lc_fetch_absolute.png"}) {
    Entries e = eurosat_entries();
    e.insert(e.begin() + 3, {bad, tiny_png(99)});
    { std::ofstream(f.tmp.file("bad.zip"), std::ios::binary) << make_zip(e); }
    EXPECT_EQ(f.run("http://127.0.0.1:1/none", "fetch eurosat --dir '" + f.dir() + "' --from-file '" +
                                                    f.tmp.file("bad.zip") + "'"),
              1)
        << f.log;
    EXPECT_NE(f.log.find("unsafe archive: entry '" + bad + "'"), std::string::npos) << f.log;
    f.expect_nothing_under_final_name();
    EXPECT_TRUE(fs::exists(f.tmp.file("bad.zip")));  // a user's file is never removed
  }
  EXPECT_FALSE(fs::exists(fs::path(f.tmp.path).parent_path() / "escaped.png"));
  EXPECT_FALSE(fs::exists("/tmp/lc_fetch_absolute.png"));
}

TEST(CpuDataFetch, WrongSha256IsAnError) {
  Fetch f;
  NEED_BIN(f);
  Server s(make_zip(eurosat_entries()));
  EXPECT_EQ(f.fetch(s.url(), "--sha256 " + std::string(64, 'a')), 1) << f.log;
  EXPECT_NE(f.log.find("expected " + std::string(64, 'a')), std::string::npos) << f.log;
  f.expect_nothing_under_final_name();
  EXPECT_FALSE(fs::exists(f.dir() + ".download.zip"));
}

TEST(CpuDataFetch, StallingServerTimesOut) {
  Fetch f;
  NEED_BIN(f);
  const std::string zip = make_zip(eurosat_entries());
  Server s(zip, Server::Mode::stall, 100);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(f.run(s.url(), "fetch eurosat --dir '" + f.dir() + "' --timeout 1 --retries 0"), 1) << f.log;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 30.0);  // not a speed target: it must not hang
  EXPECT_NE(f.log.find("download failed"), std::string::npos) << f.log;
  f.expect_nothing_under_final_name();
}

TEST(CpuDataFetch, OfflineSaysWhereToPutTheArchive) {
  Fetch f;
  NEED_BIN(f);
  EXPECT_EQ(f.fetch("http://127.0.0.1:1/EuroSAT_RGB.zip"), 1) << f.log;
  EXPECT_NE(f.log.find("--from-file EuroSAT_RGB.zip"), std::string::npos) << f.log;
  EXPECT_EQ(std::count(f.log.begin(), f.log.end(), '\n'), 1) << f.log;
  f.expect_nothing_under_final_name();
}

}  // namespace

TEST(CpuDataFetch, AnExistingFolderIsNeverOverwritten) {
  Fetch f;
  NEED_BIN(f);
  fs::create_directories(f.dir() + "/mine");
  Server s(make_zip(eurosat_entries()));
  EXPECT_EQ(f.fetch(s.url()), 1) << f.log;
  EXPECT_NE(f.log.find("is not a data set fetched by landcover"), std::string::npos) << f.log;
  EXPECT_TRUE(fs::is_directory(f.dir() + "/mine"));
  EXPECT_TRUE(s.ranges().empty());  // nothing downloaded
}

TEST(CpuDataFetch, TrainDataEurosatFetchesTheCopyFirst) {
  Fetch f;
  NEED_BIN(f);
  Server s(make_zip(eurosat_entries()));
  const std::string env = "cd '" + f.tmp.path + "' && env no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 XDG_CACHE_HOME='" +
                          f.tmp.file("cache") + "' LC_EUROSAT_URL='" + s.url() + "' LC_EUROSAT_EXPECT_IMAGES=20 ";
  const int rc = lc::test::run_logged(env + "'" + f.bin + "' train --data eurosat --epochs 1 --batch 4 --backend cpu --out '" +
                                          f.tmp.file("m.ckpt") + "'",
                                      f.tmp.file("train.log"));
  const std::string log = lc::test::read_text_file(f.tmp.file("train.log"));
  ASSERT_EQ(rc, 0) << log;
  EXPECT_TRUE(fs::exists(f.tmp.file("m.ckpt"))) << log;
  EXPECT_TRUE(fs::exists(f.tmp.file("cache") + "/landcover/datasets/eurosat_rgb/.landcover-dataset.json")) << log;
  EXPECT_EQ(s.ranges().size(), 1u);
  EXPECT_NE(log.find("10 classes"), std::string::npos) << log;
}

TEST(CpuDataFetch, OneFetchPerFolderAndLeftoversOfAKilledOneAreRemoved) {
  Fetch f;
  NEED_BIN(f);
  Server s(make_zip(eurosat_entries()));
  const int fd = ::open((f.dir() + ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // as a running fetch holds it
  EXPECT_EQ(f.fetch(s.url()), 1) << f.log;
  EXPECT_NE(f.log.find("another landcover data fetch is writing"), std::string::npos) << f.log;
  EXPECT_TRUE(s.ranges().empty());
  ::close(fd);
  fs::create_directories(f.dir() + ".tmp-Killed/EuroSAT_RGB/Forest");  // what a killed fetch leaves
  ASSERT_EQ(f.fetch(s.url()), 0) << f.log;
  f.expect_complete();
  EXPECT_FALSE(fs::exists(f.dir() + ".tmp-Killed"));
}

TEST(CpuDataFetch, AServerWithoutRangeRestartsThePartialDownload) {
  Fetch f;
  NEED_BIN(f);
  const std::string zip = make_zip(eurosat_entries());
  Server s(zip, Server::Mode::no_range);
  { std::ofstream(f.dir() + ".download.zip.part", std::ios::binary) << std::string(100, 'x'); }
  ASSERT_EQ(f.fetch(s.url()), 0) << f.log;
  f.expect_complete();
  const auto r = s.ranges();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], "100-");
  EXPECT_EQ(r[1], "");
  EXPECT_NE(f.log.find(sha256sum(zip, f.tmp.file("expected.zip"))), std::string::npos) << f.log;
}

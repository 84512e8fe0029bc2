// Data set fetching: libcurl download with resume and retries, libarchive extraction with path
// checks, layout check, atomic move into place (see model/fetch.h).
#include "model/fetch.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "model/checkpoint.h"
#include "model/dataset.h"

namespace fs = std::filesystem;

namespace lc {

std::vector<KnownDataset> known_datasets() {
  KnownDataset eurosat;
  eurosat.name = "eurosat";
  eurosat.folder = "eurosat_rgb";
  eurosat.archive_name = "EuroSAT_RGB.zip";
  // Zenodo record 7711810 (the RGB archive), then the original host.
  eurosat.urls = {"https://zenodo.org/records/7711810/files/EuroSAT_RGB.zip?download=1",
                  "https://madm.dfki.de/files/sentinel/EuroSAT.zip"};
  if (const char* u = std::getenv("LC_EUROSAT_URL"); u && *u) eurosat.urls = {u};
  eurosat.classes = 10;
  eurosat.images = 27000;
  // Tests serve a small EuroSAT-shaped archive; they state its image count here.
  if (const char* n = std::getenv("LC_EUROSAT_EXPECT_IMAGES"); n && *n) eurosat.images = std::atoll(n);
  eurosat.description = "EuroSAT RGB: 27,000 Sentinel-2 64x64 JPEGs, 10 classes";
  return {eurosat};
}

KnownDataset known_dataset(const std::string& name) {
  std::string names;
  for (const KnownDataset& d : known_datasets()) {
    if (d.name == name) return d;
    names += (names.empty() ? "" : ", ") + d.name;
  }
  throw Error("unknown data set '" + name + "' (known: " + names + ")");
}

std::string datasets_dir() {
  const std::string cache = default_cache_dir();
  if (cache.empty()) throw Error("neither XDG_CACHE_HOME nor HOME is set: give the folder with --dir");
  return cache + "/datasets";
}

// ---- download ----

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

struct Transfer {
  std::FILE* file = nullptr;
  std::int64_t offset = 0;  // bytes already in the file when the request started
  const DownloadOptions* options = nullptr;
};

size_t write_cb(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  return std::fwrite(data, size, n, t->file) * size;
}

int progress_cb(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->options->progress) t->options->progress(t->offset + now, total > 0 ? t->offset + total : 0, t->offset);
  return 0;
}

std::int64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : std::int64_t(n);
}

enum class Outcome { done, retry, restart, next_url, unreachable };

// One request for `url`, appending to `part` from its current size. `error` gets libcurl's message.
Outcome attempt(const std::string& url, const std::string& part, const DownloadOptions& o, std::string& error) {
  Transfer t;
  t.options = &o;
  t.offset = file_size_or_zero(part);
  t.file = std::fopen(part.c_str(), "ab");
  if (!t.file) throw Error("cannot write " + part);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "landcover-fetch");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
  curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, curl_off_t(t.offset));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(c);
  const bool flushed = std::fclose(t.file) == 0;
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (rc == CURLE_OK) {
    if (!flushed) throw Error("cannot write " + part + " (disk full?)");
    return Outcome::done;
  }
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return Outcome::unreachable;
    case CURLE_RANGE_ERROR:  // the server ignores Range: start again from byte 0
      return Outcome::restart;
    case CURLE_WRITE_ERROR:
      throw Error("cannot write " + part + ": " + error);
    case CURLE_HTTP_RETURNED_ERROR:
      if (http == 416) return Outcome::restart;  // our part is longer than the file
      if (http >= 500) return Outcome::retry;
      return Outcome::next_url;
    default:  // timeouts, cut connections, TLS hiccups
      return Outcome::retry;
  }
}

void wait_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

}  // namespace

std::string download_file(const std::vector<std::string>& urls, const std::string& dest, const DownloadOptions& o) {
  static CurlGlobal global;
  const std::string part = dest + ".part";
  auto note = [&](const std::string& s) {
    if (o.note) o.note(s);
  };
  std::string last;
  bool reached_any = false;
  for (const std::string& url : urls) {
    double backoff = o.backoff_s;
    for (int tries = 0;; ++tries) {
      if (const std::int64_t have = file_size_or_zero(part); have > 0)
        note("resuming " + part + " at byte " + std::to_string(have));
      std::string error;
      const Outcome r = attempt(url, part, o, error);
      if (r == Outcome::done) {
        fs::rename(part, dest);
        return url;
      }
      last = url + ": " + error;
      if (r != Outcome::unreachable) reached_any = true;
      if (r == Outcome::restart) {  // no Range support, or a stale part: from byte 0, not a retry
        fs::remove(part);          // (ends: without a part no Range is sent)
        note("the server cannot resume " + part + ": downloading it from the start");
        --tries;
        continue;
      }
      // No server at all (offline, DNS down): on to the next URL at once, no waiting.
      if (r == Outcome::next_url || r == Outcome::unreachable || tries >= o.retries) break;
      note("download failed (" + last + "); retry " + std::to_string(tries + 1) + "/" + std::to_string(o.retries) +
           " in " + std::to_string(int(backoff + 0.5)) + " s");
      wait_s(backoff);
      backoff *= 2;
    }
  }
  if (!reached_any) throw OfflineError("cannot reach " + last);
  throw Error("download failed: " + last + " (the partial file " + part + " is kept; run again to resume)");
}

// ---- SHA-256 ----

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw Error("OpenSSL: SHA-256 unavailable");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), size_t(in.gcount()));
  }
  if (in.bad()) throw Error("cannot read " + path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// ---- extraction ----

namespace {

// Why an entry may not be unpacked ("" when it may).
std::string unsafe_entry(archive_entry* e) {
  const char* p = archive_entry_pathname(e);
  if (!p || !*p) return "an entry without a name";
  const std::string name = p;
  if (name[0] == '/' || name[0] == '\\' || (name.size() > 1 && name[1] == ':'))
    return "entry '" + name + "' has an absolute path";
  for (const auto& part : fs::path(name))
    if (part == "..") return "entry '" + name + "' escapes the target folder ('..')";
  if (archive_entry_hardlink(e) || archive_entry_symlink(e)) return "entry '" + name + "' is a link";
  const auto type = archive_entry_filetype(e);
  if (type != AE_IFREG && type != AE_IFDIR) return "entry '" + name + "' is not a file or folder";
  return "";
}

}  // namespace

std::int64_t extract_archive(const std::string& archive_path, const std::string& target) {
  std::unique_ptr<archive, int (*)(archive*)> in(archive_read_new(), archive_read_free);
  std::unique_ptr<archive, int (*)(archive*)> out(archive_write_disk_new(), archive_write_free);
  archive_read_support_format_all(in.get());
  archive_read_support_filter_all(in.get());
  // Entry names are checked by unsafe_entry; the written paths are `target` + name, so absolute.
  archive_write_disk_set_options(out.get(),
                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_TIME);
  auto fail = [&](archive* a, const std::string& what) -> Error {
    const char* msg = archive_error_string(a);
    return Error(archive_path + ": " + what + (msg ? std::string(": ") + msg : ""));
  };
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw fail(in.get(), "not a readable archive");
  std::int64_t entries = 0;
  for (;;) {
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) throw fail(in.get(), "corrupt archive");
    if (const std::string why = unsafe_entry(e); !why.empty()) throw Error(archive_path + ": unsafe archive: " + why);
    const std::string dest = target + "/" + archive_entry_pathname(e);
    archive_entry_set_pathname(e, dest.c_str());
    archive_entry_set_perm(e, archive_entry_filetype(e) == AE_IFDIR ? 0755 : 0644);
    if (archive_write_header(out.get(), e) < ARCHIVE_WARN) throw fail(out.get(), "cannot unpack to " + dest);
    const void* buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
      const int d = archive_read_data_block(in.get(), &buf, &size, &offset);
      if (d == ARCHIVE_EOF) break;
      if (d != ARCHIVE_OK) throw fail(in.get(), "corrupt archive");  // a bad CRC is only ARCHIVE_WARN
      if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_WARN)
        throw fail(out.get(), "cannot write " + dest);
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) throw fail(out.get(), "cannot write " + dest);
    ++entries;
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) throw fail(out.get(), "cannot finish unpacking");
  if (entries == 0) throw Error(archive_path + ": the archive is empty");
  return entries;
}

// ---- fetch ----

namespace {

// An exclusive lock on `<dir>.lock` for the whole fetch: a second fetch into the same folder would
// append to the same partial download. Holding it, leftovers of a killed fetch (`<dir>.tmp-*`
// folders) can be removed safely.
struct FetchLock {
  int fd = -1;
  explicit FetchLock(const std::string& dir) {
    const std::string path = dir + ".lock";
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("cannot create " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      throw Error("another landcover data fetch is writing " + dir + " (lock " + path + ")");
    }
    const std::string prefix = fs::path(dir).filename().string() + ".tmp-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(dir).parent_path(), ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(e.path(), ec);
  }
  ~FetchLock() { ::close(fd); }
  FetchLock(const FetchLock&) = delete;
  FetchLock& operator=(const FetchLock&) = delete;
};

// Removes a temporary folder unless released.
struct TempFolder {
  std::string path;
  ~TempFolder() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The unpacked folder checked against `ds`: counts returned in `r`.
void check_layout(const KnownDataset& ds, const std::string& folder, const FetchOptions& o, FetchResult& r) {
  DatasetOptions dopt;
  dopt.use_cache = false;
  dopt.image_size = 8;  // every file is decoded in full; small copies keep the memory low
  dopt.progress = o.check_progress;
  dopt.warn = [](const std::string&) {};  // undecodable files are reported below, all together
  dopt.note = [](const std::string&) {};  // "decoding N images from <temporary folder>": noise here
  Dataset d = load_dataset(folder, dopt);
  if (!d.skipped.empty())
    throw Error("holds " + std::to_string(d.skipped.size()) + " images that do not decode, e.g. " +
                d.skipped.front());
  r.classes = d.num_classes();
  r.images = std::int64_t(d.size());
  if (ds.classes > 0 && r.classes != ds.classes)
    throw Error("holds " + std::to_string(r.classes) + " class folders, " + ds.name + " has " +
                std::to_string(ds.classes));
  if (ds.images > 0 && r.images != ds.images)
    throw Error("holds " + std::to_string(r.images) + " images, " + ds.name + " has " +
                std::to_string(ds.images));
}

}  // namespace

FetchResult fetch_dataset(const KnownDataset& ds, const FetchOptions& o) {
  FetchResult r;
  r.dir = fs::absolute(o.dir.empty() ? datasets_dir() + "/" + ds.folder : o.dir).lexically_normal().string();
  while (r.dir.size() > 1 && r.dir.back() == '/') r.dir.pop_back();
  if (fs::exists(r.dir)) {
    if (!fs::exists(r.dir + "/" + kMarkerName))
      throw Error(r.dir + " exists and is not a data set fetched by landcover: remove it or choose another --dir");
    r.already_present = true;
    return r;
  }
  const fs::path parent = fs::path(r.dir).parent_path();
  fs::create_directories(parent);
  const FetchLock lock(r.dir);
  std::string archive = o.from_file, source;
  if (!archive.empty()) {
    if (!fs::is_regular_file(archive)) throw Error("cannot read " + archive + ": no such file");
    source = fs::absolute(archive).string();
  } else {
    archive = r.dir + ".download.zip";
    source = ds.urls.front();  // unknown when a complete download of an earlier run is reused
    if (!fs::exists(archive)) source = download_file(ds.urls, archive, o.download);
  }
  // A downloaded archive that fails a check is removed so that the next run downloads it again.
  const bool downloaded = o.from_file.empty();
  auto discard = [&](const Error& e) -> Error {
    if (!downloaded) return e;
    std::error_code ec;
    fs::remove(archive, ec);
    return Error(std::string(e.what()) + " (the downloaded archive was removed)");
  };
  r.archive_bytes = file_size_or_zero(archive);
  r.sha256 = sha256_file(archive);
  if (!o.sha256.empty() && lower(o.sha256) != r.sha256)
    throw discard(Error(archive + ": SHA-256 is " + r.sha256 + ", expected " + lower(o.sha256)));
  TempFolder tmp;
  std::string tmpl = (parent / (fs::path(r.dir).filename().string() + ".tmp-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw Error("cannot create a folder in " + parent.string());
  tmp.path = tmpl;
  try {
    extract_archive(archive, tmp.path);
  } catch (const Error& e) {
    throw discard(e);
  }
  try {
    check_layout(ds, tmp.path, o, r);
  } catch (const Error& e) {
    throw discard(Error(archive + ": " + e.what()));
  }
  const nlohmann::json marker = {{"dataset", ds.name},   {"source", source},    {"sha256", r.sha256},
                                 {"archive_bytes", r.archive_bytes}, {"classes", r.classes}, {"images", r.images}};
  write_file_atomic(tmp.path + "/" + kMarkerName, marker.dump(2) + "\n");
  fs::rename(tmp.path, r.dir);
  tmp.path.clear();
  if (downloaded) fs::remove(archive);
  return r;
}

std::vector<FetchedDataset> list_fetched(const std::string& root_in) {
  const std::string root = root_in.empty() ? datasets_dir() : root_in;
  std::vector<FetchedDataset> out;
  for (const KnownDataset& ds : known_datasets()) {
    const std::string dir = root + "/" + ds.folder;
    std::ifstream in(dir + "/" + kMarkerName);
    if (!in) continue;
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) continue;
    FetchedDataset f;
    f.name = ds.name;
    f.dir = dir;
    f.source = j.value("source", "");
    f.sha256 = j.value("sha256", "");
    f.classes = j.value("classes", 0);
    f.images = j.value("images", std::int64_t(0));
    out.push_back(f);
  }
  return out;
}

}  // namespace lc

// Fetching a public data set (EuroSAT RGB): download with libcurl, integrity and safety checks while
// unpacking with libarchive, a layout check with the data set loader, and an atomic move into place.
//
// Download (download_file): the URLs are tried in order; each with up to `retries` retries after a
// transient failure (timeout, cut connection, HTTP 5xx; a host that cannot be resolved or connected
// to is not retried: the next URL is tried at once), waiting backoff_s, 2*backoff_s,
// 4*backoff_s ... in between. Bytes go to `<dest>.part`; a retry, and a later run, resumes that file
// with an HTTP Range request (a server that ignores Range restarts it from byte 0). Only a complete
// download is renamed to `dest`. A transfer slower than 1 byte/s for `stall_timeout_s` is a timeout.
// Proxies: libcurl honours http_proxy, https_proxy, all_proxy and no_proxy from the environment
// (its default behaviour; nothing here overrides it).
//
// Unpacking (extract_archive): every entry name is checked first: an absolute name, a `..`
// component, a link or a device entry is an error naming the entry. libarchive's secure-extraction
// flags are set as well. A corrupt archive (bad CRC, truncated, not an archive) is an error naming
// the archive.
//
// fetch_dataset: archive (downloaded, or options.from_file) -> SHA-256 (OpenSSL libcrypto), compared
// with options.sha256 when given -> unpacked into a fresh `<dir>.tmp-XXXXXX` next to `dir` -> layout
// checked (model/dataset.h's loader: class folders, every image decodable, the expected class and
// image counts) -> a marker file (kMarkerName: source, SHA-256, counts) written -> the folder
// renamed to `dir`. The whole fetch holds an exclusive lock on `<dir>.lock` (flock): a second fetch
// into the same folder is an error; the first removes `<dir>.tmp-*` left by a killed fetch. Any
// failure removes the temporary folder: `dir` either does not exist or holds
// a complete, checked data set. A downloaded archive that fails a check is deleted (so the next run
// downloads it again); one given with from_file is never touched.
//
// Depends on: libcurl, libarchive, OpenSSL libcrypto (EVP SHA-256), POSIX flock, model/dataset.h,
// model/checkpoint.h (atomic file writes), nlohmann_json, kernels/common/check.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/common/check.h"

namespace lc {

// The marker file fetch_dataset writes into a fetched data set folder (JSON).
inline constexpr const char* kMarkerName = ".landcover-dataset.json";

// A data set `landcover data fetch` knows.
struct KnownDataset {
  std::string name;                // "eurosat"
  std::string folder;              // folder name under the datasets cache: "eurosat_rgb"
  std::string archive_name;        // "EuroSAT_RGB.zip"
  std::vector<std::string> urls;   // tried in order
  int classes = 0;                 // expected class folders
  std::int64_t images = 0;         // expected images
  std::string description;
};
// The known data sets. EuroSAT's URL list is replaced by $LC_EUROSAT_URL when set (tests, mirrors),
// its expected image count by $LC_EUROSAT_EXPECT_IMAGES (tests serving a small EuroSAT-shaped zip).
std::vector<KnownDataset> known_datasets();
// The one named `name`; throws lc::Error listing the known names otherwise.
KnownDataset known_dataset(const std::string& name);

// $XDG_CACHE_HOME/landcover/datasets, else $HOME/.cache/landcover/datasets; throws when neither
// variable is set.
std::string datasets_dir();

struct DownloadOptions {
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;   // abort when under 1 byte/s for this long
  int retries = 4;             // per URL, after the first attempt
  double backoff_s = 1.0;      // first wait; doubled after each retry
  // Bytes so far (including a resumed part), the total (0 when unknown), and where this request
  // started (the size of the resumed part; 0 for a fresh download).
  std::function<void(std::int64_t done, std::int64_t total, std::int64_t resumed_at)> progress;
  std::function<void(const std::string&)> note;  // retries, resumes, URL fallbacks
};

// Thrown by download_file when no URL could be reached at all (resolve or connect failures only).
struct OfflineError : Error {
  using Error::Error;
};

// Downloads to `dest` (see above). Throws OfflineError when no URL could be reached, lc::Error for
// any other failure (HTTP error, too many retries), naming the URL. Returns the URL that served it.
std::string download_file(const std::vector<std::string>& urls, const std::string& dest,
                   const DownloadOptions& options);

// Lowercase hex SHA-256 of a file's bytes.
std::string sha256_file(const std::string& path);

// Unpacks `archive` into the existing folder `target` (see above); returns the number of entries.
std::int64_t extract_archive(const std::string& archive, const std::string& target);

struct FetchOptions {
  std::string dir;        // the final data set folder; "": datasets_dir()/<folder>
  std::string from_file;  // use this local archive instead of downloading
  std::string sha256;     // expected archive SHA-256 (hex, any case); "": not pinned
  DownloadOptions download;
  std::function<void(std::size_t done, std::size_t total)> check_progress;  // decoding for the check
};

struct FetchResult {
  std::string dir;      // the data set folder
  std::string sha256;   // of the archive
  std::int64_t archive_bytes = 0;
  int classes = 0;
  std::int64_t images = 0;
  bool already_present = false;  // `dir` already held a fetched copy; nothing was done
};

FetchResult fetch_dataset(const KnownDataset& ds, const FetchOptions& options);

// A fetched copy found under datasets_dir() (its marker file read back).
struct FetchedDataset {
  std::string name, dir, source, sha256;
  int classes = 0;
  std::int64_t images = 0;
};
// The known data sets fetched under `root` (datasets_dir() when ""), in known_datasets() order.
std::vector<FetchedDataset> list_fetched(const std::string& root = "");

}  // namespace lc

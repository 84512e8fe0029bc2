// `landcover data fetch NAME [--dir DIR] [--sha256 HEX] [--from-file ARCHIVE]` and `landcover data
// list`: download (or take a local archive), check and unpack a public data set (model/fetch.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "tools/command.h"
#include "tools/data_fetch.h"
#include "tools/progress.h"

namespace {

struct FetchArgs {
  std::string name, dir, sha256, from_file;
  long timeout_s = 60;
  int retries = 4;
};

void note(const std::string& s) { std::fprintf(stderr, "landcover: %s\n", s.c_str()); }

void run_fetch(const FetchArgs& a) {
  lc::FetchOptions o;
  o.dir = a.dir;
  o.sha256 = a.sha256;
  o.from_file = a.from_file;
  o.download.stall_timeout_s = a.timeout_s;
  o.download.retries = a.retries;
  const lc::FetchResult r = lc::tools::fetch_with_progress(a.name, o);
  if (r.already_present) {
    std::printf("%s is already fetched in %s (remove that folder to fetch it again)\n", a.name.c_str(), r.dir.c_str());
    return;
  }
  std::printf("%s: %d classes, %lld images in %s\n", a.name.c_str(), r.classes, static_cast<long long>(r.images),
              r.dir.c_str());
  std::printf("archive SHA-256: %s (%lld bytes)\n", r.sha256.c_str(), static_cast<long long>(r.archive_bytes));
}

void run_list(const std::string& root) {
  const std::string dir = root.empty() ? lc::datasets_dir() : root;
  const auto fetched = lc::list_fetched(dir);
  if (fetched.empty()) std::printf("no data set fetched in %s\n", dir.c_str());
  for (const lc::FetchedDataset& f : fetched)
    std::printf("%-10s %s  (%d classes, %lld images, archive SHA-256 %s, from %s)\n", f.name.c_str(), f.dir.c_str(),
                f.classes, static_cast<long long>(f.images), f.sha256.c_str(), f.source.c_str());
  for (const lc::KnownDataset& d : lc::known_datasets()) {
    bool have = false;
    for (const auto& f : fetched) have = have || f.name == d.name;
    if (!have) std::printf("%-10s not fetched (landcover data fetch %s): %s\n", d.name.c_str(), d.name.c_str(),
                           d.description.c_str());
  }
}

}  // namespace

namespace lc::tools {

FetchResult fetch_with_progress(const std::string& name, const FetchOptions& options) {
  const KnownDataset ds = known_dataset(name);
  FetchOptions o = options;
  o.download.note = note;
  // Created once the size is known, in KiB; counts only this run's bytes (a resumed part is `base`)
  // so that the rate and the ETA are true.
  std::unique_ptr<Progress> bar;
  std::int64_t base = 0;
  o.download.progress = [&](std::int64_t done, std::int64_t total, std::int64_t resumed_at) {
    if (!bar && total == 0) return;
    if (!bar) {
      base = resumed_at;
      const std::string resumed = base > 0 ? " (resumed at " + std::to_string(base / 1024) + " KiB)" : "";
      bar = std::make_unique<Progress>("download " + ds.archive_name + resumed, (total - base) / 1024, "KiB");
    }
    bar->update((done - base) / 1024);
  };
  std::unique_ptr<Progress> check;
  o.check_progress = [&](std::size_t done, std::size_t total) {
    if (!check) {
      if (bar) bar->finish();
      check = std::make_unique<Progress>("check images", std::int64_t(total));
    }
    check->update(std::int64_t(done));
  };
  try {
    FetchResult r = fetch_dataset(ds, o);
    if (check) check->finish();
    return r;
  } catch (const OfflineError& e) {
    const std::string dir = o.dir.empty() ? "" : " --dir " + o.dir;
    throw Error(std::string(e.what()) + ": offline? Download " + ds.archive_name + " from " + ds.urls.front() +
                " on another machine, copy it into the current folder and run: landcover data fetch " + ds.name +
                " --from-file " + ds.archive_name + dir);
  }
}

std::string fetched_dataset_dir(const std::string& name) {
  const KnownDataset ds = known_dataset(name);
  const std::string dir = datasets_dir() + "/" + ds.folder;
  if (!std::filesystem::exists(dir + "/" + kMarkerName)) {
    note(name + " is not fetched yet: fetching it into " + dir);
    fetch_with_progress(name, {});
  }
  return dir;
}

}  // namespace lc::tools

namespace {

void setup(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Fetch public data sets into the user cache and list them");
  data->require_subcommand(1);
  auto args = std::make_shared<FetchArgs>();
  auto* fetch = data->add_subcommand("fetch", "Download, check and unpack a data set (eurosat)");
  fetch->add_option("name", args->name, "Data set: eurosat")->required();
  fetch->add_option("--dir", args->dir, "Target folder (default: $XDG_CACHE_HOME/landcover/datasets/eurosat_rgb)");
  fetch->add_option("--sha256", args->sha256, "Expected SHA-256 of the archive (hex)");
  fetch->add_option("--from-file", args->from_file, "Use this downloaded archive instead of downloading")
      ->check(CLI::ExistingFile);
  fetch->add_option("--timeout", args->timeout_s, "Seconds without data before a download attempt is abandoned")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  fetch->add_option("--retries", args->retries, "Retries per URL after a failed attempt (with backoff)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  fetch->callback([args] { run_fetch(*args); });
  auto root = std::make_shared<std::string>();
  auto* list = data->add_subcommand("list", "Show the fetched data sets and where they are");
  list->add_option("--root", *root, "Datasets folder (default: $XDG_CACHE_HOME/landcover/datasets)");
  list->callback([root] { run_list(*root); });
}

}  // namespace

LC_REGISTER_COMMAND(data, setup);

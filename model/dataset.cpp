// Class-per-folder data set loader, decoded cache, stratified split and device upload
// (rules and formats: model/dataset.h).
// Depends on: model/dataset.h, model/image_io.h, model/file_io.h (CRC-32, AtomicFile),
// runtime/tensor.h, kernels/common/check.h, OpenMP, POSIX stat.
#include "model/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>

#include "kernels/common/check.h"
#include "model/file_io.h"
#include "model/image_io.h"

namespace lc {

namespace fs = std::filesystem;

namespace {

std::atomic<std::uint64_t> g_decoded{0};

// Bump when decoding or resizing changes the pixels a file turns into: old caches become stale.
constexpr std::uint32_t kDecoderVersion = 1;
constexpr std::uint32_t kCacheVersion = 2;  // 2: JPEG decoded by libjpeg-turbo
constexpr std::uint8_t kCacheMagic[8] = {'L', 'C', 'D', 'A', 'T', 'A', 0, 0};

bool hidden(const std::string& name) { return name.empty() || name[0] == '.' || name == "__MACOSX"; }

bool is_image_name(const std::string& name) {
  auto dot = name.find_last_of('.');
  if (dot == std::string::npos || hidden(name)) return false;
  std::string ext = name.substr(dot + 1);
  for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* e : {"jpg", "jpeg", "png", "bmp", "gif", "tga", "ppm", "pgm"})
    if (ext == e) return true;
  return false;
}

// Sorted names of the non-hidden entries of `dir` that are directories (want_dirs) or regular
// files with an image extension. Unreadable directories throw.
std::vector<std::string> list_entries(const fs::path& dir, bool want_dirs) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) LC_FAIL("data set ", dir.string(), ": cannot list: ", ec.message());
  for (const auto& e : it) {
    std::string name = e.path().filename().string();
    if (hidden(name)) continue;
    std::error_code ec2;
    if (want_dirs ? e.is_directory(ec2) : (e.is_regular_file(ec2) && is_image_name(name))) out.push_back(name);
  }
  std::sort(out.begin(), out.end());  // std::string comparison: byte-wise, locale-independent
  return out;
}

// Whether some entry of `dir` satisfies `pred` (false when the folder cannot be listed).
template <class Pred>
bool any_entry(const fs::path& dir, Pred pred) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return false;
  for (const auto& e : it)
    if (pred(e)) return true;
  return false;
}

bool has_image_file(const fs::path& dir) {
  return any_entry(dir, [](const fs::directory_entry& e) {
    std::error_code ec;
    return e.is_regular_file(ec) && is_image_name(e.path().filename().string());
  });
}

bool is_class_root(const fs::path& dir) {
  return any_entry(dir, [](const fs::directory_entry& e) {
    std::error_code ec;
    return !hidden(e.path().filename().string()) && e.is_directory(ec) && has_image_file(e.path());
  });
}

void default_warn(const std::string& s) { std::fprintf(stderr, "landcover: warning: %s\n", s.c_str()); }
void default_note(const std::string& s) { std::fprintf(stderr, "landcover: %s\n", s.c_str()); }

// 64-bit FNV-1a, for the fingerprint and the cache file name.
struct Fnv {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 0x100000001b3ull;
    }
  }
  void u64(std::uint64_t v) {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = std::uint8_t(v >> (8 * i));
    bytes(b, 8);
  }
  void str(const std::string& s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
};

struct FileEntry {
  std::string rel;  // "beach/beach00.jpg"
  std::int32_t label = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// ----- Cache I/O -------------------------------------------------------------------------------

class CacheWriter {
 public:
  explicit CacheWriter(const std::string& path) : f_(path) {}
  void raw(const void* p, std::size_t n) {
    crc_ = crc32_update(crc_, p, n);
    f_.write(p, n);
  }
  void u32(std::uint32_t v) {
    std::uint8_t b[4];
    store_le32(b, v);
    raw(b, 4);
  }
  void u64(std::uint64_t v) {
    std::uint8_t b[8];
    store_le64(b, v);
    raw(b, 8);
  }
  void str(const std::string& s) {
    u32(std::uint32_t(s.size()));
    raw(s.data(), s.size());
  }
  void finish() {
    std::uint8_t b[4];
    store_le32(b, crc_);
    f_.write(b, 4);
    f_.commit();
  }

 private:
  AtomicFile f_;
  std::uint32_t crc_ = 0;
};

// Reads a cache file; every problem throws a CacheProblem with the reason (the caller rebuilds).
struct CacheProblem {
  std::string why;
  bool stale = false;
};

class CacheReader {
 public:
  explicit CacheReader(const std::string& path) : f_(std::fopen(path.c_str(), "rb")) {
    if (!f_) throw CacheProblem{std::strerror(errno)};
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  }
  ~CacheReader() {
    if (f_) std::fclose(f_);
  }
  CacheReader(const CacheReader&) = delete;
  CacheReader& operator=(const CacheReader&) = delete;
  void raw(void* p, std::size_t n) {
    if (n && std::fread(p, 1, n, f_) != n) throw CacheProblem{"truncated"};
    crc_ = crc32_update(crc_, p, n);
  }
  std::uint32_t u32() {
    std::uint8_t b[4];
    raw(b, 4);
    return load_le32(b);
  }
  std::uint64_t u64() {
    std::uint64_t lo = u32();
    return lo | std::uint64_t(u32()) << 32;
  }
  std::string str() {
    std::uint32_t n = u32();
    if (n > 4096) throw CacheProblem{"a string of " + std::to_string(n) + " bytes"};
    std::string s(n, '\0');
    raw(s.data(), n);
    return s;
  }
  // Checks the trailing CRC and that nothing follows it.
  void finish() {
    std::uint32_t expected = crc_;
    std::uint8_t b[4];
    if (std::fread(b, 1, 4, f_) != 4) throw CacheProblem{"truncated"};
    const std::uint32_t stored = load_le32(b);
    if (stored != expected) throw CacheProblem{"checksum mismatch"};
    if (std::fgetc(f_) != EOF) throw CacheProblem{"trailing bytes"};
  }

 private:
  std::FILE* f_;
  std::uint32_t crc_ = 0;
};

void write_cache(const std::string& path, const Dataset& ds) {
  CacheWriter w(path);
  w.raw(kCacheMagic, 8);
  w.u32(kCacheVersion);
  w.u32(0);
  w.u64(ds.fingerprint);
  w.u32(std::uint32_t(ds.image_size));
  w.u32(std::uint32_t(ds.class_names.size()));
  w.u64(ds.size());
  w.u64(ds.skipped.size());
  for (const auto& c : ds.class_names) w.str(c);
  for (const auto& f : ds.files) w.str(f);
  for (std::int32_t l : ds.labels) w.u32(std::uint32_t(l));
  for (const auto& s : ds.skipped) w.str(s);
  // Pixels in slices, so the CRC and the write see each byte once.
  const std::size_t slice = std::size_t(64) << 20;
  for (std::size_t at = 0; at < ds.pixels.size(); at += slice)
    w.raw(ds.pixels.data() + at, std::min(slice, ds.pixels.size() - at));
  w.finish();
}

// Reads the cache into `ds` (whose fingerprint, image_size and file list are the expected ones).
void read_cache(const std::string& path, Dataset& ds, const std::vector<FileEntry>& files,
                const std::vector<std::string>& classes) {
  CacheReader r(path);
  std::uint8_t magic[8];
  r.raw(magic, 8);
  if (std::memcmp(magic, kCacheMagic, 8) != 0) throw CacheProblem{"bad magic"};
  std::uint32_t version = r.u32();
  if (version != kCacheVersion) throw CacheProblem{"version " + std::to_string(version), true};
  if (r.u32() != 0) throw CacheProblem{"unknown flags"};
  if (r.u64() != ds.fingerprint) throw CacheProblem{"the data set changed", true};
  if (r.u32() != std::uint32_t(ds.image_size)) throw CacheProblem{"another image size", true};
  std::uint32_t k = r.u32();
  std::uint64_t n = r.u64(), skipped = r.u64();
  // Compared without adding: n + skipped could wrap around.
  if (k != classes.size() || n == 0 || n > files.size() || skipped != files.size() - n)
    throw CacheProblem{"inconsistent counts"};
  for (const auto& c : classes)
    if (r.str() != c) throw CacheProblem{"other class names"};
  std::vector<std::string> rel(n);
  for (auto& s : rel) s = r.str();
  std::vector<std::int32_t> labels(n);
  for (auto& l : labels) {
    l = std::int32_t(r.u32());
    if (l < 0 || l >= std::int32_t(k)) throw CacheProblem{"a label out of range"};
  }
  std::vector<std::string> skip(skipped);
  for (auto& s : skip) s = r.str();
  // The loaded and skipped files together must be exactly the listed files.
  {
    std::vector<std::string> all = rel, listed;
    all.insert(all.end(), skip.begin(), skip.end());
    for (const auto& f : files) listed.push_back(f.rel);
    std::sort(all.begin(), all.end());
    std::sort(listed.begin(), listed.end());
    if (all != listed) throw CacheProblem{"another file list"};
  }
  std::vector<std::uint8_t> pixels(n * ds.image_bytes());
  const std::size_t slice = std::size_t(64) << 20;
  for (std::size_t at = 0; at < pixels.size(); at += slice)
    r.raw(pixels.data() + at, std::min(slice, pixels.size() - at));
  r.finish();
  ds.files = std::move(rel);
  ds.labels = std::move(labels);
  ds.skipped = std::move(skip);
  ds.pixels = std::move(pixels);
}

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string check_cache_file(const std::string& path, const std::vector<std::string>& classes,
                             const std::vector<std::string>& files, int image_size, std::uint64_t fingerprint) {
  Dataset ds;
  ds.image_size = image_size;
  ds.fingerprint = fingerprint;
  std::vector<FileEntry> entries;
  for (const std::string& f : files) entries.push_back({f, 0, 0, 0});
  try {
    read_cache(path, ds, entries, classes);
  } catch (const CacheProblem& p) {
    return p.why;
  }
  return "";
}

void write_cache_file(const std::string& path, const Dataset& ds) { write_cache(path, ds); }

std::vector<std::int64_t> Dataset::class_counts() const {
  std::vector<std::int64_t> counts(class_names.size(), 0);
  for (std::int32_t l : labels) counts.at(std::size_t(l)) += 1;
  return counts;
}

std::uint64_t images_decoded_count() { return g_decoded.load(); }

std::string default_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/landcover";  // XDG: relative values are ignored
  const char* home = std::getenv("HOME");
  if (home && home[0]) return std::string(home) + "/.cache/landcover";
  return "";
}

std::string find_class_root(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) LC_FAIL("data set ", path, ": no such file or directory");
  if (!fs::is_directory(p, ec))
    LC_FAIL("data set ", path, ": not a directory (expected a folder with one subfolder of images per class)");
  if (is_class_root(p)) return p.string();
  // One or two levels down (the folder the EuroSAT archive was unpacked into, ...).
  std::vector<fs::path> level{p};
  for (int depth = 1; depth <= 2; ++depth) {
    std::vector<fs::path> next, found;
    for (const auto& d : level)
      for (const auto& name : list_entries(d, true)) {
        fs::path sub = d / name;
        next.push_back(sub);
        if (is_class_root(sub)) found.push_back(sub);
      }
    if (found.size() == 1) return found[0].string();
    if (found.size() > 1) {
      std::string names;
      for (const auto& f : found) names += (names.empty() ? "" : ", ") + f.string();
      LC_FAIL("data set ", path, ": several class-folder roots inside (", names, "): pass one of them");
    }
    level = std::move(next);
  }
  LC_FAIL("data set ", path, ": no class folders with images found (expected ", path,
          "/<ClassName>/<image>.jpg, or a folder holding one such root, like EuroSAT's 2750/ or EuroSAT_RGB/)");
}

Dataset load_dataset(const std::string& path, const DatasetOptions& opt) {
  auto warn = opt.warn ? opt.warn : std::function<void(const std::string&)>(default_warn);
  auto note = opt.note ? opt.note : std::function<void(const std::string&)>(default_note);
  LC_CHECK(opt.image_size >= 1 && opt.image_size <= 4096, "data set: image size ", opt.image_size, " out of range");
  LC_CHECK(opt.max_images_per_class >= 0, "data set: max images per class must be >= 0, not ",
           opt.max_images_per_class);

  Dataset ds;
  ds.root = find_class_root(path);
  ds.image_size = opt.image_size;
  fs::path root(ds.root);

  // List classes and files; stat every file for the fingerprint.
  ds.class_names = list_entries(root, true);
  std::vector<FileEntry> files;
  for (std::size_t c = 0; c < ds.class_names.size(); ++c) {
    const std::string& cls = ds.class_names[c];
    std::vector<std::string> names = list_entries(root / cls, false);
    if (names.empty())
      LC_FAIL("data set ", ds.root, ": class folder '", cls, "' has no image files (.jpg, .png, ...)");
    if (opt.max_images_per_class > 0 && names.size() > std::size_t(opt.max_images_per_class))
      names.resize(std::size_t(opt.max_images_per_class));
    for (const auto& n : names) {
      FileEntry e;
      e.rel = cls + "/" + n;
      e.label = std::int32_t(c);
      struct stat st {};
      if (::stat((root / e.rel).c_str(), &st) == 0) {
        e.size = std::uint64_t(st.st_size);
        e.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      }  // else: the decode below reports it
      files.push_back(std::move(e));
    }
  }

  Fnv fp;
  fp.u64(kCacheVersion);
  fp.u64(kDecoderVersion);
  fp.u64(std::uint64_t(opt.image_size));
  fp.u64(std::uint64_t(opt.max_images_per_class));
  fp.u64(ds.class_names.size());
  for (const auto& c : ds.class_names) fp.str(c);
  fp.u64(files.size());
  for (const auto& f : files) {
    fp.str(f.rel);
    fp.u64(f.size);
    fp.u64(std::uint64_t(f.mtime_ns));
  }
  ds.fingerprint = fp.h;

  // Cache lookup.
  std::string cache_dir = opt.use_cache ? (opt.cache_dir.empty() ? default_cache_dir() : opt.cache_dir) : "";
  if (opt.use_cache && cache_dir.empty())
    note("no cache folder ($XDG_CACHE_HOME and $HOME unset, no --cache-dir): decoding without a cache");
  if (!cache_dir.empty()) {
    std::error_code ec;
    fs::path abs = fs::weakly_canonical(fs::absolute(root, ec), ec);
    Fnv key;
    key.str(abs.string());
    key.u64(std::uint64_t(opt.image_size));
    key.u64(std::uint64_t(opt.max_images_per_class));
    std::string base = abs.filename().string();
    if (base.empty()) base = "dataset";
    for (auto& ch : base)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
    ds.cache_path = (fs::path(cache_dir) / (base + "-" + hex16(key.h) + ".lcdata")).string();
    if (fs::exists(ds.cache_path, ec)) {
      try {
        read_cache(ds.cache_path, ds, files, ds.class_names);
        ds.from_cache = true;
      } catch (const CacheProblem& p) {
        note("data cache " + ds.cache_path + " is " + (p.stale ? "stale (" : "unusable (") + p.why +
             "): decoding the images again");
      }
    }
  }

  if (!ds.from_cache) {
    // Decode in parallel, in chunks so progress is reported from this thread.
    const std::size_t n = files.size(), bytes = ds.image_bytes();
    std::vector<std::uint8_t> pixels(n * bytes);
    std::vector<std::string> errors(n);
    std::vector<char> ok(n, 0);
    const std::size_t chunk = 512;
    note("decoding " + std::to_string(n) + " images from " + ds.root +
         (ds.cache_path.empty() ? std::string(" (no cache)") : " (cache: " + ds.cache_path + ")"));
    for (std::size_t start = 0; start < n; start += chunk) {
      const std::int64_t end = std::int64_t(std::min(n, start + chunk));
#pragma omp parallel for schedule(dynamic, 8)
      for (std::int64_t i = std::int64_t(start); i < end; ++i) {
        const std::size_t k = std::size_t(i);
        g_decoded.fetch_add(1, std::memory_order_relaxed);
        try {
          RgbImage img = decode_image_file((root / files[k].rel).string());
          if (img.width != opt.image_size || img.height != opt.image_size)
            img = resize_rgb(img, opt.image_size, opt.image_size);
          std::memcpy(pixels.data() + k * bytes, img.rgb.data(), bytes);
          ok[k] = 1;
        } catch (const std::exception& e) {
          errors[k] = e.what();
        }
      }
      if (opt.progress) opt.progress(std::size_t(end), n);
    }
    // Compact: keep the decoded images in listing order.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!ok[i]) {
        ds.skipped.push_back(files[i].rel);
        warn("skipping " + files[i].rel + ": " + errors[i]);
        continue;
      }
      if (kept != i) std::memcpy(pixels.data() + kept * bytes, pixels.data() + i * bytes, bytes);
      ds.files.push_back(files[i].rel);
      ds.labels.push_back(files[i].label);
      ++kept;
    }
    pixels.resize(kept * bytes);
    pixels.shrink_to_fit();
    ds.pixels = std::move(pixels);
  } else {
    note("loaded " + std::to_string(ds.size()) + " decoded images from the cache " + ds.cache_path);
    for (const auto& s : ds.skipped) warn("skipping " + s + ": it could not be decoded (cached result)");
  }

  if (!ds.skipped.empty())
    warn("skipped " + std::to_string(ds.skipped.size()) + " of " + std::to_string(files.size()) +
         " image files that could not be decoded (named above)");
  if (ds.size() == 0) LC_FAIL("data set ", ds.root, ": none of its ", files.size(), " image files could be decoded");
  std::vector<std::int64_t> counts = ds.class_counts();
  for (std::size_t c = 0; c < counts.size(); ++c)
    if (counts[c] == 0)
      LC_FAIL("data set ", ds.root, ": class '", ds.class_names[c], "' has no decodable image (all skipped)");

  if (!ds.from_cache && !ds.cache_path.empty()) {
    try {
      std::error_code ec;
      fs::create_directories(fs::path(ds.cache_path).parent_path(), ec);
      if (ec) LC_FAIL("cannot create ", fs::path(ds.cache_path).parent_path().string(), ": ", ec.message());
      write_cache(ds.cache_path, ds);
    } catch (const Error& e) {
      warn(std::string("cannot write the data cache: ") + e.what() + "; continuing without it");
      ds.cache_path.clear();
    }
  }
  return ds;
}

Split stratified_split(const std::vector<std::int32_t>& labels, int num_classes, std::uint64_t seed,
                       double val_fraction) {
  LC_CHECK(num_classes >= 1, "stratified_split: num_classes must be >= 1, not ", num_classes);
  LC_CHECK(val_fraction >= 0.0 && val_fraction < 1.0, "stratified_split: val_fraction must be in [0, 1), not ",
           val_fraction);
  std::vector<std::vector<std::int32_t>> by_class(static_cast<std::size_t>(num_classes));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::int32_t l = labels[i];
    LC_CHECK(l >= 0 && l < num_classes, "stratified_split: label ", l, " of image ", i, " out of range [0, ",
             num_classes, ")");
    by_class[std::size_t(l)].push_back(std::int32_t(i));
  }
  Split s;
  for (int c = 0; c < num_classes; ++c) {
    std::vector<std::int32_t>& a = by_class[std::size_t(c)];
    const std::size_t n = a.size();
    std::mt19937_64 gen(seed + 0x9E3779B97F4A7C15ull * std::uint64_t(c + 1));
    for (std::size_t i = n; i-- > 1;) {
      const std::uint64_t bound = std::uint64_t(i) + 1;
      const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
      std::uint64_t r;
      do r = gen();
      while (r < threshold);
      std::swap(a[i], a[std::size_t(r % bound)]);
    }
    std::size_t k = 0;
    if (n >= 2 && val_fraction > 0) {
      k = std::size_t(std::llround(val_fraction * double(n)));
      k = std::clamp<std::size_t>(k, 1, n - 1);
    }
    s.val.insert(s.val.end(), a.begin(), a.begin() + std::ptrdiff_t(k));
    s.train.insert(s.train.end(), a.begin() + std::ptrdiff_t(k), a.end());
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.val.begin(), s.val.end());
  return s;
}

DeviceDataset upload_dataset(const Dataset& ds, Device& dev, stream_t stream) {
  LC_CHECK(ds.size() > 0, "upload_dataset: empty data set");
  LC_CHECK(ds.pixels.size() == ds.size() * ds.image_bytes(), "upload_dataset: ", ds.pixels.size(),
           " pixel bytes for ", ds.size(), " images");
  const auto n = std::int64_t(ds.size()), s = std::int64_t(ds.image_size);
  DeviceDataset d;
  d.images = Tensor::empty(dev, {n, s, s, 3}, DType::u8);
  d.labels = Tensor::empty(dev, {n}, DType::i32);
  d.images.upload(ds.pixels.data(), stream);
  d.labels.upload(ds.labels.data(), stream);
  dev.synchronize(stream);  // the host buffers may go away after return
  return d;
}

}  // namespace lc

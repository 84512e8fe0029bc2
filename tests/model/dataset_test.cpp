// Tests of model/dataset: the class-per-folder loader on synthetic PNG data sets in a temporary
// folder (class order, labels, pixels, grey/RGBA/other-size images, corrupt files skipped and
// reported, empty classes refused, root detection, max-images), the decoded cache (hit without
// decoding, invalidation by touching or adding a file, corrupt cache rebuilt, unwritable cache
// folder), the stratified split (proportions, disjointness, determinism, seeds, the documented
// generator), the device upload, and the real ucmerced64 set from LC_SHARED_DIR (E2e).
// Depends on: model/dataset.h, model/image_io.h (write_png), runtime/device.h, GoogleTest.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/dataset.h"
#include "model/image_io.h"
#include "runtime/device.h"
#include "tests/support/files.h"

namespace {

namespace fs = std::filesystem;

using lc::test::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// The colour of synthetic image `i` of class `c`: unique per (c, i) and checkable after loading.
std::array<std::uint8_t, 3> colour(int c, int i) {
  return {std::uint8_t(10 + 40 * c), std::uint8_t(5 + 7 * i), std::uint8_t(200 - 3 * i)};
}

void write_flat_png(const std::string& path, int size, std::array<std::uint8_t, 3> rgb) {
  std::vector<std::uint8_t> px(std::size_t(size) * size * 3);
  for (std::size_t p = 0; p < px.size() / 3; ++p)
    for (int ch = 0; ch < 3; ++ch) px[3 * p + ch] = rgb[std::size_t(ch)];
  lc::write_png(path, size, size, 3, px.data());
}

// A data set: classes (in creation order, deliberately not sorted) with `per_class` flat 64x64
// PNGs each, named img<i>.png.
const std::vector<std::string> kClasses = {"b_water", "a_forest", "C_urban"};  // byte order: C_urban a_forest b_water
void make_dataset(const std::string& root, int per_class) {
  for (std::size_t c = 0; c < kClasses.size(); ++c) {
    fs::create_directories(root + "/" + kClasses[c]);
    for (int i = 0; i < per_class; ++i)
      write_flat_png(root + "/" + kClasses[c] + "/img" + std::to_string(i) + ".png", 64, colour(int(c), i));
  }
}

struct Messages {
  std::vector<std::string> warnings, notes;
  lc::DatasetOptions options(const std::string& cache_dir) {
    lc::DatasetOptions o;
    o.cache_dir = cache_dir;
    o.warn = [this](const std::string& s) { warnings.push_back(s); };
    o.note = [this](const std::string& s) { notes.push_back(s); };
    return o;
  }
  bool any_warning(const std::string& part) const {
    for (const auto& w : warnings)
      if (w.find(part) != std::string::npos) return true;
    return false;
  }
  bool any_note(const std::string& part) const {
    for (const auto& w : notes)
      if (w.find(part) != std::string::npos) return true;
    return false;
  }
};

template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const lc::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no lc::Error thrown";
  return "";
}

// Every image of a flat-colour data set has the colour of its (class, file).
void expect_flat_colours(const lc::Dataset& ds) {
  for (std::size_t k = 0; k < ds.size(); ++k) {
    const std::string& f = ds.files[k];
    std::string cls = f.substr(0, f.find('/'));
    int i = std::stoi(f.substr(f.find("img") + 3));
    int c = int(std::find(kClasses.begin(), kClasses.end(), cls) - kClasses.begin());
    ASSERT_EQ(ds.class_names[std::size_t(ds.labels[k])], cls) << f;
    auto want = colour(c, i);
    const std::uint8_t* px = ds.image(k);
    for (std::size_t p = 0; p < ds.image_bytes() / 3; p += 97)
      for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(px[3 * p + std::size_t(ch)], want[std::size_t(ch)]) << f << " pixel " << p;
  }
}

TEST(CpuDataset, ClassOrderLabelsAndPixels) {
  TempDir dir, cache;
  make_dataset(dir.file("data"), 4);
  write_bytes(dir.file("data/a_forest/notes.txt"), "not an image");      // ignored: extension
  fs::create_directories(dir.file("data/.hidden"));                     // ignored: hidden
  write_flat_png(dir.file("data/.hidden/x.png"), 64, {1, 2, 3});
  write_bytes(dir.file("data/README.md"), "files at the root are ignored");
  Messages msg;
  lc::Dataset ds = lc::load_dataset(dir.file("data"), msg.options(cache.path));
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"C_urban", "a_forest", "b_water"}));
  ASSERT_EQ(ds.size(), 12u);
  EXPECT_EQ(ds.image_size, 64);
  EXPECT_EQ(ds.pixels.size(), 12u * 64 * 64 * 3);
  EXPECT_EQ(ds.files[0], "C_urban/img0.png");
  EXPECT_EQ(ds.files[11], "b_water/img3.png");
  EXPECT_EQ(ds.labels, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}));
  EXPECT_EQ(ds.class_counts(), (std::vector<std::int64_t>{4, 4, 4}));
  EXPECT_TRUE(ds.skipped.empty());
  EXPECT_TRUE(msg.warnings.empty());
  expect_flat_colours(ds);
}

TEST(CpuDataset, FilesSortByteWiseAndMaxImagesTakesTheFirst) {
  TempDir dir, cache;
  fs::create_directories(dir.file("d/one"));
  fs::create_directories(dir.file("d/two"));
  // Byte order: "B.png" < "a10.png" < "a2.png" < "b.PNG"
  for (const char* n : {"a2.png", "B.png", "b.PNG", "a10.png"}) write_flat_png(dir.file(std::string("d/one/") + n), 64, {9, 9, 9});
  for (int i = 0; i < 3; ++i) write_flat_png(dir.file("d/two/t" + std::to_string(i) + ".jpg.png"), 64, {1, 1, 1});
  Messages msg;
  lc::Dataset all = lc::load_dataset(dir.file("d"), msg.options(cache.path));
  EXPECT_EQ(all.files, (std::vector<std::string>{"one/B.png", "one/a10.png", "one/a2.png", "one/b.PNG",
                                                 "two/t0.jpg.png", "two/t1.jpg.png", "two/t2.jpg.png"}));
  lc::DatasetOptions o = msg.options(cache.path);
  o.max_images_per_class = 2;
  lc::Dataset two = lc::load_dataset(dir.file("d"), o);
  EXPECT_EQ(two.files, (std::vector<std::string>{"one/B.png", "one/a10.png", "two/t0.jpg.png", "two/t1.jpg.png"}));
  EXPECT_EQ(two.labels, (std::vector<std::int32_t>{0, 0, 1, 1}));
  EXPECT_FALSE(two.from_cache);  // another max-images: another cache file
  EXPECT_NE(two.cache_path, all.cache_path);
  o.max_images_per_class = -1;
  EXPECT_THROW(lc::load_dataset(dir.file("d"), o), lc::Error);
}

TEST(CpuDataset, GreyRgbaAndOtherSizesBecome64x64Rgb) {
  TempDir dir, cache;
  fs::create_directories(dir.file("d/k"));
  // Grey 32x32 with value 77: enlarged, still flat 77 in every channel.
  std::vector<std::uint8_t> grey(32 * 32, 77);
  lc::write_png(dir.file("d/k/0grey.png"), 32, 32, 1, grey.data());
  // RGBA 64x64: alpha dropped.
  std::vector<std::uint8_t> rgba(64 * 64 * 4);
  for (std::size_t p = 0; p < 64 * 64; ++p) {
    rgba[4 * p] = 10;
    rgba[4 * p + 1] = 20;
    rgba[4 * p + 2] = 30;
    rgba[4 * p + 3] = std::uint8_t(p % 256);
  }
  lc::write_png(dir.file("d/k/1rgba.png"), 64, 64, 4, rgba.data());
  // 128x128 RGB of 2x2 blocks (v, v+2, v+4, v+6) with v = 8*(block row % 16): shrinks to v+3.
  std::vector<std::uint8_t> big(128 * 128 * 3);
  for (int y = 0; y < 128; ++y)
    for (int x = 0; x < 128; ++x)
      for (int ch = 0; ch < 3; ++ch)
        big[(std::size_t(y) * 128 + x) * 3 + ch] = std::uint8_t(8 * ((y / 2) % 16) + 2 * (2 * (y % 2) + x % 2) + ch);
  lc::write_png(dir.file("d/k/2big.png"), 128, 128, 3, big.data());
  Messages msg;
  lc::Dataset ds = lc::load_dataset(dir.file("d"), msg.options(cache.path));
  ASSERT_EQ(ds.size(), 3u);
  for (std::size_t p = 0; p < 64 * 64; ++p) {
    for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(ds.image(0)[3 * p + ch], 77);
    ASSERT_EQ(ds.image(1)[3 * p], 10);
    ASSERT_EQ(ds.image(1)[3 * p + 1], 20);
    ASSERT_EQ(ds.image(1)[3 * p + 2], 30);
  }
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int ch = 0; ch < 3; ++ch)
        ASSERT_EQ(int(ds.image(2)[(std::size_t(y) * 64 + x) * 3 + ch]), 8 * (y % 16) + 3 + ch) << y << "," << x;
}

TEST(CpuDataset, CorruptFilesAreSkippedAndReported) {
  TempDir dir, cache;
  make_dataset(dir.file("d"), 3);
  write_bytes(dir.file("d/a_forest/img1.png"), std::string(500, '\x5a'));  // replaces a real image
  write_bytes(dir.file("d/C_urban/broken.jpg"), "\xFF\xD8\xFF garbage");
  Messages msg;
  lc::Dataset ds = lc::load_dataset(dir.file("d"), msg.options(cache.path));
  EXPECT_EQ(ds.size(), 8u);  // 9 images + broken.jpg, 2 of them undecodable
  EXPECT_EQ(ds.skipped, (std::vector<std::string>{"C_urban/broken.jpg", "a_forest/img1.png"}));
  EXPECT_TRUE(msg.any_warning("skipping C_urban/broken.jpg")) << ::testing::PrintToString(msg.warnings);
  EXPECT_TRUE(msg.any_warning("skipping a_forest/img1.png"));
  EXPECT_TRUE(msg.any_warning("skipped 2 of 10 image files"));
  EXPECT_EQ(std::count(ds.files.begin(), ds.files.end(), "a_forest/img1.png"), 0);
  expect_flat_colours(ds);  // the survivors keep their own pixels and labels

  // From the cache: the same data and the same report.
  Messages again;
  lc::Dataset cached = lc::load_dataset(dir.file("d"), again.options(cache.path));
  EXPECT_TRUE(cached.from_cache);
  EXPECT_EQ(cached.skipped, ds.skipped);
  EXPECT_TRUE(again.any_warning("skipped 2 of 10 image files"));
}

TEST(CpuDataset, EmptyOrAllCorruptClassesFail) {
  TempDir dir, cache;
  make_dataset(dir.file("d"), 2);
  fs::create_directories(dir.file("d/empty_class"));
  write_bytes(dir.file("d/empty_class/readme.txt"), "no images here");
  Messages msg;
  std::string e = error_of([&] { lc::load_dataset(dir.file("d"), msg.options(cache.path)); });
  EXPECT_NE(e.find("class folder 'empty_class' has no image files"), std::string::npos) << e;

  fs::remove_all(dir.file("d/empty_class"));
  for (int i = 0; i < 2; ++i) write_bytes(dir.file("d/b_water/img" + std::to_string(i) + ".png"), "junk");
  e = error_of([&] { lc::load_dataset(dir.file("d"), msg.options(cache.path)); });
  EXPECT_NE(e.find("class 'b_water' has no decodable image"), std::string::npos) << e;
  EXPECT_TRUE(msg.any_warning("skipping b_water/img0.png"));
}

TEST(CpuDataset, FindsTheClassRoot) {
  TempDir dir, cache;
  // EuroSAT layouts: <parent>/2750/<Class>/*.jpg and <parent>/EuroSAT_RGB/<Class>/*.jpg.
  make_dataset(dir.file("euro/2750"), 1);
  write_bytes(dir.file("euro/EuroSAT.zip"), "zip");
  EXPECT_EQ(lc::find_class_root(dir.file("euro")), dir.file("euro/2750"));
  EXPECT_EQ(lc::find_class_root(dir.file("euro/2750")), dir.file("euro/2750"));
  make_dataset(dir.file("deep/x/EuroSAT_RGB"), 1);
  EXPECT_EQ(lc::find_class_root(dir.file("deep")), dir.file("deep/x/EuroSAT_RGB"));
  Messages msg;
  lc::Dataset ds = lc::load_dataset(dir.file("euro"), msg.options(cache.path));
  EXPECT_EQ(ds.root, dir.file("euro/2750"));
  EXPECT_EQ(ds.size(), 3u);

  make_dataset(dir.file("two/first"), 1);
  make_dataset(dir.file("two/second"), 1);
  std::string e = error_of([&] { lc::find_class_root(dir.file("two")); });
  EXPECT_NE(e.find("several class-folder roots"), std::string::npos) << e;
  fs::create_directories(dir.file("nothing/a/b/c"));
  e = error_of([&] { lc::find_class_root(dir.file("nothing")); });
  EXPECT_NE(e.find("no class folders with images"), std::string::npos) << e;
  e = error_of([&] { lc::find_class_root(dir.file("missing")); });
  EXPECT_NE(e.find("no such file or directory"), std::string::npos) << e;
  e = error_of([&] { lc::find_class_root(dir.file("euro/EuroSAT.zip")); });
  EXPECT_NE(e.find("not a directory"), std::string::npos) << e;
}

TEST(CpuDataset, CacheHitDecodesNothing) {
  TempDir dir, cache;
  make_dataset(dir.file("d"), 5);
  Messages m1;
  std::uint64_t before = lc::images_decoded_count();
  lc::Dataset first = lc::load_dataset(dir.file("d"), m1.options(cache.path));
  EXPECT_EQ(lc::images_decoded_count() - before, 15u);
  EXPECT_FALSE(first.from_cache);
  ASSERT_FALSE(first.cache_path.empty());
  EXPECT_EQ(fs::path(first.cache_path).parent_path(), fs::path(cache.path));
  EXPECT_TRUE(fs::exists(first.cache_path));

  Messages m2;
  before = lc::images_decoded_count();
  lc::Dataset second = lc::load_dataset(dir.file("d"), m2.options(cache.path));
  EXPECT_EQ(lc::images_decoded_count(), before);
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.pixels, first.pixels);
  EXPECT_EQ(second.labels, first.labels);
  EXPECT_EQ(second.files, first.files);
  EXPECT_EQ(second.class_names, first.class_names);
  EXPECT_EQ(second.fingerprint, first.fingerprint);
  EXPECT_TRUE(m2.any_note("from the cache"));

  // use_cache = false: decodes, reads and writes no cache.
  lc::DatasetOptions off = m2.options(cache.path);
  off.use_cache = false;
  before = lc::images_decoded_count();
  lc::Dataset nocache = lc::load_dataset(dir.file("d"), off);
  EXPECT_EQ(lc::images_decoded_count() - before, 15u);
  EXPECT_FALSE(nocache.from_cache);
  EXPECT_TRUE(nocache.cache_path.empty());
  EXPECT_EQ(nocache.pixels, first.pixels);
}

TEST(CpuDataset, CacheIsInvalidatedWhenTheDataChanges) {
  TempDir dir, cache;
  make_dataset(dir.file("d"), 3);
  Messages m;
  lc::Dataset first = lc::load_dataset(dir.file("d"), m.options(cache.path));

  // Touch one file (same bytes, new modification time).
  const std::string touched = dir.file("d/a_forest/img2.png");
  struct timespec times[2] = {{0, UTIME_OMIT}, {1700000000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, touched.c_str(), times, 0), 0);
  Messages m2;
  std::uint64_t before = lc::images_decoded_count();
  lc::Dataset second = lc::load_dataset(dir.file("d"), m2.options(cache.path));
  EXPECT_FALSE(second.from_cache);
  EXPECT_EQ(lc::images_decoded_count() - before, 9u);
  EXPECT_TRUE(m2.any_note("stale")) << ::testing::PrintToString(m2.notes);
  EXPECT_NE(second.fingerprint, first.fingerprint);
  EXPECT_EQ(second.pixels, first.pixels);
  EXPECT_EQ(second.cache_path, first.cache_path);  // rewritten in place
  EXPECT_TRUE(lc::load_dataset(dir.file("d"), m2.options(cache.path)).from_cache);

  // Add a file: stale again, and the new image is there.
  write_flat_png(dir.file("d/b_water/img3.png"), 64, colour(0, 3));
  Messages m3;
  lc::Dataset third = lc::load_dataset(dir.file("d"), m3.options(cache.path));
  EXPECT_FALSE(third.from_cache);
  EXPECT_TRUE(m3.any_note("stale"));
  EXPECT_EQ(third.size(), 10u);
  expect_flat_colours(third);

  // Remove a file.
  fs::remove(dir.file("d/C_urban/img0.png"));
  lc::Dataset fourth = lc::load_dataset(dir.file("d"), m3.options(cache.path));
  EXPECT_FALSE(fourth.from_cache);
  EXPECT_EQ(fourth.size(), 9u);
}

TEST(CpuDataset, CorruptCacheIsRebuiltNeverTrusted) {
  TempDir dir, cache;
  make_dataset(dir.file("d"), 3);
  Messages m;
  lc::Dataset first = lc::load_dataset(dir.file("d"), m.options(cache.path));
  const std::string cpath = first.cache_path;
  std::string bytes;
  {
    std::ifstream f(cpath, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  ASSERT_GT(bytes.size(), 9u * 64 * 64 * 3);
  struct Damage {
    const char* what;
    std::string bytes;
  };
  std::string flipped_pixel = bytes, flipped_magic = bytes, truncated = bytes.substr(0, bytes.size() / 2);
  flipped_pixel[bytes.size() - 1000] ^= 0x01;
  flipped_magic[0] = 'X';
  for (const Damage& d : {Damage{"pixel bit", flipped_pixel}, Damage{"magic", flipped_magic},
                          Damage{"truncation", truncated}, Damage{"empty", ""}}) {
    write_bytes(cpath, d.bytes);
    Messages mm;
    std::uint64_t before = lc::images_decoded_count();
    lc::Dataset again = lc::load_dataset(dir.file("d"), mm.options(cache.path));
    EXPECT_FALSE(again.from_cache) << d.what;
    EXPECT_EQ(lc::images_decoded_count() - before, 9u) << d.what;
    EXPECT_TRUE(mm.any_note("unusable")) << d.what << ": " << ::testing::PrintToString(mm.notes);
    EXPECT_EQ(again.pixels, first.pixels) << d.what;
    EXPECT_TRUE(lc::load_dataset(dir.file("d"), mm.options(cache.path)).from_cache) << d.what << ": rebuilt";
  }
}

TEST(CpuDataset, UnwritableCacheFolderIsAWarning) {
  TempDir dir;
  make_dataset(dir.file("d"), 2);
  write_bytes(dir.file("plainfile"), "x");
  Messages m;
  lc::Dataset ds = lc::load_dataset(dir.file("d"), m.options(dir.file("plainfile/cache")));
  EXPECT_EQ(ds.size(), 6u);
  EXPECT_TRUE(ds.cache_path.empty());
  EXPECT_TRUE(m.any_warning("cannot write the data cache")) << ::testing::PrintToString(m.warnings);
}

TEST(CpuDataset, DefaultCacheFolderFollowsXdg) {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const char* old_home = std::getenv("HOME");
  std::string saved_xdg = old_xdg ? old_xdg : "", saved_home = old_home ? old_home : "";
  ::setenv("XDG_CACHE_HOME", "/x/cache", 1);
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(lc::default_cache_dir(), "/x/cache/landcover");
  ::setenv("XDG_CACHE_HOME", "relative/ignored", 1);
  EXPECT_EQ(lc::default_cache_dir(), "/home/u/.cache/landcover");
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(lc::default_cache_dir(), "/home/u/.cache/landcover");
  if (old_xdg) ::setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  if (old_home) ::setenv("HOME", saved_home.c_str(), 1);
  else ::unsetenv("HOME");
}

// ----- Split ---------------------------------------------------------------------------------

std::vector<std::int32_t> labels_for(const std::vector<int>& counts) {
  std::vector<std::int32_t> labels;
  // Interleaved, so indices of a class are not contiguous.
  int left = 1;
  std::vector<int> remaining = counts;
  while (left) {
    left = 0;
    for (std::size_t c = 0; c < remaining.size(); ++c)
      if (remaining[c] > 0) {
        labels.push_back(std::int32_t(c));
        left += --remaining[c] > 0;
      }
  }
  return labels;
}

TEST(CpuSplit, StratifiedProportionsAndDisjoint) {
  const std::vector<int> counts = {1, 2, 3, 5, 10, 100, 101, 2700};
  // round(0.2 n), at least 1 and at most n-1 for n >= 2, 0 for n = 1 (computed by hand).
  const std::vector<std::size_t> want_val = {0, 1, 1, 1, 2, 20, 20, 540};
  auto labels = labels_for(counts);
  lc::Split s = lc::stratified_split(labels, int(counts.size()), 1234);
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  EXPECT_TRUE(std::is_sorted(s.val.begin(), s.val.end()));
  std::vector<std::size_t> val_per(counts.size()), train_per(counts.size());
  for (auto i : s.val) val_per[std::size_t(labels[std::size_t(i)])]++;
  for (auto i : s.train) train_per[std::size_t(labels[std::size_t(i)])]++;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    EXPECT_EQ(val_per[c], want_val[c]) << "class " << c;
    EXPECT_EQ(train_per[c] + val_per[c], std::size_t(counts[c])) << "class " << c;
  }
  std::set<std::int32_t> all(s.train.begin(), s.train.end());
  for (auto i : s.val) EXPECT_TRUE(all.insert(i).second) << "index " << i << " in both";
  EXPECT_EQ(all.size(), labels.size());
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), std::int32_t(labels.size() - 1));
}

// k = round(val_fraction * n), half away from zero (model/dataset.h), where rounding and flooring
// differ: 0.2 * 13 = 2.6 -> 3, 0.2 * 8 = 1.6 -> 2, 0.5 * 5 = 2.5 -> 3 (not 2: not to even).
TEST(CpuSplit, ValidationCountIsRoundedHalfAwayFromZero) {
  auto count_val = [](const std::vector<int>& counts, double fraction) {
    const auto labels = labels_for(counts);
    const lc::Split s = lc::stratified_split(labels, int(counts.size()), 77, fraction);
    std::vector<std::size_t> per(counts.size());
    for (auto i : s.val) per[std::size_t(labels[std::size_t(i)])]++;
    return per;
  };
  EXPECT_EQ(count_val({13, 8}, 0.2), (std::vector<std::size_t>{3, 2}));
  EXPECT_EQ(count_val({5}, 0.5), (std::vector<std::size_t>{3}));
}

TEST(CpuSplit, DeterministicAndSeedDependent) {
  auto labels = labels_for({100, 100, 100});
  lc::Split a = lc::stratified_split(labels, 3, 7), b = lc::stratified_split(labels, 3, 7);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  lc::Split c = lc::stratified_split(labels, 3, 8);
  EXPECT_NE(a.val, c.val);
  // Not simply the first or last 20% of each class.
  std::vector<std::int32_t> first20;
  for (std::size_t i = 0; i < labels.size() && first20.size() < 60; ++i) first20.push_back(std::int32_t(i));
  EXPECT_NE(a.val, first20);
  // Other fractions.
  lc::Split none = lc::stratified_split(labels, 3, 7, 0.0);
  EXPECT_TRUE(none.val.empty());
  EXPECT_EQ(none.train.size(), 300u);
  EXPECT_EQ(lc::stratified_split(labels, 3, 7, 0.5).val.size(), 150u);
  EXPECT_THROW(lc::stratified_split(labels, 3, 7, 1.0), lc::Error);
  EXPECT_THROW(lc::stratified_split(labels, 2, 7), lc::Error);  // label 2 out of range
}

TEST(CpuSplit, FollowsTheDocumentedGenerator) {
  // The standard fixes mt19937_64's sequence: its 10000th output from the default seed.
  std::mt19937_64 std_check;
  std_check.discard(9999);
  EXPECT_EQ(std_check(), 9981545732273789042ull);
  // Two images of one class (indices 0, 1): Fisher-Yates does one step, i = 1, j = r mod 2
  // (2^64 mod 2 = 0, so nothing is rejected); j = 0 swaps, and the first shuffled index is
  // validation. Class c = 0 seeds the generator with seed + 0x9E3779B97F4A7C15.
  for (std::uint64_t seed : {0ull, 1ull, 42ull, 0xFFFFFFFFFFFFFFFFull, 123456789ull}) {
    std::mt19937_64 gen(seed + 0x9E3779B97F4A7C15ull);
    std::int32_t want = gen() % 2 == 0 ? 1 : 0;
    lc::Split s = lc::stratified_split({0, 0}, 1, seed);
    ASSERT_EQ(s.val.size(), 1u);
    EXPECT_EQ(s.val[0], want) << "seed " << seed;
    // Class 1 uses seed + 2 * 0x9E3779B97F4A7C15 (indices 2 and 3 here).
    std::mt19937_64 gen1(seed + 2 * 0x9E3779B97F4A7C15ull);
    std::int32_t want1 = gen1() % 2 == 0 ? 3 : 2;
    lc::Split s1 = lc::stratified_split({0, 0, 1, 1}, 2, seed);
    ASSERT_EQ(s1.val.size(), 2u);
    EXPECT_EQ(s1.val[1], want1) << "seed " << seed;
  }
}

TEST(CpuDataset, UploadToTheDeviceOnce) {
  TempDir dir, cache;
  make_dataset(dir.file("d"), 2);
  Messages m;
  lc::Dataset ds = lc::load_dataset(dir.file("d"), m.options(cache.path));
  auto dev = lc::make_host_device();
  dev->reset_counts();
  lc::DeviceDataset d = lc::upload_dataset(ds, *dev);
  EXPECT_EQ(d.images.shape(), (lc::Shape{6, 64, 64, 3}));
  EXPECT_EQ(d.images.dtype(), lc::DType::u8);
  EXPECT_EQ(d.labels.shape(), (lc::Shape{6}));
  EXPECT_EQ(d.labels.dtype(), lc::DType::i32);
  EXPECT_EQ(dev->counts().h2d_calls, 2u);
  EXPECT_EQ(dev->counts().h2d_bytes, ds.pixels.size() + ds.labels.size() * 4);
  EXPECT_EQ(d.images.to_host<std::uint8_t>(), ds.pixels);
  EXPECT_EQ(d.labels.to_host<std::int32_t>(), ds.labels);
}

// ----- The real data set ---------------------------------------------------------------------

TEST(E2eDataset, UcMerced64) {
  const char* shared = std::getenv("LC_SHARED_DIR");
  if (!shared || !*shared) GTEST_SKIP() << "LC_SHARED_DIR is not set (the ../shared data folder)";
  const std::string path = std::string(shared) + "/datasets/ucmerced64";
  if (!fs::is_directory(path)) GTEST_SKIP() << path << " does not exist";
  TempDir cache;  // never write into ../shared
  Messages m;
  std::uint64_t before = lc::images_decoded_count();
  lc::Dataset ds = lc::load_dataset(path, m.options(cache.path));
  EXPECT_EQ(lc::images_decoded_count() - before, 2100u);
  ASSERT_EQ(ds.size(), 2100u);
  ASSERT_EQ(ds.num_classes(), 21);
  EXPECT_EQ(ds.class_names.front(), "agricultural");
  EXPECT_EQ(ds.class_names.back(), "tenniscourt");
  EXPECT_EQ(ds.files.front(), "agricultural/agricultural00.jpg");
  for (auto n : ds.class_counts()) EXPECT_EQ(n, 100);
  EXPECT_TRUE(ds.skipped.empty());
  EXPECT_TRUE(m.warnings.empty()) << ::testing::PrintToString(m.warnings);
  // Real photographs: not blank.
  std::set<std::uint8_t> levels(ds.image(0), ds.image(0) + ds.image_bytes());
  EXPECT_GT(levels.size(), 20u);
  // Known quirk of the data set (SOURCE.md): airplane01 and airplane02 are the same picture.
  auto at = [&](const std::string& f) {
    return std::size_t(std::find(ds.files.begin(), ds.files.end(), f) - ds.files.begin());
  };
  std::size_t a1 = at("airplane/airplane01.jpg"), a2 = at("airplane/airplane02.jpg"), a3 = at("airplane/airplane03.jpg");
  ASSERT_LT(a3, ds.size());
  EXPECT_TRUE(std::equal(ds.image(a1), ds.image(a1) + ds.image_bytes(), ds.image(a2)));
  EXPECT_FALSE(std::equal(ds.image(a1), ds.image(a1) + ds.image_bytes(), ds.image(a3)));

  lc::Split s = lc::stratified_split(ds.labels, 21, 1);
  EXPECT_EQ(s.val.size(), 420u);
  EXPECT_EQ(s.train.size(), 1680u);

  before = lc::images_decoded_count();
  lc::Dataset again = lc::load_dataset(path, m.options(cache.path));
  EXPECT_EQ(lc::images_decoded_count(), before);
  EXPECT_TRUE(again.from_cache);
  EXPECT_EQ(again.pixels, ds.pixels);

  lc::DatasetOptions o = m.options(cache.path);
  o.max_images_per_class = 5;
  EXPECT_EQ(lc::load_dataset(path, o).size(), 105u);
}

}  // namespace

// The image data set for training and evaluation: a class-per-folder loader with a decoded cache,
// the stratified train/validation split, and the one-time upload to a device.
//
// Layout: <root>/<ClassName>/<image>, e.g. EuroSAT's 2750/Forest/Forest_1.jpg or
// EuroSAT_RGB/Forest/Forest_1.jpg, ../shared/datasets/ucmerced64/beach/beach00.jpg.
//  - The path given may be the class-folder root itself or a folder that holds exactly one such
//    root one or two levels down (the folder EuroSAT's archive was unpacked into). A class-folder
//    root is a directory with at least one subdirectory that directly contains an image file.
//  - Classes: every subdirectory of the root except hidden ones (name starting with '.') and
//    "__MACOSX", sorted by byte-wise name comparison (locale-independent); label = position.
//  - Images: files with extension .jpg .jpeg .png .bmp .gif .tga .ppm .pgm (any case) directly in
//    a class folder; other files and nested folders are ignored. Sorted by byte-wise file name;
//    with max_images_per_class = N only the first N of each class are used.
//  - Decoding: stb_image (model/image_io.h): grey replicated to RGB, alpha dropped. Images of
//    another size are resized to image_size x image_size with resize_rgb: area averaging when
//    shrinking, bilinear when enlarging (exact integer arithmetic; the aspect ratio is not kept).
//    Files are decoded in parallel (OpenMP, all cores).
//  - Corrupt or unreadable files are SKIPPED: each is reported by name through `warn`, then one
//    warning gives the count. Loading FAILS (lc::Error) when a class folder has no image files,
//    when every image of a class failed to decode, or when nothing could be loaded.
//
// Decoded cache: one file per (class root, image size, max_images) in the cache folder:
// DatasetOptions::cache_dir when set (the CLI's --cache-dir), else $XDG_CACHE_HOME/landcover, else
// $HOME/.cache/landcover (the XDG base-directory convention; never next to the data, which may be
// read-only or shared). Name: <root folder name>-<16 hex digits>.lcdata. It stores a fingerprint of
// the file list (relative paths, sizes, modification times in ns), the image size, max_images and
// the decoder version; a second load whose fingerprint matches reads the pixels back without
// decoding. A cache whose fingerprint differs (files added, removed, touched) is stale; one with a
// bad magic, version, size or CRC-32 is corrupt: either way a note says so and the data set is
// decoded again and the cache rewritten (atomically). A cache that cannot be written is a warning,
// not an error.
//
// Cache file format (little-endian): u8[8] "LCDATA\0\0", u32 version (1), u32 flags (0),
// u64 fingerprint, u32 image_size, u32 classes K, u64 images N, u64 skipped files F,
// K x str class name, N x str relative path, N x i32 label, F x str skipped relative path,
// N*S*S*3 u8 pixels, u32 CRC-32 (model/file_io.h) of every byte before it.
// (str: u32 byte count + bytes.)
//
// Depends on: model/image_io.h, model/file_io.h (CRC-32, atomic files), runtime/tensor.h
// (upload), kernels/common/check.h, OpenMP, POSIX stat.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace lc {

inline constexpr int kDefaultImageSize = 64;

struct DatasetOptions {
  int image_size = kDefaultImageSize;  // images are image_size x image_size x 3 after loading
  int max_images_per_class = 0;        // 0: all; N > 0: the first N files of each class
  bool use_cache = true;               // false: always decode, never read or write a cache
  std::string cache_dir;               // "": default_cache_dir()
  // Messages. warn: skipped files, cache write failures ("landcover: warning: " + text on stderr
  // when unset). note: cache hits, stale or corrupt caches ("landcover: " + text on stderr when
  // unset). progress(done, total) while decoding, called from the loading thread.
  std::function<void(const std::string&)> warn, note;
  std::function<void(std::size_t done, std::size_t total)> progress;
};

struct Dataset {
  std::string root;                      // the class-folder root that was loaded (as found)
  std::vector<std::string> class_names;  // sorted; label = index
  int image_size = kDefaultImageSize;    // S: images are S x S x 3
  std::vector<std::uint8_t> pixels;      // [N][S][S][3] uint8 RGB, HWC, contiguous
  std::vector<std::int32_t> labels;      // [N], in [0, classes); images ordered by class, then name
  std::vector<std::string> files;        // [N] paths relative to root: "beach/beach00.jpg"
  std::vector<std::string> skipped;      // files that could not be decoded (relative paths)
  std::uint64_t fingerprint = 0;         // of the file list and options (see above)
  bool from_cache = false;               // pixels came from the decoded cache
  std::string cache_path;                // the cache file used or written ("" when none)

  std::size_t size() const { return labels.size(); }
  int num_classes() const { return int(class_names.size()); }
  std::size_t image_bytes() const { return std::size_t(image_size) * image_size * 3; }
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * image_bytes(); }
  std::vector<std::int64_t> class_counts() const;  // images per class
};

// Loads a data set (see the rules above). Throws lc::Error naming the path for a missing or
// unusable folder, an empty class, or a data set with no decodable image.
Dataset load_dataset(const std::string& path, const DatasetOptions& options = {});

// The cache reader and writer on their own (fuzzing, tests): check_cache_file reads `path` as
// load_dataset does for a data set of these classes, relative file names, image size and
// fingerprint, and returns "" (usable) or why it would be rebuilt.
std::string check_cache_file(const std::string& path, const std::vector<std::string>& classes,
                             const std::vector<std::string>& files, int image_size, std::uint64_t fingerprint);
void write_cache_file(const std::string& path, const Dataset& ds);

// The class-folder root for a path (the detection rules above); throws lc::Error when there is
// none or several candidates.
std::string find_class_root(const std::string& path);

// $XDG_CACHE_HOME/landcover, else $HOME/.cache/landcover; "" when neither variable is set.
std::string default_cache_dir();

// Images decoded (attempted) by load_dataset in this process, over all calls: tests use it to prove
// that a cache hit decodes nothing.
std::uint64_t images_decoded_count();

// Stratified split: indices into the data set, each list ascending.
struct Split {
  std::vector<std::int32_t> train, val;
};
// For each class c (in label order), its image indices in ascending order are shuffled by
// Fisher-Yates: for i = n-1 down to 1, j = uniform(0..i) from the generator, swap(a[i], a[j]).
// The generator is std::mt19937_64 seeded with  seed + 0x9E3779B97F4A7C15 * (c + 1)  (mod 2^64),
// and uniform(0..i) takes the next 64-bit output r, rejects r < (2^64 mod (i+1)) and returns
// r mod (i+1) (exact, unlike std::uniform_int_distribution, whose algorithm is implementation-
// defined). The first k = round(val_fraction * n) shuffled indices (half away from zero), at least
// 1 and at most n-1 when n >= 2 and val_fraction > 0, 0 when n < 2, go to validation, the rest to
// training. The result depends only on (labels, num_classes, seed, val_fraction): the same on
// every machine and compiler.
Split stratified_split(const std::vector<std::int32_t>& labels, int num_classes, std::uint64_t seed,
                       double val_fraction = 0.2);

// The data set on a device, uploaded once: images [N][S][S][3] u8 and labels [N] i32. The training
// step gathers batches by index from these (kernels/image: gather_batch).
struct DeviceDataset {
  Tensor images;
  Tensor labels;
};
DeviceDataset upload_dataset(const Dataset& ds, Device& dev, stream_t stream = nullptr);

}  // namespace lc

// LCGOLDEN reader (tests/golden/golden_file.h). Decodes little-endian explicitly, byte by byte, so
// it reads the same on any host. Depends on: kernels/common/check.h.
#include "tests/golden/golden_file.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "kernels/common/check.h"

namespace lc::test {

namespace {

std::size_t dtype_bytes(GoldenDType t) {
  switch (t) {
    case GoldenDType::f32: return 4;
    case GoldenDType::f64: return 8;
    case GoldenDType::i32: return 4;
    case GoldenDType::u8: return 1;
    case GoldenDType::i64: return 8;
  }
  return 0;
}

const char* dtype_label(GoldenDType t) {
  switch (t) {
    case GoldenDType::f32: return "f32";
    case GoldenDType::f64: return "f64";
    case GoldenDType::i32: return "i32";
    case GoldenDType::u8: return "u8";
    case GoldenDType::i64: return "i64";
  }
  return "?";
}

class Cursor {
 public:
  Cursor(const std::vector<unsigned char>& b, const std::string& origin) : b_(b), origin_(origin) {}
  std::uint64_t uint(int bytes, const char* what) {
    need(std::size_t(bytes), what);
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t(b_[pos_ + i]) << (8 * i);
    pos_ += std::size_t(bytes);
    return v;
  }
  void take(std::size_t n, const char* what, std::vector<unsigned char>& out) {
    need(n, what);
    out.assign(b_.begin() + std::ptrdiff_t(pos_), b_.begin() + std::ptrdiff_t(pos_ + n));
    pos_ += n;
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return b_.size() - pos_; }

 private:
  void need(std::size_t n, const char* what) const {
    LC_CHECK(n <= b_.size() - pos_, origin_, ": truncated at byte ", pos_, " reading ", what);
  }
  const std::vector<unsigned char>& b_;
  const std::string& origin_;
  std::size_t pos_ = 0;
};

template <class T>
std::vector<T> decode(const GoldenRecord& r) {
  std::vector<T> out(static_cast<std::size_t>(r.numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint64_t bits = 0;
    for (std::size_t k = 0; k < sizeof(T); ++k) bits |= std::uint64_t(r.data[i * sizeof(T) + k]) << (8 * k);
    if constexpr (sizeof(T) == 8) {
      std::memcpy(&out[i], &bits, 8);
    } else if constexpr (sizeof(T) == 4) {
      const std::uint32_t b32 = std::uint32_t(bits);
      std::memcpy(&out[i], &b32, 4);
    } else {
      const std::uint8_t b8 = std::uint8_t(bits);
      std::memcpy(&out[i], &b8, 1);
    }
  }
  return out;
}

}  // namespace

std::int64_t GoldenRecord::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

GoldenFile GoldenFile::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LC_CHECK(in.good(), path, ": cannot open");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(bytes, path);
}

GoldenFile GoldenFile::parse(const std::vector<unsigned char>& bytes, const std::string& origin) {
  GoldenFile g;
  g.origin_ = origin;
  Cursor c(bytes, origin);
  std::vector<unsigned char> magic;
  c.take(8, "the magic", magic);
  LC_CHECK(std::memcmp(magic.data(), "LCGOLDEN", 8) == 0, origin, ": not an LCGOLDEN file (bad magic)");
  const auto version = std::uint32_t(c.uint(4, "the version"));
  LC_CHECK(version == kVersion, origin, ": LCGOLDEN version ", version, ", this reader knows ", kVersion);
  const auto count = std::uint32_t(c.uint(4, "the record count"));
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto name_len = std::size_t(c.uint(4, "a name length"));
    std::vector<unsigned char> name_bytes;
    c.take(name_len, "a name", name_bytes);
    std::string name(name_bytes.begin(), name_bytes.end());
    GoldenRecord r;
    const auto dtype = std::uint32_t(c.uint(4, "a dtype"));
    LC_CHECK(dtype <= 4, origin, ": record '", name, "': unknown dtype ", dtype);
    r.dtype = GoldenDType(dtype);
    const auto ndim = std::uint32_t(c.uint(4, "a rank"));
    LC_CHECK(ndim <= 8, origin, ": record '", name, "': rank ", ndim, " is implausible");
    std::uint64_t n = 1;
    for (std::uint32_t d = 0; d < ndim; ++d) {
      const auto dim = std::int64_t(c.uint(8, "a dimension"));
      LC_CHECK(dim >= 0 && std::uint64_t(dim) <= c.left(), origin, ": record '", name, "': bad dimension ", dim);
      r.dims.push_back(dim);
      n *= std::uint64_t(dim);
      LC_CHECK(n <= c.left(), origin, ": record '", name, "': truncated (", n, " elements announced)");
    }
    c.take(std::size_t(n) * dtype_bytes(r.dtype), "record data", r.data);
    LC_CHECK(!g.records_.count(name), origin, ": duplicate record '", name, "'");
    g.order_.push_back(name);
    g.records_.emplace(std::move(name), std::move(r));
  }
  LC_CHECK(c.left() == 0, origin, ": ", c.left(), " trailing bytes after ", count, " records");
  return g;
}

const GoldenRecord& GoldenFile::record(const std::string& name) const {
  auto it = records_.find(name);
  LC_CHECK(it != records_.end(), origin_, ": no record '", name, "'");
  return it->second;
}

namespace {
const GoldenRecord& typed(const GoldenFile& g, const std::string& name, GoldenDType want, const std::string& origin) {
  const GoldenRecord& r = g.record(name);
  LC_CHECK(r.dtype == want, origin, ": record '", name, "' is ", dtype_label(r.dtype), ", not ", dtype_label(want));
  return r;
}
}  // namespace

std::vector<float> GoldenFile::f32(const std::string& name) const {
  return decode<float>(typed(*this, name, GoldenDType::f32, origin_));
}
std::vector<double> GoldenFile::f64(const std::string& name) const {
  return decode<double>(typed(*this, name, GoldenDType::f64, origin_));
}
std::vector<std::int32_t> GoldenFile::i32(const std::string& name) const {
  return decode<std::int32_t>(typed(*this, name, GoldenDType::i32, origin_));
}
std::vector<std::uint8_t> GoldenFile::u8(const std::string& name) const {
  return decode<std::uint8_t>(typed(*this, name, GoldenDType::u8, origin_));
}
std::vector<std::int64_t> GoldenFile::i64(const std::string& name) const {
  return decode<std::int64_t>(typed(*this, name, GoldenDType::i64, origin_));
}

namespace {
template <class T>
T only(const std::vector<T>& v, const std::string& origin, const std::string& name) {
  LC_CHECK(v.size() == 1, origin, ": record '", name, "' has ", v.size(), " elements, not one");
  return v[0];
}
}  // namespace

double GoldenFile::f64_scalar(const std::string& name) const { return only(f64(name), origin_, name); }
std::int64_t GoldenFile::i64_scalar(const std::string& name) const { return only(i64(name), origin_, name); }
std::int32_t GoldenFile::i32_scalar(const std::string& name) const { return only(i32(name), origin_, name); }

std::string GoldenFile::text(const std::string& name) const {
  const auto v = u8(name);
  return std::string(v.begin(), v.end());
}

}  // namespace lc::test

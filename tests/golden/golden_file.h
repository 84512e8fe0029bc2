// Reader of LCGOLDEN files: the small, versioned, little-endian binary files of reference numbers
// written by tests/golden/make_golden.py (through tests/golden/lcgolden.py, which documents the
// format; version 1):
//   "LCGOLDEN", u32 version, u32 record count, then per record: u32 name length, name bytes,
//   u32 dtype (0 f32, 1 f64, 2 i32, 3 u8, 4 i64), u32 ndim, ndim x i64 dims, the data (row-major).
// Depends on: kernels/common/check.h (lc::Error). Test support only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lc::test {

enum class GoldenDType : std::uint32_t { f32 = 0, f64 = 1, i32 = 2, u8 = 3, i64 = 4 };

struct GoldenRecord {
  GoldenDType dtype = GoldenDType::f32;
  std::vector<std::int64_t> dims;   // empty: a scalar
  std::vector<unsigned char> data;  // raw little-endian bytes
  std::int64_t numel() const;
};

class GoldenFile {
 public:
  static constexpr std::uint32_t kVersion = 1;

  // Parses a whole file; throws lc::Error naming the file and what is wrong (bad magic, unknown
  // version or dtype, truncation, trailing bytes, duplicate names).
  static GoldenFile load(const std::string& path);
  static GoldenFile parse(const std::vector<unsigned char>& bytes, const std::string& origin);

  bool has(const std::string& name) const { return records_.count(name) != 0; }
  const std::vector<std::string>& names() const { return order_; }  // in file order
  // The record; throws lc::Error when absent.
  const GoldenRecord& record(const std::string& name) const;

  // Typed access; each throws lc::Error when the record is absent or of another dtype.
  std::vector<float> f32(const std::string& name) const;
  std::vector<double> f64(const std::string& name) const;
  std::vector<std::int32_t> i32(const std::string& name) const;
  std::vector<std::uint8_t> u8(const std::string& name) const;
  std::vector<std::int64_t> i64(const std::string& name) const;
  // Scalars (a record with one element).
  double f64_scalar(const std::string& name) const;
  std::int64_t i64_scalar(const std::string& name) const;
  std::int32_t i32_scalar(const std::string& name) const;
  std::string text(const std::string& name) const;  // a u8 record as a string

 private:
  std::string origin_;
  std::map<std::string, GoldenRecord> records_;
  std::vector<std::string> order_;
};

}  // namespace lc::test

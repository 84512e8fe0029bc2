// Classic netCDF header walk (see netcdf_header.h). The layout, from the netCDF classic format
// specification: magic "CDF" version; numrecs; dim_list; gatt_list; var_list. A list is ABSENT
// (two zero words) or tag, nelems, elements. Counts and lengths are 4-byte big-endian words, 8-byte
// in CDF-5; a variable's begin offset is 4 bytes in CDF-1, 8 in CDF-2 and CDF-5; names and
// attribute values are padded to 4 bytes.
// Depends on: model/correlate/netcdf_header.h, kernels/common/check.h.
#include "model/correlate/netcdf_header.h"

#include <cstdint>
#include <fstream>
#include <vector>

#include "kernels/common/check.h"

namespace lc::co2 {

namespace {

constexpr std::uint64_t kDimension = 0x0A, kVariable = 0x0B, kAttribute = 0x0C;

class HeaderReader {
 public:
  // `in` stands after the 4-byte magic.
  HeaderReader(const std::string& path, std::ifstream& in, std::uint64_t size, int version)
      : path_(path), in_(in), size_(size), wide_(version == 5), version_(version) {}

  std::uint64_t word(int bytes) {
    std::uint8_t b[8] = {};
    in_.read(reinterpret_cast<char*>(b), bytes);
    if (in_.gcount() != bytes) LC_FAIL(path_, ": unreadable netCDF: header ends early (corrupt)");
    pos_ += std::uint64_t(bytes);
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = v << 8 | b[i];
    return v;
  }
  std::uint64_t count() { return word(wide_ ? 8 : 4); }
  // A count of elements of at least `each` bytes that must fit in what is left of the file.
  std::uint64_t count_of(std::uint64_t each, const char* what) {
    const std::uint64_t n = count();
    if (n > (size_ - pos_) / each)
      LC_FAIL(path_, ": unreadable netCDF: header declares ", n, " ", what, " in ", size_, " bytes (corrupt)");
    return n;
  }
  void skip(std::uint64_t bytes) {
    const std::uint64_t padded = (bytes + 3) / 4 * 4;
    if (padded > size_ - pos_) LC_FAIL(path_, ": unreadable netCDF: header ends early (corrupt)");
    in_.seekg(std::streamoff(padded), std::ios::cur);
    pos_ += padded;
  }
  void name() { skip(count_of(1, "name bytes")); }
  void attributes() {
    const std::uint64_t tag = word(4);
    const std::uint64_t n = count_of(12, "attributes");
    if (tag != kAttribute && !(tag == 0 && n == 0)) LC_FAIL(path_, ": unreadable netCDF: bad attribute list tag");
    for (std::uint64_t i = 0; i < n; ++i) {
      name();
      const std::uint64_t type = word(4);
      static const int kSize[] = {0, 1, 1, 2, 4, 4, 8, 1, 2, 4, 8, 8};
      if (type < 1 || type > (version_ == 5 ? 11u : 6u)) LC_FAIL(path_, ": unreadable netCDF: bad attribute type ", type);
      skip(count_of(std::uint64_t(kSize[type]), "attribute values") * std::uint64_t(kSize[type]));
    }
  }
  void walk() {
    word(wide_ ? 8 : 4);  // numrecs
    std::uint64_t tag = word(4);
    std::uint64_t n = count_of(8, "dimensions");
    if (tag != kDimension && !(tag == 0 && n == 0)) LC_FAIL(path_, ": unreadable netCDF: bad dimension list tag");
    for (std::uint64_t i = 0; i < n; ++i) name(), count();
    attributes();
    tag = word(4);
    n = count_of(16, "variables");
    if (tag != kVariable && !(tag == 0 && n == 0)) LC_FAIL(path_, ": unreadable netCDF: bad variable list tag");
    for (std::uint64_t i = 0; i < n; ++i) {
      name();
      const std::uint64_t dims = count_of(wide_ ? 8 : 4, "dimension ids");
      for (std::uint64_t d = 0; d < dims; ++d) count();
      attributes();
      word(4);                      // nc_type
      count();                      // vsize
      word(version_ == 1 ? 4 : 8);  // begin
    }
  }

 private:
  const std::string& path_;
  std::ifstream& in_;
  std::uint64_t size_, pos_ = 4;
  bool wide_;
  int version_;
};

}  // namespace

void check_classic_netcdf_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return;  // the caller reports unreadable files
  const std::uint64_t size = std::uint64_t(in.tellg());
  in.seekg(0);
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() != 4 || magic[0] != 'C' || magic[1] != 'D' || magic[2] != 'F') return;
  const int version = magic[3];
  if (version != 1 && version != 2 && version != 5) return;  // netCDF-C says what it is
  HeaderReader(path, in, size, version).walk();
}

}  // namespace lc::co2

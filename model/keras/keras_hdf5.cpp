// HDF5 files held in memory for the Keras exchange (keras_internal.h): the core driver reads a file
// image and writes a new file without touching the disk; HDF5's own error printing is off (every
// failure becomes one lc::Error line naming the file and the object).
// Depends on: model/keras/keras_internal.h, HDF5 C library, kernels/common/check.h.
#include <algorithm>
#include <cstring>

#include "kernels/common/check.h"
#include "model/keras/keras_internal.h"

namespace lc::keras {
namespace {

void quiet_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

// A variable-length UTF-8 string type (h5py's for Python str).
H5 vlen_utf8() {
  H5 t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.id(), H5T_VARIABLE);
  H5Tset_cset(t.id(), H5T_CSET_UTF8);
  return t;
}

}  // namespace

bool is_hdf5(const std::vector<std::uint8_t>& bytes) {
  static const std::uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  return bytes.size() >= 8 && std::memcmp(bytes.data(), sig, 8) == 0;
}

H5 h5_open_image(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  quiet_hdf5();
  LC_CHECK(is_hdf5(bytes), origin, ": not an HDF5 file");
  H5 fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  LC_CHECK(H5Pset_fapl_core(fapl.id(), 1 << 20, 0) >= 0 &&
               H5Pset_file_image(fapl.id(), const_cast<std::uint8_t*>(bytes.data()), bytes.size()) >= 0,
           origin, ": HDF5 cannot hold the file in memory");
  H5 f(H5Fopen("keras-image.h5", H5F_ACC_RDONLY, fapl.id()), H5Fclose);
  LC_CHECK(f.id() >= 0, origin, ": HDF5 cannot open it (truncated or corrupt)");
  return f;
}

H5 h5_create_image() {
  quiet_hdf5();
  H5 fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  LC_CHECK(H5Pset_fapl_core(fapl.id(), 1 << 20, 0) >= 0, "HDF5: cannot set the in-memory driver");
  H5 f(H5Fcreate("keras-export.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id()), H5Fclose);
  LC_CHECK(f.id() >= 0, "HDF5: cannot create a file in memory");
  return f;
}

std::vector<std::uint8_t> h5_image_bytes(hid_t file) {
  LC_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0, "HDF5: cannot flush the file in memory");
  const ssize_t n = H5Fget_file_image(file, nullptr, 0);
  LC_CHECK(n > 0, "HDF5: cannot get the file image");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n));
  LC_CHECK(H5Fget_file_image(file, bytes.data(), bytes.size()) == n, "HDF5: cannot copy the file image");
  return bytes;
}

bool h5_has(hid_t loc, const std::string& path) {
  std::string prefix;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    prefix += (prefix.empty() ? "" : "/") + path.substr(start, end - start);
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    start = end + 1;
  }
  return true;
}

H5 h5_open_group(hid_t loc, const std::string& path, const std::string& origin) {
  LC_CHECK(h5_has(loc, path), origin, ": no group '", path, "'");
  H5 g(H5Gopen2(loc, path.c_str(), H5P_DEFAULT), H5Gclose);
  LC_CHECK(g.id() >= 0, origin, ": '", path, "' is not a group");
  return g;
}

H5 h5_new_group(hid_t loc, const std::string& name) {
  H5 g(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  LC_CHECK(g.id() >= 0, "HDF5: cannot create group '", name, "'");
  return g;
}

std::vector<std::string> h5_children(hid_t group) {
  std::vector<std::string> names;
  H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names);
  return names;
}

bool h5_has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

std::vector<std::string> h5_attr_strings(hid_t obj, const char* name, const std::string& origin) {
  LC_CHECK(h5_has_attr(obj, name), origin, ": no attribute '", name, "'");
  H5 a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  H5 type(H5Aget_type(a.id()), H5Tclose);
  H5 space(H5Aget_space(a.id()), H5Sclose);
  LC_CHECK(a.id() >= 0 && type.id() >= 0 && space.id() >= 0, origin, ": cannot read attribute '", name, "'");
  const hssize_t n = H5Sget_simple_extent_npoints(space.id());
  LC_CHECK(n >= 0 && n <= (1 << 20), origin, ": attribute '", name, "' has a bad size");
  if (H5Tget_class(type.id()) != H5T_STRING) {
    LC_CHECK(n == 0, origin, ": attribute '", name, "' is not text");
    return {};
  }
  std::vector<std::string> out;
  if (H5Tis_variable_str(type.id()) > 0) {
    std::vector<char*> p(std::size_t(n), nullptr);
    H5 mem = vlen_utf8();
    H5Tset_cset(mem.id(), H5Tget_cset(type.id()));
    LC_CHECK(H5Aread(a.id(), mem.id(), p.data()) >= 0, origin, ": cannot read attribute '", name, "'");
    for (char* s : p) out.emplace_back(s ? s : "");
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mem.id(), space.id(), H5P_DEFAULT, p.data());
#else
    H5Dvlen_reclaim(mem.id(), space.id(), H5P_DEFAULT, p.data());
#endif
  } else {
    const std::size_t size = H5Tget_size(type.id());
    LC_CHECK(size > 0 && size <= (1 << 26), origin, ": attribute '", name, "' has a bad string size");
    std::vector<char> buf(size * std::size_t(n) + 1, '\0');
    LC_CHECK(H5Aread(a.id(), type.id(), buf.data()) >= 0, origin, ": cannot read attribute '", name, "'");
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + std::size_t(i) * size;
      out.emplace_back(s, strnlen(s, size));
    }
  }
  return out;
}

std::string h5_attr_string(hid_t obj, const char* name, const std::string& origin) {
  const std::vector<std::string> v = h5_attr_strings(obj, name, origin);
  LC_CHECK(v.size() == 1, origin, ": attribute '", name, "' holds ", v.size(), " strings, expected one");
  return v[0];
}

Array h5_read_array(hid_t loc, const std::string& path, const std::string& origin) {
  LC_CHECK(h5_has(loc, path), origin, ": no dataset '", path, "'");
  H5 d(H5Dopen2(loc, path.c_str(), H5P_DEFAULT), H5Dclose);
  LC_CHECK(d.id() >= 0, origin, ": '", path, "' is not a dataset");
  H5 type(H5Dget_type(d.id()), H5Tclose);
  LC_CHECK(H5Tget_class(type.id()) == H5T_FLOAT, origin, ": dataset '", path, "' is not floating point");
  H5 space(H5Dget_space(d.id()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.id());
  LC_CHECK(rank >= 0 && rank <= 8, origin, ": dataset '", path, "' has rank ", rank);
  hsize_t dims[8] = {};
  H5Sget_simple_extent_dims(space.id(), dims, nullptr);
  Array a;
  std::uint64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    a.shape.push_back(std::int64_t(dims[i]));
    numel *= dims[i];
    // 2^27 floats (512 MiB) per tensor: far above any model landcover runs, and a forged shape
    // cannot make the reader allocate more.
    LC_CHECK(numel <= (std::uint64_t(1) << 27), origin, ": dataset '", path, "' is too large (", numel,
             " values so far)");
  }
  a.data.resize(std::size_t(numel));
  if (numel > 0)
    LC_CHECK(H5Dread(d.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.data.data()) >= 0, origin,
             ": cannot read dataset '", path, "' (truncated or corrupt)");
  return a;
}

void h5_write_array(hid_t loc, const std::string& name, const std::vector<std::int64_t>& shape, const float* data) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5 space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  H5 d(H5Dcreate2(loc, name.c_str(), H5T_IEEE_F32LE, space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  LC_CHECK(d.id() >= 0 && H5Dwrite(d.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0,
           "HDF5: cannot write dataset '", name, "'");
}

void h5_write_attr(hid_t obj, const char* name, const std::string& value) {
  H5 type = vlen_utf8();
  H5 space(H5Screate(H5S_SCALAR), H5Sclose);
  H5 a(H5Acreate2(obj, name, type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  LC_CHECK(a.id() >= 0 && H5Awrite(a.id(), type.id(), &p) >= 0, "HDF5: cannot write attribute '", name, "'");
}

void h5_write_attr(hid_t obj, const char* name, const std::vector<std::string>& values) {
  H5 type = vlen_utf8();
  const hsize_t n = values.size();
  H5 space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  H5 a(H5Acreate2(obj, name, type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::vector<const char*> p;
  for (const std::string& s : values) p.push_back(s.c_str());
  LC_CHECK(a.id() >= 0 && (n == 0 || H5Awrite(a.id(), type.id(), p.data()) >= 0), "HDF5: cannot write attribute '",
           name, "'");
}

}  // namespace lc::keras

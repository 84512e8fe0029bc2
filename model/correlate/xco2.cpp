// XCO2 readers (see xco2.h): delimited tables, Lite netCDF, gridded netCDF.
// Depends on: model/correlate/xco2.h, model/correlate/text.h, netCDF-C, kernels/common/check.h.
#include "model/correlate/xco2.h"

#include "model/correlate/netcdf_header.h"

#include <netcdf.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "kernels/common/check.h"
#include "model/correlate/text.h"

namespace lc::co2 {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Classifies each value as mol/mol or ppm and converts to ppm; refuses a file mixing both.
class UnitDetector {
 public:
  explicit UnitDetector(std::string path) : path_(std::move(path)) {}
  // `where` names the value's place ("line 12", "index 40") for errors.
  double to_ppm(double v, const std::string& where) {
    int kind = 0;
    if (v > 0 && v < 0.01) kind = 1;
    else if (v >= 100 && v <= 1000) kind = 2;
    else LC_FAIL(path_, ": xco2 value ", v, " at ", where, " is neither mol/mol (0..0.01) nor ppm (100..1000)");
    if (kind_ == 0) {
      kind_ = kind;
      first_ = where;
    } else if (kind != kind_) {
      LC_FAIL(path_, ": mixed units: xco2 at ", first_, " is in ", name(kind_), ", at ", where, " in ", name(kind));
    }
    return kind == 1 ? v * 1e6 : v;
  }
  std::string units() const { return kind_ == 0 ? "" : name(kind_); }

 private:
  static std::string name(int k) { return k == 1 ? "mol/mol" : "ppm"; }
  std::string path_, first_;
  int kind_ = 0;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Column of the header named `want` (case-insensitive), or carrying it as a prefix followed by
// '.', ' ' or '('; -1 when none.
int find_column(const std::vector<std::string>& header, const std::vector<std::string>& names, bool exact) {
  for (const std::string& want : names)
    for (std::size_t i = 0; i < header.size(); ++i) {
      const std::string h = lower(header[i]), w = lower(want);
      if (h == w) return static_cast<int>(i);
      if (!exact && h.size() > w.size() && h.compare(0, w.size(), w) == 0 && std::strchr(". (", h[w.size()]))
        return static_cast<int>(i);
    }
  return -1;
}

std::string joined_names(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Column indices lon, lat, time, xco2, uncertainty (-1 when absent and optional).
std::array<int, 5> table_columns(const std::vector<std::string>& header, const Xco2ReadOptions& opt,
                                 const std::string& path) {
  static const std::vector<std::vector<std::string>> kAuto = {
      {"longitude", "lon"}, {"latitude", "lat"}, {"time", "date", "datetime"}, {"xco2"}, {"xco2_uncertainty"}};
  static const char* kRole[] = {"longitude", "latitude", "time", "xco2", "uncertainty"};
  std::array<int, 5> idx{-1, -1, -1, -1, -1};
  for (int r = 0; r < 5; ++r) {
    const bool given = !opt.columns.empty();
    if (given && r >= static_cast<int>(opt.columns.size())) break;
    idx[r] = given ? find_column(header, {opt.columns[r]}, true) : find_column(header, kAuto[r], false);
    if (idx[r] < 0 && (given || r < 4))
      LC_FAIL(path, ": no ", kRole[r], " column ", given ? "'" + opt.columns[r] + "'" : "(looked for " + joined_names(kAuto[r]) + ")",
              "; columns are: ", joined_names(header), " (choose with --xco2-columns lon,lat,time,xco2)");
  }
  return idx;
}

double table_number(const std::string& s, const std::string& path, int line, const std::string& role) {
  const auto v = parse_number(s);
  if (!v) LC_FAIL(path, ": line ", line, ": ", role, " '", s, "' is not a number");
  return *v;
}

Xco2Source read_table(const std::string& path, const std::string& text, const Xco2ReadOptions& opt,
                      std::vector<Sounding>& out) {
  const std::string first_line = text.substr(0, text.find('\n'));
  const char delim = first_line.find('\t') != std::string::npos ? '\t' : ',';
  const auto rows = parse_delimited(text, delim, path);
  if (rows.size() < 2) LC_FAIL(path, ": no data rows (a header line and at least one row are needed)");
  const auto idx = table_columns(rows[0], opt, path);
  Xco2Source src{path, "table", "", rows.size() - 1, 0, 0, 0};
  UnitDetector units(path);
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r];
    const int line = static_cast<int>(r) + 1;  // physical line when no field spans lines
    if (f.size() != rows[0].size())
      LC_FAIL(path, ": line ", line, " has ", f.size(), " fields, the header has ", rows[0].size());
    Sounding s;
    s.lon = table_number(f[idx[0]], path, line, "longitude");
    s.lat = table_number(f[idx[1]], path, line, "latitude");
    if (s.lon < -180 || s.lon > 360 || s.lat < -90 || s.lat > 90)
      LC_FAIL(path, ": line ", line, ": longitude/latitude ", s.lon, ",", s.lat, " out of range");
    if (s.lon > 180) s.lon -= 360;
    const auto t = parse_time(f[idx[2]]);
    if (!t) LC_FAIL(path, ": line ", line, ": time '", f[idx[2]], "' is neither ISO 8601 nor YYYYMMDDhhmmss");
    s.time = *t;
    s.xco2 = units.to_ppm(table_number(f[idx[3]], path, line, "xco2"), "line " + std::to_string(line));
    s.uncertainty = kNaN;
    if (idx[4] >= 0 && !f[idx[4]].empty()) {
      const double u = table_number(f[idx[4]], path, line, "xco2 uncertainty");
      s.uncertainty = units.units() == "mol/mol" ? u * 1e6 : u;
    }
    out.push_back(s);
    ++src.kept;
  }
  src.units = units.units();
  return src;
}

// ----- netCDF -----------------------------------------------------------------------------------

void nc_ok(int status, const std::string& path, const std::string& what) {
  if (status != NC_NOERR) LC_FAIL(path, ": ", what, ": ", nc_strerror(status));
}

struct NcFile {
  int id = -1;
  std::string path;
  explicit NcFile(const std::string& p) : path(p) {
    check_classic_netcdf_header(p);  // before netCDF-C allocates what a corrupt header declares
    const int st = nc_open(p.c_str(), NC_NOWRITE, &id);
    if (st != NC_NOERR) LC_FAIL(p, ": unreadable netCDF: ", nc_strerror(st));
  }
  ~NcFile() { nc_close(id); }
  NcFile(const NcFile&) = delete;
  NcFile& operator=(const NcFile&) = delete;

  int var(const std::string& name, bool required = true) const {
    int v = -1;
    if (nc_inq_varid(id, name.c_str(), &v) != NC_NOERR) {
      if (required) LC_FAIL(path, ": no variable '", name, "' (variables: ", joined_names(var_names()), ")");
      return -1;
    }
    return v;
  }
  std::vector<std::string> var_names() const {
    int n = 0;
    nc_inq_nvars(id, &n);
    std::vector<std::string> names;
    for (int v = 0; v < n; ++v) {
      char name[NC_MAX_NAME + 1] = {};
      nc_inq_varname(id, v, name);
      names.emplace_back(name);
    }
    return names;
  }
  std::vector<int> dims(int v) const {
    int nd = 0;
    nc_ok(nc_inq_varndims(id, v, &nd), path, "variable dimensions");
    std::vector<int> d(static_cast<std::size_t>(nd));
    if (nd > 0) nc_ok(nc_inq_vardimid(id, v, d.data()), path, "variable dimensions");
    return d;
  }
  std::size_t dim_len(int d) const {
    std::size_t n = 0;
    nc_ok(nc_inq_dimlen(id, d, &n), path, "dimension length");
    return n;
  }
  std::vector<double> read(int v, const std::string& name) const {
    std::size_t n = 1;
    for (int d : dims(v)) n *= dim_len(d);
    std::vector<double> data(n);
    if (n > 0) nc_ok(nc_get_var_double(id, v, data.data()), path, "reading '" + name + "'");
    return data;
  }
  std::optional<std::string> text_att(int v, const char* att) const {
    std::size_t len = 0;
    nc_type type{};
    if (nc_inq_att(id, v, att, &type, &len) != NC_NOERR || type != NC_CHAR) return std::nullopt;
    std::string s(len, '\0');
    if (len > 0) nc_ok(nc_get_att_text(id, v, att, s.data()), path, std::string("attribute ") + att);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
  }
  std::optional<double> num_att(int v, const char* att) const {
    std::size_t len = 0;
    nc_type type{};
    if (nc_inq_att(id, v, att, &type, &len) != NC_NOERR || type == NC_CHAR || len != 1) return std::nullopt;
    double x = 0;
    nc_ok(nc_get_att_double(id, v, att, &x), path, std::string("attribute ") + att);
    return x;
  }
};

// Converts a CF time variable ("<seconds|minutes|hours|days> since <ISO time>") to seconds since 1970.
std::vector<double> cf_times(const NcFile& nc, int v, const std::string& name) {
  const auto units = nc.text_att(v, "units");
  if (!units) LC_FAIL(nc.path, ": variable '", name, "' has no units attribute (expected \"seconds since ...\")");
  std::istringstream ss(*units);
  std::string unit, since, origin_text, rest;
  ss >> unit >> since;
  std::getline(ss, origin_text);
  const double scale = unit == "seconds" || unit == "s" ? 1 : unit == "minutes" ? 60 : unit == "hours" ? 3600 : unit == "days" ? 86400 : 0;
  auto trimmed = origin_text;
  while (!trimmed.empty() && trimmed.front() == ' ') trimmed.erase(trimmed.begin());
  std::optional<double> origin = parse_time(trimmed);
  if (!origin && trimmed.size() > 10) origin = parse_time(trimmed.substr(0, 10) + "T" + trimmed.substr(11));
  if (!origin && trimmed.size() >= 10) origin = parse_time(trimmed.substr(0, 10));  // "1970-01-01 00:00:00 UTC"
  if (scale == 0 || since != "since" || !origin)
    LC_FAIL(nc.path, ": variable '", name, "' has units '", *units, "', expected \"<seconds|minutes|hours|days> since <date>\"");
  auto t = nc.read(v, name);
  for (double& x : t) x = *origin + x * scale;
  return t;
}

Xco2Source read_lite(const NcFile& nc, int xv, const Xco2ReadOptions& opt, std::vector<Sounding>& out) {
  const auto xco2 = nc.read(xv, "xco2");
  const auto lat = nc.read(nc.var("latitude"), "latitude");
  const auto lon = nc.read(nc.var("longitude"), "longitude");
  const auto time = cf_times(nc, nc.var("time"), "time");
  const int qv = nc.var("xco2_quality_flag", !opt.all_quality);
  const std::vector<double> flag = qv >= 0 ? nc.read(qv, "xco2_quality_flag") : std::vector<double>(xco2.size(), 0);
  const int uv = nc.var("xco2_uncertainty", false);
  const std::vector<double> unc = uv >= 0 ? nc.read(uv, "xco2_uncertainty") : std::vector<double>(xco2.size(), kNaN);
  for (const auto* v : {&lat, &lon, &time, &flag, &unc})
    if (v->size() != xco2.size())
      LC_FAIL(nc.path, ": Lite variables differ in length (xco2 has ", xco2.size(), " soundings, another ", v->size(), ")");
  Xco2Source src{nc.path, "lite", "", xco2.size(), 0, 0, 0};
  UnitDetector units(nc.path);
  for (std::size_t i = 0; i < xco2.size(); ++i) {
    if (!opt.all_quality && flag[i] != 0) {
      ++src.dropped_quality;
      continue;
    }
    if (!std::isfinite(xco2[i]) || !std::isfinite(lat[i]) || !std::isfinite(lon[i]) || !std::isfinite(time[i])) {
      ++src.dropped_missing;
      continue;
    }
    Sounding s{lon[i] > 180 ? lon[i] - 360 : lon[i], lat[i], time[i], 0, kNaN};
    s.xco2 = units.to_ppm(xco2[i], "sounding " + std::to_string(i));
    if (std::isfinite(unc[i])) s.uncertainty = units.units() == "mol/mol" ? unc[i] * 1e6 : unc[i];
    out.push_back(s);
    ++src.kept;
  }
  src.units = units.units();
  return src;
}

// The dimension of `v` whose coordinate variable has one of `names`; returns {dim index in v, coordinate var} or {-1,-1}.
std::pair<int, int> grid_axis(const NcFile& nc, const std::vector<int>& dims, std::initializer_list<const char*> names) {
  for (std::size_t k = 0; k < dims.size(); ++k) {
    char dname[NC_MAX_NAME + 1] = {};
    nc_inq_dimname(nc.id, dims[k], dname);
    for (const char* n : names)
      if (lower(dname) == n) {
        const int cv = nc.var(dname, false);
        if (cv < 0) LC_FAIL(nc.path, ": dimension '", dname, "' has no coordinate variable");
        return {static_cast<int>(k), cv};
      }
  }
  return {-1, -1};
}

Xco2Source read_grid(const NcFile& nc, int xv, const std::string& name, std::vector<Sounding>& out) {
  const auto dims = nc.dims(xv);
  const auto [ky, latv] = grid_axis(nc, dims, {"lat", "latitude"});
  const auto [kx, lonv] = grid_axis(nc, dims, {"lon", "longitude"});
  const auto [kt, timev] = grid_axis(nc, dims, {"time"});
  const std::size_t expected = 2u + (kt >= 0 ? 1u : 0u);
  if (ky < 0 || kx < 0 || dims.size() != expected)
    LC_FAIL(nc.path, ": gridded variable '", name, "' must span lat x lon [x time] dimensions");
  const auto lat = nc.read(latv, "latitude"), lon = nc.read(lonv, "longitude");
  std::vector<double> times;
  if (kt >= 0) {
    times = cf_times(nc, timev, "time");
  } else {
    const auto start = nc.text_att(NC_GLOBAL, "time_coverage_start");
    const auto t = start ? parse_time(*start) : std::nullopt;
    if (!t) LC_FAIL(nc.path, ": gridded '", name, "' has no time dimension and no ISO time_coverage_start attribute");
    times = {*t};
  }
  const auto data = nc.read(xv, name);
  const auto fill = nc.num_att(xv, "_FillValue"), missing = nc.num_att(xv, "missing_value");
  const double scale = nc.num_att(xv, "scale_factor").value_or(1.0), offset = nc.num_att(xv, "add_offset").value_or(0.0);
  std::vector<std::size_t> len(dims.size()), stride(dims.size(), 1);
  for (std::size_t k = 0; k < dims.size(); ++k) len[k] = nc.dim_len(dims[k]);
  for (std::size_t k = dims.size() - 1; k > 0; --k) stride[k - 1] = stride[k] * len[k];
  Xco2Source src{nc.path, "grid", "", data.size(), 0, 0, 0};
  UnitDetector units(nc.path);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const double raw = data[i];
    if (!std::isfinite(raw) || (fill && raw == *fill) || (missing && raw == *missing)) {
      ++src.dropped_missing;
      continue;
    }
    auto at = [&](int k) { return (i / stride[static_cast<std::size_t>(k)]) % len[static_cast<std::size_t>(k)]; };
    Sounding s{lon[at(kx)], lat[at(ky)], kt >= 0 ? times[at(kt)] : times[0], 0, kNaN};
    if (s.lon > 180) s.lon -= 360;
    s.xco2 = units.to_ppm(raw * scale + offset, "cell " + std::to_string(i));
    out.push_back(s);
    ++src.kept;
  }
  src.units = units.units();
  return src;
}

bool is_netcdf(const std::string& head) {
  return head.rfind("CDF\x01", 0) == 0 || head.rfind("CDF\x02", 0) == 0 || head.rfind("CDF\x05", 0) == 0 ||
         head.rfind("\x89HDF\r\n\x1a\n", 0) == 0;
}

}  // namespace

std::vector<std::string> parse_column_list(const std::string& text) {
  std::vector<std::string> cols;
  std::stringstream ss(text);
  std::string c;
  while (std::getline(ss, c, ',')) cols.push_back(c);
  if (cols.size() < 4 || cols.size() > 5)
    LC_FAIL("--xco2-columns '", text, "': expected lon,lat,time,xco2[,uncertainty] (4 or 5 names)");
  for (const auto& x : cols)
    if (x.empty()) LC_FAIL("--xco2-columns '", text, "': empty column name");
  return cols;
}

Xco2Source read_xco2(const std::string& path, const Xco2ReadOptions& opt, std::vector<Sounding>& out) {
  std::string head(8, '\0');
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) LC_FAIL(path, ": cannot read: ", std::strerror(errno));
    in.read(head.data(), 8);
    head.resize(static_cast<std::size_t>(in.gcount()));
  }
  std::vector<Sounding> got;  // appended to `out` only when the whole file succeeded
  Xco2Source src;
  if (is_netcdf(head)) {
    NcFile nc(path);
    if (nc.var_names().empty()) LC_FAIL(path, ": unreadable netCDF: it holds no variables");
    const std::string name = opt.columns.size() >= 4 ? opt.columns[3] : "xco2";
    const int xv = nc.var(name);
    src = nc.dims(xv).size() == 1 ? read_lite(nc, xv, opt, got) : read_grid(nc, xv, name, got);
  } else {
    src = read_table(path, read_text(path), opt, got);
  }
  if (got.empty()) LC_FAIL(path, ": no usable XCO2 values (", src.rows, " read, ", src.dropped_quality,
                                    " with a quality flag other than 0, ", src.dropped_missing, " missing)");
  out.insert(out.end(), got.begin(), got.end());
  return src;
}

}  // namespace lc::co2

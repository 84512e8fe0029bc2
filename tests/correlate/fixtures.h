// Inputs for the `landcover correlate` tests: zone tables, XCO2 tables and a Lite-layout netCDF
// written with netCDF-C, square zones on a grid.
// Depends on: netCDF-C, model/correlate/text.h, tests/support/files.h.
#pragma once

#include <gtest/gtest.h>
#include <netcdf.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "model/correlate/text.h"
#include "model/correlate/xco2.h"

namespace lc::co2::test {

struct TestZone {
  std::string id, date;
  double lon0, lat0, size;      // a square [lon0, lon0+size] x [lat0, lat0+size]
  std::vector<double> pct;      // per class
};

inline std::string square_wkt(double x0, double y0, double s) {
  const std::string a = fmt(x0), b = fmt(y0), c = fmt(x0 + s), d = fmt(y0 + s);
  return "POLYGON ((" + a + " " + b + ", " + c + " " + b + ", " + c + " " + d + ", " + a + " " + d + ", " + a + " " + b + "))";
}

// A zones table in the contract's layout (valid area 100 km2, so km2 == pct).
inline void write_zones(const std::string& path, const std::vector<std::string>& classes, const std::vector<TestZone>& zones) {
  std::ofstream f(path, std::ios::binary);
  f << "zone_id,date,geometry_wkt,valid_km2,nodata_km2";
  for (const auto& c : classes) f << "," << csv_field("km2:" + c);
  for (const auto& c : classes) f << "," << csv_field("pct:" + c);
  f << "\n";
  for (const auto& z : zones) {
    f << z.id << "," << z.date << "," << csv_field(square_wkt(z.lon0, z.lat0, z.size)) << ",100,0";
    for (double p : z.pct) f << "," << fmt(p);
    for (double p : z.pct) f << "," << fmt(p);
    f << "\n";
  }
}

// Soundings as CSV: longitude,latitude,time (ISO 8601),xco2 (ppm),xco2_uncertainty.
inline void write_soundings_csv(const std::string& path, const std::vector<Sounding>& s) {
  std::ofstream f(path, std::ios::binary);
  f << "longitude,latitude,time,xco2,xco2_uncertainty\n";
  for (const auto& x : s)
    f << fmt(x.lon) << "," << fmt(x.lat) << "," << format_datetime(x.time) << "," << fmt(x.xco2) << "," << fmt(x.uncertainty) << "\n";
}

inline void nc_expect(int status) { ASSERT_EQ(status, NC_NOERR) << nc_strerror(status); }

// The OCO-2 Lite layout: dimension sounding_id; xco2 (float, ppm), xco2_uncertainty, latitude,
// longitude (float), time (double, "seconds since 1970-01-01 00:00:00"), xco2_quality_flag (byte).
// `with_flag` false leaves the flag variable out (a broken file).
inline void write_lite(const std::string& path, const std::vector<Sounding>& s, const std::vector<signed char>& flags,
                       bool with_flag = true) {
  int nc = 0, dim = 0, vx = 0, vu = 0, vlat = 0, vlon = 0, vt = 0, vq = 0;
  nc_expect(nc_create(path.c_str(), NC_NETCDF4 | NC_CLOBBER, &nc));
  nc_expect(nc_def_dim(nc, "sounding_id", s.size(), &dim));
  nc_expect(nc_def_var(nc, "xco2", NC_DOUBLE, 1, &dim, &vx));
  nc_expect(nc_put_att_text(nc, vx, "units", 3, "ppm"));
  nc_expect(nc_def_var(nc, "xco2_uncertainty", NC_DOUBLE, 1, &dim, &vu));
  nc_expect(nc_def_var(nc, "latitude", NC_DOUBLE, 1, &dim, &vlat));
  nc_expect(nc_def_var(nc, "longitude", NC_DOUBLE, 1, &dim, &vlon));
  nc_expect(nc_def_var(nc, "time", NC_DOUBLE, 1, &dim, &vt));
  const std::string tu = "seconds since 1970-01-01 00:00:00";
  nc_expect(nc_put_att_text(nc, vt, "units", tu.size(), tu.c_str()));
  if (with_flag) nc_expect(nc_def_var(nc, "xco2_quality_flag", NC_BYTE, 1, &dim, &vq));
  nc_expect(nc_enddef(nc));
  std::vector<double> x, u, la, lo, t;
  for (const auto& a : s) x.push_back(a.xco2), u.push_back(a.uncertainty), la.push_back(a.lat), lo.push_back(a.lon), t.push_back(a.time);
  nc_expect(nc_put_var_double(nc, vx, x.data()));
  nc_expect(nc_put_var_double(nc, vu, u.data()));
  nc_expect(nc_put_var_double(nc, vlat, la.data()));
  nc_expect(nc_put_var_double(nc, vlon, lo.data()));
  nc_expect(nc_put_var_double(nc, vt, t.data()));
  if (with_flag) nc_expect(nc_put_var_schar(nc, vq, flags.data()));
  nc_expect(nc_close(nc));
}

// The landcover executable (ctest sets LC_LANDCOVER_BIN; else the build directory's).
inline std::string landcover_bin() {
  const char* b = std::getenv("LC_LANDCOVER_BIN");
  return b && *b ? b : std::string(LC_BINARY_DIR) + "/landcover";
}

}  // namespace lc::co2::test

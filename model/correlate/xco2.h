// XCO2 inputs of `landcover correlate`, the format detected from the file's content:
//   table  CSV or TSV (the delimiter is the header's: tab if it has one, else comma), one sounding
//          or grid cell per row; columns longitude, latitude, time, xco2 and optionally
//          xco2_uncertainty, found by name (see Xco2ReadOptions::columns). A cell table's row is
//          taken at its centre. Time: ISO 8601 or YYYYMMDDhhmmss.
//   lite   OCO-2 / OCO-3 Lite netCDF: 1-D variables xco2, latitude, longitude, time (CF units
//          "seconds since ..."), xco2_quality_flag (only 0 kept unless all_quality) and optionally
//          xco2_uncertainty, all along one sounding dimension.
//   grid   netCDF with an xco2 variable over (lat, lon) or (time, lat, lon) in any order, with
//          coordinate variables lat|latitude, lon|longitude and time (CF units); without a time
//          dimension the global attribute time_coverage_start dates every cell. _FillValue,
//          missing_value, NaN are skipped; scale_factor / add_offset are applied.
// Units: each value must look like mol/mol (0 < v < 0.01) or ppm (100..1000); a file mixing both,
// or holding a value that is neither, is refused. Values are returned in ppm.
// Depends on: netCDF-C, kernels/common/check.h.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace lc::co2 {

struct Sounding {
  double lon = 0, lat = 0;
  double time = 0;        // seconds since 1970-01-01 UTC
  double xco2 = 0;        // ppm
  double uncertainty;     // ppm; NaN when the input has none
};

struct Xco2ReadOptions {
  // Empty: found by name (longitude|lon, latitude|lat, time|date, xco2, xco2_uncertainty; a name
  // may carry a suffix after '.', ' ' or '(' such as "time..YYYYMMDDHHMMSS."). Otherwise exactly
  // lon,lat,time,xco2[,uncertainty] column names (tables) or xco2 variable name (grid).
  std::vector<std::string> columns;
  bool all_quality = false;  // Lite: keep every quality flag, not only 0
};

// What was read from one file.
struct Xco2Source {
  std::string path, format;  // format: table | lite | grid
  std::string units;         // as found in the file: "mol/mol" or "ppm"
  std::size_t rows = 0;      // soundings or cells in the file
  std::size_t kept = 0;      // returned
  std::size_t dropped_quality = 0, dropped_missing = 0;
};

// Appends the file's soundings to `out`; throws lc::Error naming the file on any problem
// (unreadable, unknown format, missing column or variable, bad value, mixed units).
Xco2Source read_xco2(const std::string& path, const Xco2ReadOptions& opt, std::vector<Sounding>& out);

// Parses "lon,lat,time,xco2[,uncertainty]" (--xco2-columns); throws lc::Error on a wrong count.
std::vector<std::string> parse_column_list(const std::string& text);

}  // namespace lc::co2

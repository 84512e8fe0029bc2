// Per-zone land-cover tables (`landcover segment --zones`, <stem>_zones.csv), the input of
// `landcover correlate`. RFC 4180 CSV, header then one row per zone:
//   zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:<class 1>,...,km2:<class K>,pct:<class 1>,...,pct:<class K>
// date YYYY-MM-DD (the acquisition date; required here), geometry_wkt a polygon in EPSG:4326 with
// x = longitude, y = latitude, pct = percent of the zone's valid area. Several files may share zone
// ids with different dates; all must list the same classes in the same order.
// Depends on: GDAL/OGR (WKT parsing, point-in-polygon), kernels/common/check.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

class OGRGeometry;

namespace lc::co2 {

struct Zone {
  std::string id, date, source;  // source: the file it came from
  double time = 0;               // the date at 12:00 UTC, seconds since 1970
  double valid_km2 = 0, nodata_km2 = 0;
  std::vector<double> km2, pct;  // per class
  std::shared_ptr<const OGRGeometry> geometry;
  double min_lon = 0, max_lon = 0, min_lat = 0, max_lat = 0;  // envelope
  double centre_lon = 0, centre_lat = 0;                      // centroid

  // True when (lon, lat) lies inside the zone or on its boundary.
  bool contains(double lon, double lat) const;
};

struct ZoneSet {
  std::vector<std::string> classes;
  std::vector<Zone> zones;
};

// Reads and checks the files; throws lc::Error naming the file (and line) on a missing or
// misordered column, a bad number or geometry, an empty date ("zones without dates"), classes that
// differ between files, or the same zone id and date twice. `dates`, when not empty, holds one
// YYYY-MM-DD per file that replaces the date of every zone of that file (for composites whose
// table has no acquisition date, or a wrong one).
ZoneSet read_zone_files(const std::vector<std::string>& paths, const std::vector<std::string>& dates = {});

}  // namespace lc::co2

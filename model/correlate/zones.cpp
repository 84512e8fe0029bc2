// Zone tables (see zones.h).
// Depends on: model/correlate/zones.h, model/correlate/text.h, GDAL/OGR, kernels/common/check.h.
#include "model/correlate/zones.h"

#include <cpl_error.h>
#include <ogr_geometry.h>

#include <set>
#include <utility>

#include "kernels/common/check.h"
#include "model/correlate/text.h"

namespace lc::co2 {

bool Zone::contains(double lon, double lat) const {
  if (lon < min_lon || lon > max_lon || lat < min_lat || lat > max_lat) return false;
  const OGRPoint p(lon, lat);
  return geometry->Intersects(&p);
}

namespace {

// The class names of a header (checked against the contract); throws naming the file.
std::vector<std::string> header_classes(const std::vector<std::string>& h, const std::string& path) {
  static const char* kFixed[] = {"zone_id", "date", "geometry_wkt", "valid_km2", "nodata_km2"};
  const std::string expect = "zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:<class>...,pct:<class>...";
  for (std::size_t i = 0; i < 5; ++i)
    if (i >= h.size() || h[i] != kFixed[i])
      LC_FAIL(path, ": column ", i + 1, " is '", i < h.size() ? h[i] : "", "', expected '", kFixed[i], "' (header ", expect, ")");
  const std::size_t k = (h.size() - 5) / 2;
  if (h.size() < 7 || (h.size() - 5) % 2 != 0) LC_FAIL(path, ": expected km2:<class> and pct:<class> columns per class (header ", expect, ")");
  std::vector<std::string> classes;
  for (std::size_t c = 0; c < k; ++c) {
    const std::string& a = h[5 + c];
    const std::string& b = h[5 + k + c];
    if (a.rfind("km2:", 0) != 0 || b.rfind("pct:", 0) != 0 || a.substr(4) != b.substr(4) || a.size() == 4)
      LC_FAIL(path, ": columns '", a, "' and '", b, "' should be km2:<class> and pct:<the same class>");
    classes.push_back(a.substr(4));
  }
  return classes;
}

double zone_number(const std::string& s, const std::string& path, std::size_t line, const std::string& col) {
  const auto v = parse_number(s);
  if (!v || *v < 0) LC_FAIL(path, ": line ", line, ": ", col, " '", s, "' is not a non-negative number");
  return *v;
}

void set_geometry(Zone& z, const std::string& wkt, const std::string& path, std::size_t line) {
  OGRGeometry* g = nullptr;
  CPLPushErrorHandler(CPLQuietErrorHandler);  // the errors below say it in one line
  const OGRErr err = OGRGeometryFactory::createFromWkt(wkt.c_str(), nullptr, &g);
  const bool valid = g && g->IsValid();
  CPLPopErrorHandler();
  if (err != OGRERR_NONE || !g) LC_FAIL(path, ": line ", line, ": geometry_wkt is not valid WKT");
  std::shared_ptr<const OGRGeometry> geom(g, [](const OGRGeometry* p) { delete p; });
  const auto type = wkbFlatten(g->getGeometryType());
  if (type != wkbPolygon && type != wkbMultiPolygon)
    LC_FAIL(path, ": line ", line, ": geometry_wkt is a ", g->getGeometryName(), ", expected a POLYGON or MULTIPOLYGON");
  if (!valid) LC_FAIL(path, ": line ", line, ": geometry_wkt is not a valid polygon (self-intersecting or unclosed)");
  OGREnvelope env;
  g->getEnvelope(&env);
  if (env.MinX < -180 || env.MaxX > 180 || env.MinY < -90 || env.MaxY > 90)
    LC_FAIL(path, ": line ", line, ": geometry_wkt is outside longitude -180..180 / latitude -90..90 (EPSG:4326 expected)");
  OGRPoint c;
  if (g->Centroid(&c) != OGRERR_NONE) c = OGRPoint((env.MinX + env.MaxX) / 2, (env.MinY + env.MaxY) / 2);
  z.geometry = std::move(geom);
  z.min_lon = env.MinX, z.max_lon = env.MaxX, z.min_lat = env.MinY, z.max_lat = env.MaxY;
  z.centre_lon = c.getX(), z.centre_lat = c.getY();
}

Zone parse_zone(std::vector<std::string> f, std::size_t k, const std::string& path, std::size_t line,
                const std::vector<std::string>& header, const std::string& date) {
  Zone z;
  if (!date.empty()) f[1] = date;
  z.id = f[0];
  z.source = path;
  if (z.id.empty()) LC_FAIL(path, ": line ", line, ": empty zone_id");
  if (f[1].empty())
    LC_FAIL(path, ": zones without dates (zone '", z.id, "', line ", line,
            "): correlate needs each zone's acquisition date to choose the soundings");
  const auto t = f[1].size() == 10 ? parse_time(f[1]) : std::nullopt;
  if (!t) LC_FAIL(path, ": line ", line, ": date '", f[1], "' is not YYYY-MM-DD");
  z.date = f[1];
  z.time = *t + 12 * 3600.0;
  set_geometry(z, f[2], path, line);
  z.valid_km2 = zone_number(f[3], path, line, "valid_km2");
  z.nodata_km2 = zone_number(f[4], path, line, "nodata_km2");
  for (std::size_t c = 0; c < k; ++c) {
    z.km2.push_back(zone_number(f[5 + c], path, line, header[5 + c]));
    const double p = zone_number(f[5 + k + c], path, line, header[5 + k + c]);
    if (p > 100.0001) LC_FAIL(path, ": line ", line, ": ", header[5 + k + c], " is ", p, " (> 100)");
    z.pct.push_back(p);
  }
  return z;
}

}  // namespace

ZoneSet read_zone_files(const std::vector<std::string>& paths, const std::vector<std::string>& dates) {
  if (paths.empty()) LC_FAIL("no zone files given (--zones)");
  if (!dates.empty() && dates.size() != paths.size())
    LC_FAIL("--zone-dates: ", dates.size(), " dates for ", paths.size(), " zone files (one per file, in order)");
  for (const std::string& d : dates)
    if (d.size() != 10 || !parse_time(d)) LC_FAIL("--zone-dates: '", d, "' is not YYYY-MM-DD");
  ZoneSet set;
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t p = 0; p < paths.size(); ++p) {
    const std::string& path = paths[p];
    const auto rows = parse_delimited(read_text(path), ',', path);
    if (rows.empty()) LC_FAIL(path, ": empty file (expected the zones header and rows)");
    const auto classes = header_classes(rows[0], path);
    if (set.classes.empty()) set.classes = classes;
    else if (classes != set.classes) LC_FAIL(path, ": its classes differ from those of ", paths[0]);
    if (rows.size() < 2) LC_FAIL(path, ": no zones (only a header)");
    for (std::size_t r = 1; r < rows.size(); ++r) {
      if (rows[r].size() != rows[0].size())
        LC_FAIL(path, ": line ", r + 1, " has ", rows[r].size(), " fields, the header has ", rows[0].size());
      Zone z = parse_zone(rows[r], classes.size(), path, r + 1, rows[0], dates.empty() ? "" : dates[p]);
      if (!seen.insert({z.id, z.date}).second) LC_FAIL(path, ": zone '", z.id, "' with date ", z.date, " appears twice");
      set.zones.push_back(std::move(z));
    }
  }
  return set;
}

}  // namespace lc::co2

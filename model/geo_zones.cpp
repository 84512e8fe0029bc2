// Ellipsoidal cell areas and per-zone class areas (see geo.h).
#include <gdal_alg.h>
#include <gdal_priv.h>
#include <geodesic.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "kernels/common/check.h"
#include "model/gdal_util.h"
#include "model/geo.h"

namespace lc {

namespace {

using CtPtr = std::unique_ptr<OGRCoordinateTransformation>;

OGRSpatialReference wgs84() {
  OGRSpatialReference s;
  s.importFromEPSG(4326);
  s.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  return s;
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.6f", v);
  return b;
}

// A zone polygon rasterised on the map grid: mask over map rows [i0, i1) and columns [j0, j1).
struct PolyZone {
  ZoneStats stats;
  std::int64_t i0 = 0, i1 = 0, j0 = 0, j1 = 0;
  std::vector<std::uint8_t> mask;
};

// Map cells whose grid-cell centres fall inside `geom` (in the raster's CRS), over its envelope.
bool rasterise(OGRGeometry* geom, const std::array<double, 6>& gt, std::int64_t mh, std::int64_t mw, PolyZone& z) {
  OGREnvelope e;
  geom->getEnvelope(&e);
  const double ja = (e.MinX - gt[0]) / gt[1], jb = (e.MaxX - gt[0]) / gt[1];
  const double ia = (e.MinY - gt[3]) / gt[5], ib = (e.MaxY - gt[3]) / gt[5];
  z.j0 = std::max<std::int64_t>(0, std::int64_t(std::floor(std::min(ja, jb))));
  z.j1 = std::min<std::int64_t>(mw, std::int64_t(std::ceil(std::max(ja, jb))) + 1);
  z.i0 = std::max<std::int64_t>(0, std::int64_t(std::floor(std::min(ia, ib))));
  z.i1 = std::min<std::int64_t>(mh, std::int64_t(std::ceil(std::max(ia, ib))) + 1);
  if (z.j1 <= z.j0 || z.i1 <= z.i0) return false;
  const int w = int(z.j1 - z.j0), h = int(z.i1 - z.i0);
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("MEM");
  std::unique_ptr<GDALDataset> ds(drv->Create("", w, h, 1, GDT_Byte, nullptr));
  double wgt[6] = {gt[0] + double(z.j0) * gt[1], gt[1], 0, gt[3] + double(z.i0) * gt[5], 0, gt[5]};
  ds->SetGeoTransform(wgt);
  int band = 1;
  double burn = 1;
  OGRGeometryH gh = OGRGeometry::ToHandle(geom);
  LC_CHECK(GDALRasterizeGeometries(GDALDataset::ToHandle(ds.get()), 1, &band, 1, &gh, nullptr, nullptr, &burn, nullptr,
                                   nullptr, nullptr) == CE_None,
           "cannot rasterise a zone: ", CPLGetLastErrorMsg());
  z.mask.resize(std::size_t(w) * std::size_t(h));
  LC_CHECK(ds->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, w, h, z.mask.data(), w, h, GDT_Byte, 0, 0, nullptr) == CE_None,
           "cannot read a rasterised zone");
  return std::any_of(z.mask.begin(), z.mask.end(), [](std::uint8_t v) { return v != 0; });
}

bool is_polygonal(OGRwkbGeometryType t) {
  t = wkbFlatten(t);
  return t == wkbPolygon || t == wkbMultiPolygon || t == wkbCurvePolygon || t == wkbMultiSurface;
}

// Reads the polygons of every layer of `path`, reprojected to the raster's CRS, rasterised.
std::vector<PolyZone> read_zone_file(const std::string& path, const std::string& id_field, const GeoRef& g, int S,
                                     std::int64_t mh, std::int64_t mw, int K) {
  std::unique_ptr<GDALDataset> ds(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY));
  if (!ds) LC_FAIL("zones ", path, ": cannot read: ", QuietGdal::last("not a vector file OGR reads"));
  OGRSpatialReference rsrs;
  rsrs.importFromWkt(g.wkt.c_str());
  rsrs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  const OGRSpatialReference ll = wgs84();
  const std::array<double, 6> gt = map_geotransform(g, S);
  std::vector<PolyZone> zones;
  std::int64_t polygons = 0;
  for (OGRLayer* layer : ds->GetLayers()) {
    if (!layer->GetSpatialRef())
      LC_FAIL("zones ", path, ": layer '", layer->GetName(), "' has no CRS (unknown coordinate reference system)");
    OGRSpatialReference lsrs(*layer->GetSpatialRef());
    lsrs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    CtPtr to_raster(OGRCreateCoordinateTransformation(&lsrs, &rsrs)), to_ll(OGRCreateCoordinateTransformation(&lsrs, &ll));
    LC_CHECK(to_raster && to_ll, "zones ", path, ": cannot transform layer '", layer->GetName(), "' to the raster's CRS (",
             g.crs_name, "): ", CPLGetLastErrorMsg());
    const int fi = id_field.empty() ? -1 : layer->GetLayerDefn()->GetFieldIndex(id_field.c_str());
    LC_CHECK(id_field.empty() || fi >= 0, "zones ", path, ": layer '", layer->GetName(), "' has no field '", id_field, "'");
    for (auto& f : *layer) {
      const OGRGeometry* geom = f->GetGeometryRef();
      if (!geom || !is_polygonal(geom->getGeometryType())) continue;
      ++polygons;
      std::unique_ptr<OGRGeometry> in_raster(geom->getLinearGeometry()), in_ll(geom->getLinearGeometry());
      LC_CHECK(in_raster->transform(to_raster.get()) == OGRERR_NONE && in_ll->transform(to_ll.get()) == OGRERR_NONE,
               "zones ", path, ": feature ", f->GetFID(), " cannot be transformed to the raster's CRS");
      PolyZone z;
      z.stats.id = fi >= 0 ? f->GetFieldAsString(fi) : std::to_string(f->GetFID());
      char* wkt = nullptr;
      in_ll->exportToWkt(&wkt);
      z.stats.wkt = wkt ? wkt : "";
      CPLFree(wkt);
      z.stats.class_km2.assign(std::size_t(K), 0.0);
      if (rasterise(in_raster.get(), gt, mh, mw, z)) zones.push_back(std::move(z));
    }
  }
  LC_CHECK(polygons > 0, "zones ", path, ": no polygon features");
  LC_CHECK(!zones.empty(), "zones ", path, ": no zone overlaps the scene");
  return zones;
}

double parse_grid(const std::string& spec) {
  const std::string t = spec.substr(5);
  std::size_t used = 0;
  double deg = 0;
  try {
    deg = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LC_CHECK(used == t.size() && deg > 0 && deg <= 90, "--zones grid:DEG needs a cell size in degrees in (0, 90], got '",
           spec, "'");
  return deg;
}

// Grid cell ids: lon<west>_lat<south> with at least 2 decimals, more when DEG needs them.
ZoneStats grid_zone(std::int64_t ix, std::int64_t iy, double deg, int K) {
  int dec = 2;
  while (dec < 9 && std::fabs(deg * std::pow(10.0, dec) - std::round(deg * std::pow(10.0, dec))) > 1e-9) ++dec;
  const double w = double(ix) * deg, s = double(iy) * deg, e = w + deg, n = s + deg;
  char id[96], wkt[256];
  std::snprintf(id, sizeof id, "lon%.*f_lat%.*f", dec, w + 0.0, dec, s + 0.0);
  std::snprintf(wkt, sizeof wkt, "POLYGON ((%.9g %.9g,%.9g %.9g,%.9g %.9g,%.9g %.9g,%.9g %.9g))", w, s, e, s, e, n, w, n, w, s);
  ZoneStats z;
  z.id = id, z.wkt = wkt;
  z.class_km2.assign(std::size_t(K), 0.0);
  return z;
}

void add_cell(ZoneStats& z, int bin, int K, double km2) {
  ++z.cells;
  if (bin < K)
    z.class_km2[std::size_t(bin)] += km2, z.valid_km2 += km2;
  else
    z.nodata_km2 += km2;
}

// Transforms of the map grid: corners of the cells' pixel blocks to lon/lat on the CRS's own
// ellipsoid (areas), and cell centres to EPSG:4326 (grid zones).
struct GridGeo {
  const GeoRef& g;
  int S;
  std::int64_t H, W, mw;
  CtPtr to_geog, to_ll;
  geod_geodesic geod{};

  GridGeo(const GeoRef& gr, int s, std::int64_t h, std::int64_t w, std::int64_t map_w) : g(gr), S(s), H(h), W(w), mw(map_w) {
    OGRSpatialReference srs;
    srs.importFromWkt(g.wkt.c_str());
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    OGRSpatialReference geog;
    geog.CopyGeogCSFrom(&srs);
    geog.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    const OGRSpatialReference ll = wgs84();
    to_geog.reset(OGRCreateCoordinateTransformation(&srs, &geog));
    to_ll.reset(OGRCreateCoordinateTransformation(&srs, &ll));
    LC_CHECK(to_geog && to_ll, "cannot transform ", g.crs_name, " to longitude/latitude");
    const double inv_f = geog.GetInvFlattening();
    geod_init(&geod, geog.GetSemiMajor(), inv_f > 0 ? 1.0 / inv_f : 0.0);
  }
  // Lon/lat of the block corners along pixel row y: x = min(j * S, W) for j = 0..mw.
  void corner_row(std::int64_t y, std::vector<double>& lon, std::vector<double>& lat) const {
    lon.resize(std::size_t(mw + 1)), lat.resize(std::size_t(mw + 1));
    for (std::int64_t j = 0; j <= mw; ++j) {
      const double x = double(std::min(j * S, W));
      lon[std::size_t(j)] = g.gt[0] + x * g.gt[1];
      lat[std::size_t(j)] = g.gt[3] + double(y) * g.gt[5];
    }
    LC_CHECK(to_geog->Transform(std::size_t(mw + 1), lon.data(), lat.data()), "cannot transform map row to lon/lat");
  }
  void centre_row(std::int64_t i, std::vector<double>& lon, std::vector<double>& lat) const {
    lon.resize(std::size_t(mw)), lat.resize(std::size_t(mw));
    for (std::int64_t j = 0; j < mw; ++j) {
      lon[std::size_t(j)] = g.gt[0] + (double(j) + 0.5) * S * g.gt[1];
      lat[std::size_t(j)] = g.gt[3] + (double(i) + 0.5) * S * g.gt[5];
    }
    LC_CHECK(to_ll->Transform(std::size_t(mw), lon.data(), lat.data()), "cannot transform map row to lon/lat");
  }
  double area_km2(const double* lon_t, const double* lat_t, const double* lon_b, const double* lat_b) const {
    double lats[4] = {lat_t[0], lat_t[1], lat_b[1], lat_b[0]}, lons[4] = {lon_t[0], lon_t[1], lon_b[1], lon_b[0]};
    double a = 0;
    geod_polygonarea(&geod, lats, lons, 4, &a, nullptr);
    return std::fabs(a) / 1e6;
  }
};

}  // namespace

AreaResult compute_areas(const SegmentResult& r, int K, const GeoRef& g, std::int64_t H, std::int64_t W,
                         const ZoneSpec& zs) {
  LC_CHECK(g.georeferenced, "areas need a georeferenced scene");
  LC_CHECK(r.stride > 0, "areas and zones need --mode window");
  const int S = r.stride;
  const std::int64_t mh = r.map_h, mw = r.map_w;
  gdal_init();
  QuietGdal quiet;
  const bool grid = zs.spec.rfind("grid:", 0) == 0;
  const double deg = grid ? parse_grid(zs.spec) : 0;
  std::vector<PolyZone> polys;
  if (!zs.spec.empty() && !grid) polys = read_zone_file(zs.spec, zs.id_field, g, S, mh, mw, K);
  std::map<std::pair<std::int64_t, std::int64_t>, ZoneStats> cells_by_grid;  // key (-south, west): north-west first

  GridGeo geo(g, S, H, W, mw);
  AreaResult a;
  a.class_km2.assign(std::size_t(K), 0.0);
  std::vector<double> tlon, tlat, blon, blat, clon, clat, area(static_cast<std::size_t>(mw));
  geo.corner_row(0, tlon, tlat);
  for (std::int64_t i = 0; i < mh; ++i) {
    geo.corner_row(std::min((i + 1) * S, H), blon, blat);
    if (grid) geo.centre_row(i, clon, clat);
    for (std::int64_t j = 0; j < mw; ++j) {
      const std::size_t jj = std::size_t(j), cell = std::size_t(i * mw + j);
      area[jj] = geo.area_km2(&tlon[jj], &tlat[jj], &blon[jj], &blat[jj]);
      const std::int32_t c = r.cls[cell];
      const int bin = (!r.valid.empty() && r.valid[cell] == 0) || c < 0 || c >= K ? K : int(c);
      if (bin < K)
        a.class_km2[std::size_t(bin)] += area[jj];
      else
        a.nodata_km2 += area[jj];
      if (grid) {
        const std::int64_t ix = std::int64_t(std::floor(clon[jj] / deg)), iy = std::int64_t(std::floor(clat[jj] / deg));
        auto it = cells_by_grid.find({-iy, ix});
        if (it == cells_by_grid.end()) it = cells_by_grid.emplace(std::make_pair(-iy, ix), grid_zone(ix, iy, deg, K)).first;
        add_cell(it->second, bin, K, area[jj]);
      }
    }
    for (PolyZone& z : polys) {
      if (i < z.i0 || i >= z.i1) continue;
      for (std::int64_t j = z.j0; j < z.j1; ++j)
        if (z.mask[std::size_t((i - z.i0) * (z.j1 - z.j0) + (j - z.j0))]) {
          const std::size_t cell = std::size_t(i * mw + j);
          const std::int32_t c = r.cls[cell];
          const int bin = (!r.valid.empty() && r.valid[cell] == 0) || c < 0 || c >= K ? K : int(c);
          add_cell(z.stats, bin, K, area[std::size_t(j)]);
        }
    }
    std::swap(tlon, blon), std::swap(tlat, blat);
  }
  for (auto& [key, z] : cells_by_grid) a.zones.push_back(std::move(z));
  for (PolyZone& z : polys)
    if (z.stats.cells > 0) a.zones.push_back(std::move(z.stats));
  LC_CHECK(zs.spec.empty() || !a.zones.empty(), "zones ", zs.spec, ": no zone overlaps the scene");
  return a;
}

std::string zones_csv(const AreaResult& a, const std::vector<std::string>& names, const std::string& date) {
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out = "zone_id,date,geometry_wkt,valid_km2,nodata_km2";
  for (const std::string& n : names) out += "," + field("km2:" + n);
  for (const std::string& n : names) out += "," + field("pct:" + n);
  out += "\n";
  for (const ZoneStats& z : a.zones) {
    out += field(z.id) + "," + field(date) + "," + field(z.wkt) + "," + num(z.valid_km2) + "," + num(z.nodata_km2);
    for (double v : z.class_km2) out += "," + num(v);
    for (double v : z.class_km2) out += "," + num(z.valid_km2 > 0 ? 100.0 * v / z.valid_km2 : 0.0);
    out += "\n";
  }
  return out;
}

}  // namespace lc

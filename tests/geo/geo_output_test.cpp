// Tests of the georeferenced outputs (model/geo.h): the class map COG read back with GDAL (CRS,
// geotransform, colour table, category names, nodata, overviews, COG layout), areas of an
// EPSG:4326 map against the closed-form ellipsoidal area of each cell, grid zones and polygon
// zones (class areas sum to the valid area; a polygon in another CRS gives the areas of the same
// polygon reprojected by hand), the zone table's format, and bad zone inputs.
// Depends on: model/geo.h, model/palette.h, tests/geo/geo_support.h, tests/support/files.h.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/common/check.h"
#include "model/geo.h"
#include "model/palette.h"
#include "tests/geo/geo_support.h"
#include "tests/support/files.h"

namespace lc {
namespace {

// Writes through an output set of `paths` as `segment` does: committed and released on return.
template <class Write>
void write_in_set(const std::vector<std::string>& paths, Write write) {
  OutputSet o;
  for (const std::string& p : paths) o.add(p, "test output");
  o.open();
  write(o);
  o.commit();
}

using geotest::rect_area_km2;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// A fake window-mode result: classes (i + 2j) % K, cells with (i * j) % 7 == 3 nodata.
SegmentResult fake_result(std::int64_t H, std::int64_t W, int S, int K) {
  SegmentResult r;
  r.stride = S, r.map_h = (H + S - 1) / S, r.map_w = (W + S - 1) / S;
  for (std::int64_t i = 0; i < r.map_h; ++i)
    for (std::int64_t j = 0; j < r.map_w; ++j) {
      r.cls.push_back(std::int32_t((i + 2 * j) % K));
      r.valid.push_back((i * j) % 7 == 3 ? 0 : 1);
    }
  return r;
}

GeoRef geo_4326(double lon0, double lat0, double px) {
  OGRSpatialReference s;
  s.importFromEPSG(4326);
  char* wkt = nullptr;
  s.exportToWkt(&wkt);
  GeoRef g;
  g.georeferenced = true, g.wkt = wkt, g.crs_name = "EPSG:4326", g.gt = {lon0, px, 0, lat0, 0, -px};
  CPLFree(wkt);
  return g;
}

TEST(CpuGeoOutput, ClassesCogReadsBackWithEverything) {
  test::TempDir dir("geo_cog");
  const int K = 5, S = 4;
  const std::int64_t H = 250, W = 330;
  SegmentResult r = fake_result(H, W, S, K);
  OGRSpatialReference utm;
  utm.importFromEPSG(32618);
  char* wkt = nullptr;
  utm.exportToWkt(&wkt);
  GeoRef g;
  g.georeferenced = true, g.wkt = wkt, g.crs_name = "EPSG:32618", g.gt = {101985, 300.0379, 0, 2826915, 0, -300.0418};
  CPLFree(wkt);
  const std::vector<std::string> names = geotest::class_names(K);
  const std::string path = dir.file("x_classes.tif");
  write_in_set({path, path + ".aux.xml"}, [&](OutputSet& o) { write_classes_cog(path, r, names, g, o); });
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"x_classes.tif", "x_classes.tif.aux.xml"}));

  std::unique_ptr<GDALDataset> ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
  ASSERT_TRUE(ds);
  EXPECT_STREQ(ds->GetDriver()->GetDescription(), "GTiff");
  ASSERT_NE(ds->GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE"), nullptr);
  EXPECT_STREQ(ds->GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE"), "COG");
  EXPECT_STREQ(ds->GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE"), "DEFLATE");
  EXPECT_EQ(ds->GetRasterXSize(), r.map_w);
  EXPECT_EQ(ds->GetRasterYSize(), r.map_h);
  ASSERT_NE(ds->GetSpatialRef(), nullptr);
  EXPECT_STREQ(ds->GetSpatialRef()->GetAuthorityCode(nullptr), "32618");
  double gt[6];
  ASSERT_EQ(ds->GetGeoTransform(gt), CE_None);
  EXPECT_DOUBLE_EQ(gt[0], 101985);
  EXPECT_DOUBLE_EQ(gt[3], 2826915);
  EXPECT_DOUBLE_EQ(gt[1], 300.0379 * S);
  EXPECT_DOUBLE_EQ(gt[5], -300.0418 * S);
  GDALRasterBand* b = ds->GetRasterBand(1);
  int has = 0;
  EXPECT_EQ(b->GetNoDataValue(&has), 255);
  EXPECT_TRUE(has);
  EXPECT_GE(b->GetOverviewCount(), 1);
  int bx = 0, by = 0;
  b->GetBlockSize(&bx, &by);
  EXPECT_EQ(bx, 256);
  const GDALColorTable* ct = b->GetColorTable();
  ASSERT_NE(ct, nullptr);
  for (int k = 0; k < K; ++k) {
    const GDALColorEntry* e = ct->GetColorEntry(k);
    EXPECT_EQ(e->c1, palette_colour(k)[0]);
    EXPECT_EQ(e->c2, palette_colour(k)[1]);
    EXPECT_EQ(e->c3, palette_colour(k)[2]);
  }
  char** cats = b->GetCategoryNames();
  ASSERT_NE(cats, nullptr);
  ASSERT_EQ(CSLCount(cats), K);
  for (int k = 0; k < K; ++k) EXPECT_EQ(std::string(cats[k]), names[std::size_t(k)]);
  const std::vector<double> v = geotest::read_band(ds.get(), 1);
  for (std::size_t p = 0; p < v.size(); ++p) EXPECT_EQ(v[p], r.valid[p] ? double(r.cls[p]) : 255.0) << p;
}

TEST(CpuGeoOutput, Epsg4326AreasMatchTheClosedFormPerCell) {
  // A scene at 59..60 degrees south: a cell's area shrinks by 3% from its bottom row to its top.
  const std::int64_t H = 100, W = 90;
  const int S = 8, K = 3;
  const double lon0 = 10, lat0 = -59, px = 0.01;
  const GeoRef g = geo_4326(lon0, lat0, px);
  const SegmentResult r = fake_result(H, W, S, K);
  const AreaResult a = compute_areas(r, K, g, H, W, ZoneSpec{});
  std::vector<double> want(std::size_t(K), 0.0);
  double want_nodata = 0;
  for (std::int64_t i = 0; i < r.map_h; ++i)
    for (std::int64_t j = 0; j < r.map_w; ++j) {
      const double x0 = lon0 + double(j * S) * px, x1 = lon0 + double(std::min((j + 1) * S, W)) * px;
      const double y0 = lat0 - double(i * S) * px, y1 = lat0 - double(std::min((i + 1) * S, H)) * px;
      const double area = rect_area_km2(x0, x1, y1, y0);
      const std::size_t c = std::size_t(i * r.map_w + j);
      (r.valid[c] ? want[std::size_t(r.cls[c])] : want_nodata) += area;
    }
  for (int k = 0; k < K; ++k) EXPECT_NEAR(a.class_km2[std::size_t(k)], want[std::size_t(k)], 1e-3 * want[std::size_t(k)]) << k;
  EXPECT_NEAR(a.nodata_km2, want_nodata, 1e-3 * want_nodata);
  double total = a.nodata_km2;
  for (double v : a.class_km2) total += v;
  EXPECT_NEAR(total, rect_area_km2(lon0, lon0 + W * px, lat0 - H * px, lat0), 1e-6 * total);
}

TEST(CpuGeoOutput, GridZonesSumToTheSceneAndTheTableKeepsTheContract) {
  const std::int64_t H = 377, W = 697;
  const int S = 8, K = 3;
  const GeoRef g = geo_4326(-74.722494153760678, -8.282107593468341, 0.000808483755708);
  const SegmentResult r = fake_result(H, W, S, K);
  const AreaResult all = compute_areas(r, K, g, H, W, ZoneSpec{});
  const AreaResult a = compute_areas(r, K, g, H, W, ZoneSpec{"grid:0.25", ""});
  ASSERT_EQ(a.zones.size(), 6u);  // lon -74.75..-74.00 (3 cells) x lat -8.75..-8.25 (2 cells)
  EXPECT_EQ(a.zones[0].id, "lon-74.75_lat-8.50");  // north-west first
  EXPECT_EQ(a.zones[5].id, "lon-74.25_lat-8.75");
  EXPECT_EQ(a.zones[0].wkt, "POLYGON ((-74.75 -8.5,-74.5 -8.5,-74.5 -8.25,-74.75 -8.25,-74.75 -8.5))");
  double valid = 0, nodata = 0;
  for (const ZoneStats& z : a.zones) {
    double sum = 0;
    for (double v : z.class_km2) sum += v;
    EXPECT_NEAR(sum, z.valid_km2, 1e-9 * z.valid_km2) << z.id;
    valid += z.valid_km2, nodata += z.nodata_km2;
  }
  double all_valid = 0;
  for (double v : all.class_km2) all_valid += v;
  EXPECT_NEAR(valid, all_valid, 1e-9 * all_valid);
  EXPECT_NEAR(nodata, all.nodata_km2, 1e-9 * all.nodata_km2);

  const std::vector<std::string> names = geotest::class_names(K);
  const std::string csv = zones_csv(a, names, "2015-06-01");
  std::istringstream in(csv);
  std::string header, row;
  std::getline(in, header);
  EXPECT_EQ(header,
            "zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:class 0,\"km2:class 1, with comma\",km2:class 2,pct:class 0,"
            "\"pct:class 1, with comma\",pct:class 2");
  std::getline(in, row);
  EXPECT_EQ(row.rfind("lon-74.75_lat-8.50,2015-06-01,\"POLYGON ((-74.75 -8.5,", 0), 0u) << row;
  int rows = 1;
  while (std::getline(in, row)) ++rows;
  EXPECT_EQ(rows, 6);
  EXPECT_NE(error_of([&] { compute_areas(r, K, g, H, W, ZoneSpec{"grid:0", ""}); }).find("grid:DEG"), std::string::npos);
  EXPECT_NE(error_of([&] { compute_areas(r, K, g, H, W, ZoneSpec{"grid:abc", ""}); }).find("grid:DEG"), std::string::npos);
}

TEST(CpuGeoOutput, PolygonInAnotherCrsGivesTheAreasOfTheHandReprojectedPolygon) {
  test::TempDir dir("geo_zones");
  const std::int64_t H = 377, W = 697;
  const int S = 4, K = 3;
  const GeoRef g = geo_4326(-74.722494153760678, -8.282107593468341, 0.000808483755708);
  const SegmentResult r = fake_result(H, W, S, K);
  // A quadrilateral in UTM 18S (EPSG:32718) inside the scene, and the same vertices reprojected by
  // hand to the raster's EPSG:4326.
  const std::vector<std::array<double, 2>> utm = {{550000, 9060000}, {590000, 9065000}, {585000, 9080000}, {555000, 9078000}};
  OGRSpatialReference s_utm, s_ll;
  s_utm.importFromEPSG(32718), s_ll.importFromEPSG(4326);
  s_utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER), s_ll.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&s_utm, &s_ll));
  std::string w_utm = "POLYGON ((", w_ll = "POLYGON ((";
  for (std::size_t i = 0; i <= utm.size(); ++i) {
    double x = utm[i % utm.size()][0], y = utm[i % utm.size()][1];
    w_utm += std::to_string(x) + " " + std::to_string(y) + (i < utm.size() ? "," : "))");
    ASSERT_TRUE(ct->Transform(1, &x, &y));
    char b[80];
    std::snprintf(b, sizeof b, "%.12f %.12f", x, y);
    w_ll += std::string(b) + (i < utm.size() ? "," : "))");
  }
  geotest::make_polygons(dir.file("utm.geojson"), "GeoJSON", 32718, {{"field A", w_utm}});
  geotest::make_polygons(dir.file("ll.gpkg"), "GPKG", 4326, {{"field A", w_ll}});
  const AreaResult a = compute_areas(r, K, g, H, W, ZoneSpec{dir.file("utm.geojson"), "name"});
  const AreaResult b = compute_areas(r, K, g, H, W, ZoneSpec{dir.file("ll.gpkg"), "name"});
  ASSERT_EQ(a.zones.size(), 1u);
  ASSERT_EQ(b.zones.size(), 1u);
  EXPECT_EQ(a.zones[0].id, "field A");
  EXPECT_GT(a.zones[0].cells, 1000);
  EXPECT_EQ(a.zones[0].cells, b.zones[0].cells);
  EXPECT_NEAR(a.zones[0].valid_km2, b.zones[0].valid_km2, 1e-9 * b.zones[0].valid_km2);
  double sum = 0;
  for (int k = 0; k < K; ++k) {
    EXPECT_NEAR(a.zones[0].class_km2[std::size_t(k)], b.zones[0].class_km2[std::size_t(k)], 1e-9 * b.zones[0].valid_km2);
    sum += a.zones[0].class_km2[std::size_t(k)];
  }
  EXPECT_NEAR(sum, a.zones[0].valid_km2, 1e-9 * sum);
  // The zone's area is close to the polygon's own (577.5 km2 in the UTM plane by the shoelace formula, up to the map-grid cells on its edges).
  const double poly_km2 = a.zones[0].valid_km2 + a.zones[0].nodata_km2;
  EXPECT_NEAR(poly_km2, 577.5, 0.03 * 577.5);
  EXPECT_EQ(a.zones[0].wkt.rfind("POLYGON ((-74.", 0), 0u) << a.zones[0].wkt;  // longitude first

  // The GeoPackage holds the same rows.
  write_in_set({dir.file("z.gpkg")}, [&](OutputSet& o) { write_zones_gpkg(dir.file("z.gpkg"), a, geotest::class_names(K), "", o); });
  std::unique_ptr<GDALDataset> z(GDALDataset::Open(dir.file("z.gpkg").c_str(), GDAL_OF_VECTOR));
  ASSERT_TRUE(z);
  OGRLayer* layer = z->GetLayerByName("zones");
  ASSERT_NE(layer, nullptr);
  EXPECT_EQ(layer->GetFeatureCount(), 1);
  std::unique_ptr<OGRFeature> f(layer->GetNextFeature());
  EXPECT_STREQ(f->GetFieldAsString("zone_id"), "field A");
  EXPECT_NEAR(f->GetFieldAsDouble("valid_km2"), a.zones[0].valid_km2, 1e-9);
  EXPECT_NEAR(f->GetFieldAsDouble("km2:class 2"), a.zones[0].class_km2[2], 1e-9);
  EXPECT_STREQ(layer->GetSpatialRef()->GetAuthorityCode(nullptr), "4326");
}

TEST(CpuGeoOutput, BadZoneFilesGiveOneLineErrors) {
  test::TempDir dir("geo_badz");
  const std::int64_t H = 100, W = 100;
  const GeoRef g = geo_4326(-74.7, -8.3, 0.001);
  const SegmentResult r = fake_result(H, W, 4, 3);
  auto err = [&](const std::string& file, const std::string& id = "") {
    return error_of([&] { compute_areas(r, 3, g, H, W, ZoneSpec{file, id}); });
  };
  geotest::make_polygons(dir.file("points.geojson"), "GeoJSON", 4326, {{"p", "POINT (-74.65 -8.35)"}});
  EXPECT_NE(err(dir.file("points.geojson")).find("points.geojson: no polygon features"), std::string::npos);
  geotest::make_polygons(dir.file("nocrs.shp"), "ESRI Shapefile", 0, {{"p", "POLYGON ((-74.69 -8.31,-74.61 -8.31,-74.61 -8.39,-74.69 -8.31))"}});
  EXPECT_NE(err(dir.file("nocrs.shp")).find("has no CRS"), std::string::npos) << err(dir.file("nocrs.shp"));
  geotest::make_polygons(dir.file("far.geojson"), "GeoJSON", 4326, {{"p", "POLYGON ((10 10,11 10,11 11,10 10))"}});
  EXPECT_NE(err(dir.file("far.geojson")).find("far.geojson: no zone overlaps the scene"), std::string::npos);
  geotest::make_polygons(dir.file("ok.geojson"), "GeoJSON", 4326, {{"p", "POLYGON ((-74.69 -8.31,-74.61 -8.31,-74.61 -8.39,-74.69 -8.31))"}});
  EXPECT_NE(err(dir.file("ok.geojson"), "region").find("has no field 'region'"), std::string::npos);
  EXPECT_EQ(err(dir.file("ok.geojson"), "name"), "no error");
  std::ofstream(dir.file("junk.geojson")) << "{ not json";
  EXPECT_NE(err(dir.file("junk.geojson")).find("junk.geojson: cannot read"), std::string::npos);
  EXPECT_NE(err(dir.file("none.geojson")).find("none.geojson: cannot read"), std::string::npos);
}

}  // namespace
}  // namespace lc

// End-to-end geo tests on the real scenes in ../shared/scenes (LC_SHARED_DIR), with a tiny
// untrained checkpoint (the properties checked do not depend on training):
// - the Bahamas Landsat GeoTIFF gives <stem>_classes.tif in EPSG:32618 whose geotransform is the
//   input's with the pixel size x stride, with colour table, category names, nodata 255 and
//   overviews, and the same class map as the PNG of the same pixels;
// - the EPSG:4326 Pucallpa scenes segment with --bands, and their class areas match the closed-form
//   ellipsoidal area of each map cell (read back from classes.tif) within 0.1%;
// - --zones grid:0.25 and --zones regions.geojson give per-zone tables whose class areas sum to the
//   valid area.
// Depends on: the landcover executable (LC_LANDCOVER_BIN), LC_SHARED_DIR, model/image_io.h,
// tests/geo/geo_support.h, tests/support/files.h, tests/support/testing.h.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/image_io.h"
#include "model/palette.h"
#include "tests/geo/geo_support.h"
#include "tests/support/files.h"
#include "tests/support/testing.h"

namespace lc {
namespace {

namespace fs = std::filesystem;

struct GeoRun {
  std::string shared, bin;
  test::TempDir dir{"geo_e2e"};
  std::string ckpt;
  bool ready() {
    gdal_init();
    shared = test::shared_dir();
    const char* b = std::getenv("LC_LANDCOVER_BIN");
    bin = b ? b : "";
    if (shared.empty() || bin.empty()) return false;
    ckpt = dir.file("m.ckpt");
    geotest::write_tiny_checkpoint(ckpt, 4);
    return true;
  }
  int segment(const std::string& args, const std::string& out, std::string& log) {
    const int rc = test::run_logged("'" + bin + "' segment --backend cpu --quiet --model '" + ckpt + "' --out-dir '" +
                                        dir.file(out) + "' " + args,
                                    dir.file(out + ".log"));
    log = test::read_text_file(dir.file(out + ".log"));
    return rc;
  }
};

// Splits one CSV line (no embedded newlines) by RFC 4180 quoting.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> f(1);
  bool q = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (q && c == '"' && i + 1 < line.size() && line[i + 1] == '"') f.back() += '"', ++i;
    else if (c == '"') q = !q;
    else if (c == ',' && !q) f.emplace_back();
    else f.back() += c;
  }
  return f;
}

TEST(E2eGeo, BahamasGeoTiffGivesAGeoreferencedCogEqualToThePngMap) {
  GeoRun r;
  if (!r.ready()) GTEST_SKIP() << "needs LC_SHARED_DIR (../shared) and LC_LANDCOVER_BIN (set by ctest)";
  const std::string tif = r.shared + "/scenes/landsat_bahamas_andros_791x718.tif";
  const std::string png = r.shared + "/scenes/landsat_bahamas_andros_791x718.png";
  std::string log;
  // The GeoTIFF's nodata value 0 (in all three bands) and the PNG's --nodata 0,0,0 mark the same cells.
  ASSERT_EQ(r.segment("--mode window --stride 8 '" + tif + "'", "tif", log), 0) << log;
  ASSERT_EQ(r.segment("--mode window --stride 8 --nodata 0,0,0 '" + png + "'", "png", log), 0) << log;
  EXPECT_NE(log.find("not georeferenced"), std::string::npos) << log;
  const std::string stem = "/landsat_bahamas_andros_791x718";
  EXPECT_TRUE(test::read_text_file(r.dir.file("tif") + stem + "_classes.png") ==
              test::read_text_file(r.dir.file("png") + stem + "_classes.png"));
  EXPECT_FALSE(fs::exists(r.dir.file("png") + stem + "_classes.tif"));

  std::unique_ptr<GDALDataset> in(GDALDataset::Open(tif.c_str(), GDAL_OF_RASTER));
  std::unique_ptr<GDALDataset> out(GDALDataset::Open((r.dir.file("tif") + stem + "_classes.tif").c_str(), GDAL_OF_RASTER));
  ASSERT_TRUE(in && out);
  EXPECT_STREQ(out->GetSpatialRef()->GetAuthorityName(nullptr), "EPSG");
  EXPECT_STREQ(out->GetSpatialRef()->GetAuthorityCode(nullptr), "32618");
  double gi[6], go[6];
  ASSERT_EQ(in->GetGeoTransform(gi), CE_None);
  ASSERT_EQ(out->GetGeoTransform(go), CE_None);
  EXPECT_DOUBLE_EQ(go[0], gi[0]);
  EXPECT_DOUBLE_EQ(go[3], gi[3]);
  EXPECT_DOUBLE_EQ(go[1], gi[1] * 8);
  EXPECT_DOUBLE_EQ(go[5], gi[5] * 8);
  EXPECT_EQ(go[2], 0);
  EXPECT_EQ(go[4], 0);
  EXPECT_EQ(out->GetRasterXSize(), (791 + 7) / 8);
  EXPECT_EQ(out->GetRasterYSize(), (718 + 7) / 8);
  EXPECT_STREQ(out->GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE"), "COG");
  GDALRasterBand* b = out->GetRasterBand(1);
  int has = 0;
  EXPECT_EQ(b->GetNoDataValue(&has), 255);
  EXPECT_TRUE(has);
  EXPECT_GE(b->GetOverviewCount(), 1);
  char** cats = b->GetCategoryNames();
  ASSERT_EQ(CSLCount(cats), 4);
  EXPECT_EQ(std::string(cats[3]), geotest::class_names(4)[3]);
  ASSERT_NE(b->GetColorTable(), nullptr);
  EXPECT_EQ(b->GetColorTable()->GetColorEntry(2)->c1, palette_colour(2)[0]);
  // The .tif's classes are the .png map's colours.
  const RgbImage map = decode_image_file(r.dir.file("png") + stem + "_classes.png");
  const std::vector<double> cls = geotest::read_band(out.get(), 1);
  ASSERT_EQ(cls.size(), std::size_t(map.width) * std::size_t(map.height));
  std::int64_t nodata = 0;
  for (std::size_t p = 0; p < cls.size(); ++p) {
    const Rgb c = cls[p] == 255 ? kNodataColour : palette_colour(int(cls[p]));
    nodata += cls[p] == 255;
    ASSERT_TRUE(map.rgb[p * 3] == c[0] && map.rgb[p * 3 + 1] == c[1] && map.rgb[p * 3 + 2] == c[2]) << p;
  }
  EXPECT_GT(nodata, std::int64_t(cls.size() / 5));  // the black corners (about 32% of the scene)
}

TEST(E2eGeo, PucallpaAreasMatchTheEllipsoidAndZonesSumUp) {
  GeoRun r;
  if (!r.ready()) GTEST_SKIP() << "needs LC_SHARED_DIR (../shared) and LC_LANDCOVER_BIN (set by ctest)";
  geotest::make_polygons(r.dir.file("regions.geojson"), "GeoJSON", 4326,
                         {{"city", "POLYGON ((-74.60 -8.35,-74.50 -8.35,-74.50 -8.45,-74.60 -8.45,-74.60 -8.35))"},
                          {"west", "POLYGON ((-74.80 -8.30,-74.65 -8.30,-74.65 -8.50,-74.80 -8.50,-74.80 -8.30))"}});
  for (const std::string year : {"2015", "2020"}) {
    SCOPED_TRACE(year);
    const std::string tif = r.shared + "/scenes/geo/landsat_" + year + ".tif";
    std::string log;
    ASSERT_EQ(r.segment("--bands 3,2,1 --stride 8 --zones grid:0.25 '" + tif + "'", "g" + year, log), 0) << log;
    ASSERT_EQ(r.segment("--bands 3,2,1 --stride 8 --zones '" + r.dir.file("regions.geojson") + "' --zone-id name '" + tif + "'",
                        "r" + year, log),
              0)
        << log;
    const std::string base = r.dir.file("g" + year) + "/landsat_" + year;
    // Independent areas: each map cell's block of input pixels, closed form on WGS 84.
    std::unique_ptr<GDALDataset> in(GDALDataset::Open(tif.c_str(), GDAL_OF_RASTER));
    std::unique_ptr<GDALDataset> out(GDALDataset::Open((base + "_classes.tif").c_str(), GDAL_OF_RASTER));
    ASSERT_TRUE(in && out);
    double gt[6];
    in->GetGeoTransform(gt);
    const int W = in->GetRasterXSize(), H = in->GetRasterYSize(), S = 8;
    const int mw = out->GetRasterXSize(), mh = out->GetRasterYSize();
    const std::vector<double> cls = geotest::read_band(out.get(), 1);
    std::vector<double> want(4, 0.0);
    double want_nodata = 0;
    for (int i = 0; i < mh; ++i)
      for (int j = 0; j < mw; ++j) {
        const double a = geotest::rect_area_km2(gt[0] + j * S * gt[1], gt[0] + std::min((j + 1) * S, W) * gt[1],
                                                gt[3] + std::min((i + 1) * S, H) * gt[5], gt[3] + i * S * gt[5]);
        const double c = cls[std::size_t(i) * std::size_t(mw) + std::size_t(j)];
        (c == 255 ? want_nodata : want[std::size_t(c)]) += a;
      }
    const auto j = nlohmann::json::parse(test::read_text_file(base + "_fractions.json"));
    double valid = 0;
    for (const auto& c : j["classes"]) {
      const double w = want[std::size_t(c["index"].get<int>())];
      EXPECT_NEAR(c["km2"].get<double>(), w, 1e-3 * w + 1e-9) << c["class"];
      valid += w;
    }
    EXPECT_NEAR(j["valid_km2"].get<double>(), valid, 1e-3 * valid);
    EXPECT_NEAR(j["nodata_km2"].get<double>(), want_nodata, 1e-3 * want_nodata + 1e-9);
    for (const auto& c : j["classes"])
      EXPECT_NEAR(c["percent"].get<double>(), 100.0 * want[std::size_t(c["index"].get<int>())] / valid, 0.1);

    // Zone tables: header, ids, class areas summing to the valid area, totals = the scene's.
    for (const std::string kind : {"g", "r"}) {
      std::istringstream csv(test::read_text_file(r.dir.file(kind + year) + "/landsat_" + year + "_zones.csv"));
      std::string line;
      std::getline(csv, line);
      const std::vector<std::string> head = csv_fields(line);
      ASSERT_EQ(head.size(), 5u + 8u);
      EXPECT_EQ(head[0], "zone_id");
      EXPECT_EQ(head[5], "km2:" + geotest::class_names(4)[0]);
      EXPECT_EQ(head[9], "pct:" + geotest::class_names(4)[0]);
      double total = 0;
      int rows = 0;
      std::vector<std::string> ids;
      while (std::getline(csv, line)) {
        const std::vector<std::string> f = csv_fields(line);
        ASSERT_EQ(f.size(), head.size()) << line;
        ids.push_back(f[0]);
        const double zv = std::stod(f[3]);
        double sum = 0, pct = 0;
        for (int k = 0; k < 4; ++k) sum += std::stod(f[std::size_t(5 + k)]), pct += std::stod(f[std::size_t(9 + k)]);
        EXPECT_NEAR(sum, zv, 1e-5 + 1e-9 * zv) << line;
        if (zv > 0) {
          EXPECT_NEAR(pct, 100.0, 1e-3) << line;
        }
        EXPECT_EQ(f[2].rfind("POLYGON ((-74.", 0), 0u) << f[2];
        total += zv + std::stod(f[4]);
        ++rows;
      }
      if (kind == "g") {
        EXPECT_EQ(rows, 6);  // lon -74.75..-74.00 x lat -8.75..-8.25
        EXPECT_EQ(ids.front(), "lon-74.75_lat-8.50");
        EXPECT_NEAR(total, valid + want_nodata, 1e-3 * total);
      } else {
        EXPECT_EQ(ids, (std::vector<std::string>{"city", "west"}));
        // "city" lies inside the scene: its cells' area is its rectangle's, up to the 0.0065-degree
        // map cells along its edges.
        const double city = geotest::rect_area_km2(-74.60, -74.50, -8.45, -8.35);
        std::istringstream again(test::read_text_file(r.dir.file(kind + year) + "/landsat_" + year + "_zones.csv"));
        std::getline(again, line);
        std::getline(again, line);
        const std::vector<std::string> f = csv_fields(line);
        EXPECT_NEAR(std::stod(f[3]) + std::stod(f[4]), city, 0.05 * city);
      }
    }
  }
}

}  // namespace
}  // namespace lc

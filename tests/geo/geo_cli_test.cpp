// `landcover segment` on generated rasters with a tiny untrained checkpoint: every bad input of the
// geo workflow ends with one error line naming the file, exit status 1 and no output of that input;
// a raster without CRS works and says its outputs are not georeferenced; a good georeferenced run
// writes the COG, the probabilities GeoTIFF and the zone tables; --gsd resamples, and a GSD far from
// the model's warns once.
// Depends on: the landcover executable (LC_LANDCOVER_BIN), tests/geo/geo_support.h,
// tests/support/files.h.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/palette.h"
#include "tests/geo/geo_support.h"
#include "tests/support/files.h"

namespace lc {
namespace {

namespace fs = std::filesystem;
using geotest::make_raster;
using geotest::RasterSpec;

struct Cli {
  test::TempDir dir{"geo_cli"};
  std::string bin, ckpt;
  Cli() {
    const char* b = std::getenv("LC_LANDCOVER_BIN");
    if (b) bin = b;
    ckpt = dir.file("m.ckpt");
    geotest::write_tiny_checkpoint(ckpt, 3);
  }
  // Runs segment on `input` with `args` into out/; returns the exit status, output in `log`.
  int segment(const std::string& input, const std::string& args, std::string& log) {
    const std::string lf = dir.file("run.log");
    const int rc = test::run_logged("'" + bin + "' segment --backend cpu --quiet --stride 8 --model '" + ckpt +
                                        "' --out-dir '" + dir.file("out") + "' " + args + " '" + input + "'",
                                    lf);
    log = test::read_text_file(lf);
    return rc;
  }
  std::vector<std::string> outputs() {
    std::vector<std::string> v;
    if (fs::exists(dir.file("out")))
      for (const auto& e : fs::directory_iterator(dir.file("out"))) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
};

RasterSpec utm_spec() {
  RasterSpec s;
  s.epsg = 32618, s.gt = {300000, 10, 0, 2000000, 0, -10};
  return s;
}

TEST(CpuGeoCli, EveryBadInputIsOneLineNamingTheFileAndWritesNothing) {
  Cli c;
  if (c.bin.empty()) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)";
  RasterSpec u16 = utm_spec();
  u16.type = GDT_UInt16;
  make_raster(c.dir.file("u16.tif"), u16);
  RasterSpec two = utm_spec();
  two.bands = 2;
  make_raster(c.dir.file("two.tif"), two);
  RasterSpec rot = utm_spec();
  rot.gt = {300000, 10, 2, 2000000, 2, -10};
  make_raster(c.dir.file("rot.tif"), rot);
  RasterSpec big = utm_spec();
  big.width = big.height = 600, big.options = {"TILED=YES", "COMPRESS=DEFLATE"};
  big.value = [](int b, int x, int y) { return double((x * 13 + y * 7 + b * 31 + x * y) % 256); };
  make_raster(c.dir.file("full.tif"), big);
  const std::string bytes = test::read_text_file(c.dir.file("full.tif"));
  std::ofstream(c.dir.file("cut.tif"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::ofstream(c.dir.file("text.xyz")) << "hello\n";
  make_raster(c.dir.file("good.tif"), utm_spec());
  geotest::make_polygons(c.dir.file("points.geojson"), "GeoJSON", 4326, {{"p", "POINT (-76 18)"}});
  geotest::make_polygons(c.dir.file("far.geojson"), "GeoJSON", 4326, {{"p", "POLYGON ((10 10,11 10,11 11,10 10))"}});
  geotest::make_polygons(c.dir.file("nocrs.shp"), "ESRI Shapefile", 0, {{"p", "POLYGON ((0 0,1 0,1 1,0 0))"}});
  make_raster(c.dir.file("plain.tif"), RasterSpec{});

  const std::vector<std::array<std::string, 3>> cases = {
      {"u16.tif", "", "u16.tif: UInt16 raster: pass --scale"},
      {"two.tif", "", "two.tif: the raster has 2 bands: pass --bands"},
      {"rot.tif", "", "rot.tif: rotated or sheared geotransform"},
      {"cut.tif", "", "cut.tif: cannot decode"},
      {"text.xyz", "", "text.xyz: cannot decode"},
      {"good.tif", "--bands 1,2,7", "good.tif: --bands 1,2,7: the raster has 3 bands"},
      {"good.tif", "--zones '" + c.dir.file("points.geojson") + "'", "points.geojson: no polygon features"},
      {"good.tif", "--zones '" + c.dir.file("far.geojson") + "'", "far.geojson: no zone overlaps the scene"},
      {"good.tif", "--zones '" + c.dir.file("nocrs.shp") + "'", "has no CRS"},
      {"plain.tif", "--zones grid:0.25", "plain.tif: --zones needs a georeferenced raster"},
  };
  for (const auto& [file, args, want] : cases) {
    std::string log;
    const int rc = c.segment(c.dir.file(file), args, log);
    EXPECT_EQ(rc, 1) << file << " " << args << "\n" << log;
    EXPECT_NE(log.find("landcover: error: "), std::string::npos) << log;
    EXPECT_NE(log.find(want), std::string::npos) << "want '" << want << "' in:\n" << log;
    // One error line for the input (and the summary line).
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2) << log;
    EXPECT_EQ(c.outputs(), std::vector<std::string>{}) << file << " " << args;
  }
  std::string log;
  EXPECT_EQ(c.segment(c.dir.file("good.tif"), "--date 2020-13-01", log), 1);  // usage error before any work
  EXPECT_NE(log.find("--date must be YYYY-MM-DD"), std::string::npos) << log;
  EXPECT_EQ(c.segment(c.dir.file("good.tif"), "--scale 5,1", log), 1);
  EXPECT_NE(log.find("--scale"), std::string::npos) << log;
}

TEST(CpuGeoCli, NoCrsWorksAsBeforeAndGeoreferencedRunsWriteEverything) {
  Cli c;
  if (c.bin.empty()) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)";
  make_raster(c.dir.file("plain.tif"), RasterSpec{});
  std::string log;
  ASSERT_EQ(c.segment(c.dir.file("plain.tif"), "", log), 0) << log;
  EXPECT_NE(log.find("plain.tif: no CRS or geotransform: the outputs are not georeferenced"), std::string::npos) << log;
  EXPECT_EQ(c.outputs(), (std::vector<std::string>{"plain_classes.png", "plain_fractions.csv", "plain_fractions.json",
                                                     "plain_overlay.png"}));
  fs::remove_all(c.dir.file("out"));

  RasterSpec s = utm_spec();
  s.width = 96, s.height = 80;
  make_raster(c.dir.file("g.tif"), s);
  ASSERT_EQ(c.segment(c.dir.file("g.tif"), "--probs --probs-type float32 --zones grid:0.01 --date 2021-02-03", log), 0) << log;
  EXPECT_EQ(c.outputs(),
            (std::vector<std::string>{"g_classes.png", "g_classes.tif", "g_classes.tif.aux.xml", "g_fractions.csv",
                                      "g_fractions.json", "g_overlay.png", "g_probs.npy", "g_probs.tif", "g_zones.csv",
                                      "g_zones.gpkg"}));
  std::unique_ptr<GDALDataset> p(GDALDataset::Open(c.dir.file("out/g_probs.tif").c_str(), GDAL_OF_RASTER));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->GetRasterCount(), 3);
  EXPECT_EQ(p->GetRasterXSize(), 12);
  EXPECT_EQ(p->GetRasterBand(2)->GetRasterDataType(), GDT_Float32);
  EXPECT_EQ(std::string(p->GetRasterBand(2)->GetDescription()), geotest::class_names(3)[1]);
  // Probabilities of a cell sum to 1.
  double sum = 0;
  for (int b = 1; b <= 3; ++b) sum += geotest::read_band(p.get(), b)[17];
  EXPECT_NEAR(sum, 1.0, 1e-5);
  const std::string zones = test::read_text_file(c.dir.file("out/g_zones.csv"));
  EXPECT_NE(zones.find(",2021-02-03,\"POLYGON (("), std::string::npos) << zones;
  const auto j = nlohmann::json::parse(test::read_text_file(c.dir.file("out/g_fractions.json")));
  EXPECT_EQ(j["crs"], "EPSG:32618");
  // 96 x 80 pixels of 10 m: 0.768 km2 (UTM scale factor near 0.9996 at this easting: within 0.2%).
  EXPECT_NEAR(j["valid_km2"].get<double>() + j["nodata_km2"].get<double>(), 0.768, 0.002 * 0.768);
}

TEST(CpuGeoCli, GsdResamplesAndAMismatchWarnsOnce) {
  Cli c;
  if (c.bin.empty()) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)";
  RasterSpec s = utm_spec();
  s.width = 96, s.height = 80, s.gt = {300000, 40, 0, 2000000, 0, -40};  // 40 m pixels, the model: 10 m
  make_raster(c.dir.file("a.tif"), s);
  make_raster(c.dir.file("b.tif"), s);
  std::string log;
  ASSERT_EQ(c.segment(c.dir.file("a.tif") + "' '" + c.dir.file("b.tif"), "", log), 0) << log;
  EXPECT_NE(log.find("warning: " + c.dir.file("a.tif") + ": pixels of 40."), std::string::npos) << log;
  EXPECT_NE(log.find("--gsd 10"), std::string::npos) << log;
  EXPECT_EQ(log.find("warning: " + c.dir.file("b.tif")), std::string::npos) << log;  // once
  // --gsd 80: 48 x 40 pixels of 80 m (average of 2 x 2), no warning.
  ASSERT_EQ(c.segment(c.dir.file("a.tif"), "--gsd 80", log), 0) << log;
  EXPECT_EQ(log.find("warning"), std::string::npos) << log;
  const auto j = nlohmann::json::parse(test::read_text_file(c.dir.file("out/a_fractions.json")));
  EXPECT_EQ(j["width"], 48);
  EXPECT_EQ(j["height"], 40);
  std::unique_ptr<GDALDataset> d(GDALDataset::Open(c.dir.file("out/a_classes.tif").c_str(), GDAL_OF_RASTER));
  double gt[6];
  ASSERT_EQ(d->GetGeoTransform(gt), CE_None);
  EXPECT_NEAR(gt[1], 80.0 * 8, 1e-6);  // map cell = resampled pixel x stride
  // A checkpoint trained at 40 m: no warning without --gsd.
  geotest::write_tiny_checkpoint(c.ckpt, 3, "40");
  ASSERT_EQ(c.segment(c.dir.file("a.tif"), "", log), 0) << log;
  EXPECT_EQ(log.find("warning"), std::string::npos) << log;
}

TEST(CpuGeoCli, TrainRecordsTheGsdAndOldCheckpointsReadAs10) {
  Cli c;
  if (c.bin.empty()) GTEST_SKIP() << "LC_LANDCOVER_BIN is not set (ctest sets it to the built landcover)";
  EXPECT_EQ(load_inference_model(c.ckpt).gsd_m, 10.0);  // written without gsd_m, as before --gsd
  // A two-class data set of 64x64 PNGs, 5 per class.
  for (const std::string cls : {"dark", "light"})
    for (int i = 0; i < 5; ++i) {
      fs::create_directories(c.dir.file("data/" + cls));
      std::vector<std::uint8_t> px(64 * 64 * 3, std::uint8_t(cls == "dark" ? 20 + i : 200 + i));
      const std::vector<std::uint8_t> png = encode_png(64, 64, 3, px.data());
      std::ofstream(c.dir.file("data/" + cls + "/" + std::to_string(i) + ".png"), std::ios::binary)
          .write(reinterpret_cast<const char*>(png.data()), std::streamsize(png.size()));
    }
  const std::string out = c.dir.file("t.ckpt");
  ASSERT_EQ(test::run_logged("'" + c.bin + "' train --backend cpu --epochs 1 --batch 2 --no-cache --gsd 30 --data '" +
                                 c.dir.file("data") + "' --out '" + out + "'",
                             c.dir.file("train.log")),
            0)
      << test::read_text_file(c.dir.file("train.log"));
  EXPECT_EQ(load_inference_model(out).gsd_m, 30.0);
  EXPECT_EQ(test::run_logged("'" + c.bin + "' train --backend cpu --gsd 0 --data '" + c.dir.file("data") + "' --out '" +
                                 c.dir.file("u.ckpt") + "'",
                             c.dir.file("train0.log")),
            1)
      << test::read_text_file(c.dir.file("train0.log"));
  EXPECT_NE(test::read_text_file(c.dir.file("train0.log")).find("--gsd must be a positive number"), std::string::npos);
}

}  // namespace
}  // namespace lc

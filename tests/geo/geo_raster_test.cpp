// Tests of the GDAL raster reader (model/raster.h) and of segmenting through it: band choice,
// scaling, nodata from the raster, PNG and GeoTIFF of the same pixels giving the same pixels and
// the same class map (also tiled), and every bad input with its one-line error. Rasters are made
// here with GDAL inside a TempDir.
// Depends on: model/raster.h, model/segmenter.h, model/palette.h, tests/geo/geo_support.h,
// tests/support/files.h, tests/support/testing.h.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "kernels/common/check.h"
#include "model/palette.h"
#include "model/raster.h"
#include "model/segmenter.h"
#include "tests/geo/geo_support.h"
#include "tests/support/files.h"
#include "tests/support/testing.h"

namespace lc {
namespace {

namespace fs = std::filesystem;
using geotest::make_raster;
using geotest::RasterSpec;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(CpuGeoRaster, BandsScaleAndNodataFromTheRaster) {
  test::TempDir dir("geo_read");
  RasterSpec s;
  s.type = GDT_UInt16, s.has_nodata = true, s.nodata = 0;
  // Nodata (0 in all bands) at x = 0, y < 2; band 1 alone is 0 on the rest of column 0 and band 3
  // alone at (2, 0) (still data: a pixel is nodata only when every chosen band is).
  s.value = [](int b, int x, int y) {
    if (x == 0 && y < 2) return 0.0;
    if (b == 2 && x == 2 && y == 0) return 0.0;
    return b == 0 ? x * 100.0 : b == 1 ? y * 100.0 + 1 : 1000.0;
  };
  const std::string path = dir.file("u16.tif");
  make_raster(path, s);

  const std::string none = error_of([&] { RasterReader r(path, RasterOptions{}); });
  EXPECT_NE(none.find("u16.tif: UInt16 raster: pass --scale"), std::string::npos) << none;

  RasterOptions o;
  parse_scale_option("0,6300", o);
  parse_bands_option("1,2,3", o);
  const RasterImage img = read_raster_image(path, o);
  ASSERT_EQ(img.image.width, 64);
  ASSERT_EQ(img.valid.size(), std::size_t(64 * 48));
  auto expect_px = [&](int x, int y) {
    const std::size_t p = std::size_t(y * 64 + x);
    for (int b = 0; b < 3; ++b) {
      const double v = s.value(b, x, y);
      const double want = std::min(255.0, std::max(0.0, std::nearbyint(v / 6300.0 * 255.0)));
      EXPECT_EQ(img.image.rgb[p * 3 + std::size_t(b)], std::uint8_t(want)) << x << "," << y << " band " << b;
    }
  };
  expect_px(5, 7), expect_px(63, 47), expect_px(1, 0);
  EXPECT_EQ(img.valid[0], 0);       // all bands at their nodata value
  EXPECT_EQ(img.valid[64], 0);
  EXPECT_NE(img.valid[64 * 3], 0);  // only band 1 at 0: data
  EXPECT_NE(img.valid[2], 0);       // only band 3 at 0: data
  EXPECT_NE(img.valid[1], 0);

  // Per-band pairs and a band order.
  RasterOptions o2;
  parse_bands_option("3,2,1", o2);
  parse_scale_option("0,2000,0,4800,0,6300", o2);
  const RasterImage img2 = read_raster_image(path, o2);
  const std::size_t p = std::size_t(10 * 64 + 20);
  EXPECT_EQ(img2.image.rgb[p * 3 + 0], std::uint8_t(std::nearbyint(1000.0 / 2000 * 255)));
  EXPECT_EQ(img2.image.rgb[p * 3 + 1], std::uint8_t(std::nearbyint(1001.0 / 4800 * 255)));
  EXPECT_EQ(img2.image.rgb[p * 3 + 2], std::uint8_t(std::nearbyint(2000.0 / 6300 * 255)));
  // A LO above 0: v -> (v - LO) / (HI - LO) * 255 (band 3 holds 1000: 900 / 2000 * 255 = 114.75).
  RasterOptions o4;
  parse_bands_option("3,2,1", o4);
  parse_scale_option("100,2100", o4);
  EXPECT_EQ(read_raster_image(path, o4).image.rgb[p * 3 + 0], 115);

  // auto: the 2nd..98th percentile of band 1 (x * 100, uniform over 0..6300 without the x = 0 nodata).
  RasterOptions o3;
  parse_scale_option("auto", o3);
  {
    RasterReader r3(path, o3);
    const std::string d = r3.describe();
    // Band 1 holds x * 100 for x = 0..63, 48 rows each; GDAL's histogram leaves out its nodata
    // value 0: 63 equal values 100..6300, so the 2nd percentile (pixel 60.5 of 3024) is 200.
    EXPECT_NE(d.find("scale "), std::string::npos) << d;
    const double lo = std::stod(d.substr(d.find("scale ") + 6));
    EXPECT_NEAR(lo, 200, 7) << d;
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"u16.tif"});  // nothing cached beside the input

  EXPECT_NE(error_of([&] { RasterOptions b; parse_bands_option("4,1,1", b); parse_scale_option("0,1", b); RasterReader r(path, b); })
                .find("has 3 bands"),
            std::string::npos);
  EXPECT_NE(error_of([&] { RasterOptions b; parse_bands_option("0,1,1", b); }).find("--bands"), std::string::npos);
  EXPECT_NE(error_of([&] { RasterOptions b; parse_scale_option("5,1", b); }).find("--scale"), std::string::npos);
  EXPECT_NE(error_of([&] { RasterOptions b; parse_scale_option("1,2,3", b); }).find("--scale"), std::string::npos);
}

TEST(CpuGeoRaster, BadRastersGiveOneLineErrorsNamingTheFile) {
  test::TempDir dir("geo_bad");
  RasterSpec two;
  two.bands = 2;
  make_raster(dir.file("two.tif"), two);
  EXPECT_NE(error_of([&] { RasterReader r(dir.file("two.tif"), {}); }).find("two.tif: the raster has 2 bands: pass --bands"),
            std::string::npos);

  RasterSpec rot;
  rot.epsg = 32618, rot.gt = {500000, 30, 5, 4000000, 5, -30};
  make_raster(dir.file("rot.tif"), rot);
  EXPECT_NE(error_of([&] { RasterReader r(dir.file("rot.tif"), {}); }).find("rot.tif: rotated or sheared geotransform"),
            std::string::npos);

  // A tiled, deflated GeoTIFF cut short: the header opens, the tiles do not decode.
  RasterSpec big;
  big.width = 512, big.height = 512, big.options = {"TILED=YES", "COMPRESS=DEFLATE"};
  big.value = [](int b, int x, int y) { return double((x * 13 + y * 7 + b * 31 + x * y) % 256); };
  make_raster(dir.file("full.tif"), big);
  const std::string bytes = test::read_text_file(dir.file("full.tif"));
  std::ofstream(dir.file("cut.tif"), std::ios::binary) << bytes.substr(0, bytes.size() * 6 / 10);
  const std::string cut = error_of([&] { read_raster_image(dir.file("cut.tif"), {}); });
  EXPECT_NE(cut.find("cut.tif: cannot decode"), std::string::npos) << cut;
  std::ofstream(dir.file("text.tif")) << "not a raster at all\n";
  const std::string text = error_of([&] { RasterReader r(dir.file("text.tif"), {}); });
  EXPECT_NE(text.find("text.tif: cannot decode"), std::string::npos) << text;
  EXPECT_NE(error_of([&] { RasterReader r(dir.file("missing.tif"), {}); }).find("missing.tif: cannot read"), std::string::npos);
  for (const std::string& m : {cut, text}) EXPECT_EQ(m.find('\n'), std::string::npos) << m;

  // The acquisition date from the metadata (the file's own TIFFTAG_DATETIME is not one).
  RasterSpec dated;
  dated.metadata = {{"TIFFTAG_DATETIME", "2001:01:01 00:00:00"}, {"DATE_ACQUIRED", "2019:07:14"}};
  make_raster(dir.file("dated.tif"), dated);
  EXPECT_EQ(RasterReader(dir.file("dated.tif"), {}).geo().date, "2019-07-14");
  RasterSpec undated;
  undated.metadata = {{"TIFFTAG_DATETIME", "2001:01:01 00:00:00"}};
  make_raster(dir.file("undated.tif"), undated);
  EXPECT_EQ(RasterReader(dir.file("undated.tif"), {}).geo().date, "");

  // No CRS: read as before, not georeferenced.
  make_raster(dir.file("plain.tif"), RasterSpec{});
  RasterReader plain(dir.file("plain.tif"), {});
  EXPECT_FALSE(plain.geo().georeferenced);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"cut.tif", "dated.tif", "full.tif", "plain.tif", "rot.tif", "text.tif",
                                                      "two.tif", "undated.tif"}));
}

TEST(CpuGeoRaster, PngAndGeoTiffOfTheSamePixelsSegmentIdentically) {
  auto be = test::backend_or_skip(BackendKind::cpu);
  if (!be) return;
  test::TempDir dir("geo_same");
  const int W = 83, H = 61;
  std::vector<std::uint8_t> rgb(std::size_t(W) * H * 3);
  std::mt19937 g(5);
  for (auto& v : rgb) v = std::uint8_t(1 + g() % 255);  // 0 only in the black run below
  for (int y = 0; y < 4; ++y)  // a black block over the first map cells' centres
    for (int x = 0; x < 20; ++x) std::fill_n(&rgb[(std::size_t(y) * W + std::size_t(x)) * 3], 3, std::uint8_t(0));
  const std::vector<std::uint8_t> png = encode_png(W, H, 3, rgb.data());
  std::ofstream(dir.file("a.png"), std::ios::binary).write(reinterpret_cast<const char*>(png.data()), std::streamsize(png.size()));
  RasterSpec s;
  s.width = W, s.height = H, s.epsg = 32618, s.gt = {300000, 30, 0, 2000000, 0, -30};
  s.options = {"TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=LZW"};
  s.value = [&](int b, int x, int y) { return double(rgb[(std::size_t(y) * W + std::size_t(x)) * 3 + std::size_t(b)]); };
  make_raster(dir.file("a.tif"), s);

  RasterReader rp(dir.file("a.png"), {}), rt(dir.file("a.tif"), {});
  EXPECT_FALSE(rp.geo().georeferenced);
  EXPECT_TRUE(rt.geo().georeferenced);
  EXPECT_EQ(rp.read_reduced(W, H, nullptr).rgb, rgb);
  EXPECT_EQ(rt.read_reduced(W, H, nullptr).rgb, rgb);

  const LoadedModel m = make_untrained_model(parse_model_json(geotest::kTinyModel, "tiny"), geotest::class_names(4), 3);
  Segmenter seg(m, *be, 16);
  SegmentOptions o;
  o.stride = 3, o.tile_windows = 40;  // many tiles: each reads its own rows from the file
  o.has_nodata_rgb = true;
  InputImage in;
  in.image.width = W, in.image.height = H, in.image.rgb = rgb;
  const SegmentResult mem = seg.segment(in, o);
  const SegmentResult from_png = seg.segment(rp, o);
  const SegmentResult from_tif = seg.segment(rt, o);
  EXPECT_GT(from_tif.stats.tiles, 5);
  EXPECT_EQ(from_png.cls, mem.cls);
  EXPECT_EQ(from_tif.cls, mem.cls);
  EXPECT_EQ(from_tif.valid, mem.valid);
  EXPECT_EQ(from_tif.counts, mem.counts);
  EXPECT_EQ(from_tif.pixels, mem.pixels);
  EXPECT_EQ(mem.valid[0], 0);  // the black block

  // The raster's own nodata (value 0 in every band) marks the same cells without --nodata.
  RasterSpec sn = s;
  sn.has_nodata = true, sn.nodata = 0;
  make_raster(dir.file("n.tif"), sn);
  RasterReader rn(dir.file("n.tif"), {});
  SegmentOptions on = o;
  on.has_nodata_rgb = false;
  const SegmentResult from_mask = seg.segment(rn, on);
  EXPECT_EQ(from_mask.valid, mem.valid);
  EXPECT_EQ(from_mask.cls, mem.cls);
}

TEST(CpuGeoRaster, Jpeg2000ReadsLosslesslyWhenGdalHasTheDriver) {
  gdal_init();
  if (!GetGDALDriverManager()->GetDriverByName("JP2OpenJPEG"))
    GTEST_SKIP() << "this GDAL has no JP2OpenJPEG driver (JPEG 2000 is read only where it has)";
  test::TempDir dir("geo_jp2");
  RasterSpec s;
  s.driver = "JP2OpenJPEG", s.epsg = 32620, s.gt = {600000, 60, 0, 1400000, 0, -60};
  s.options = {"REVERSIBLE=YES", "QUALITY=100"};
  make_raster(dir.file("a.jp2"), s);
  RasterReader r(dir.file("a.jp2"), {});
  EXPECT_TRUE(r.geo().georeferenced);
  EXPECT_EQ(r.geo().crs_name, "EPSG:32620");
  const RgbImage img = r.read_reduced(64, 48, nullptr);
  for (int y = 0; y < 48; y += 7)
    for (int x = 0; x < 64; x += 5)
      for (int b = 0; b < 3; ++b)
        ASSERT_EQ(img.rgb[(std::size_t(y) * 64 + std::size_t(x)) * 3 + std::size_t(b)], std::uint8_t(s.value(b, x, y)));
}

}  // namespace
}  // namespace lc

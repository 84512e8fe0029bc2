// Helpers of the geo tests: rasters and vector files made with GDAL/OGR inside a test's TempDir, a
// tiny checkpoint (8x8 input, untrained) for running `landcover segment` fast, the ellipsoidal area
// of a longitude/latitude rectangle in closed form (independent of the code under test), and
// reading a GDAL raster band back.
// Depends on: GDAL/OGR, model/inference.h, model/checkpoint.h, model/model_spec.h,
// tests/support/testing.h.
#pragma once

#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <array>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/inference.h"
#include "model/model_spec.h"
#include "model/raster.h"
#include "runtime/backend.h"

namespace lc::geotest {

inline const char* kTinyModel = R"({"name": "tiny", "input": [8, 8, 3], "layers": [
  {"type": "batchnorm"},
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "flatten"},
  {"type": "dense", "units": "classes"}]})";

inline std::vector<std::string> class_names(int k) {
  std::vector<std::string> n;
  for (int i = 0; i < k; ++i) n.push_back("class " + std::to_string(i) + (i == 1 ? ", with comma" : ""));
  return n;
}

// An untrained tiny checkpoint with `k` classes (weights from a fixed seed).
inline void write_tiny_checkpoint(const std::string& path, int k, const std::string& gsd = "") {
  auto be = make_backend("cpu");
  const ModelSpec spec = parse_model_json(kTinyModel, "tiny");
  const LoadedModel m = make_untrained_model(spec, class_names(k), 11);
  auto net = make_inference_network(m, *be, 1);
  Checkpoint ck;
  ck.model_json = model_to_json(spec);
  ck.class_names = class_names(k);
  ck.input_height = 8, ck.input_width = 8, ck.input_channels = 3;
  for (const ParamView& v : net->params()) ck.params.push_back({v.name, v.shape, net->read(v.name)});
  if (!gsd.empty()) ck.meta.push_back({"gsd_m", gsd});
  save_checkpoint(path, ck);
}

struct RasterSpec {
  int width = 64, height = 48, bands = 3;
  GDALDataType type = GDT_Byte;
  int epsg = 0;                                  // 0: no CRS
  std::array<double, 6> gt{0, 1, 0, 0, 0, -1};   // used when epsg != 0
  bool has_gt = true;
  bool has_nodata = false;
  double nodata = 0;
  std::vector<std::string> options;              // creation options, e.g. "TILED=YES"
  std::string driver = "GTiff";
  std::vector<std::pair<std::string, std::string>> metadata;  // dataset metadata items
  // value of band b (0-based) at (x, y)
  std::function<double(int b, int x, int y)> value = [](int b, int x, int y) { return double((x * 7 + y * 3 + b * 50) % 256); };
};

inline void make_raster(const std::string& path, const RasterSpec& s) {
  gdal_init();
  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  std::unique_ptr<GDALDataset> ds(mem->Create("", s.width, s.height, s.bands, s.type, nullptr));
  for (int b = 0; b < s.bands; ++b) {
    std::vector<double> px(std::size_t(s.width) * std::size_t(s.height));
    for (int y = 0; y < s.height; ++y)
      for (int x = 0; x < s.width; ++x) px[std::size_t(y) * std::size_t(s.width) + std::size_t(x)] = s.value(b, x, y);
    GDALRasterBand* band = ds->GetRasterBand(b + 1);
    if (band->RasterIO(GF_Write, 0, 0, s.width, s.height, px.data(), s.width, s.height, GDT_Float64, 0, 0, nullptr) != CE_None)
      throw std::runtime_error("make_raster: write failed");
    if (s.has_nodata) band->SetNoDataValue(s.nodata);
  }
  for (const auto& [k, v] : s.metadata) ds->SetMetadataItem(k.c_str(), v.c_str());
  if (s.epsg) {
    OGRSpatialReference srs;
    srs.importFromEPSG(s.epsg);
    ds->SetSpatialRef(&srs);
  }
  if (s.epsg && s.has_gt) {
    std::array<double, 6> gt = s.gt;
    ds->SetGeoTransform(gt.data());
  }
  std::vector<const char*> opts;
  for (const std::string& o : s.options) opts.push_back(o.c_str());
  opts.push_back(nullptr);
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(s.driver.c_str());
  GDALDataset* out = drv->CreateCopy(path.c_str(), ds.get(), FALSE, const_cast<char**>(opts.data()), nullptr, nullptr);
  if (!out) throw std::runtime_error("make_raster: cannot create " + path);
  GDALClose(out);
}

// Writes polygons (WKT, in EPSG `epsg`; 0 = no CRS) with an "name" attribute to a vector file.
inline void make_polygons(const std::string& path, const std::string& driver, int epsg,
                          const std::vector<std::pair<std::string, std::string>>& name_wkt) {
  gdal_init();
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(driver.c_str());
  std::unique_ptr<GDALDataset> ds(drv->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  if (!ds) throw std::runtime_error("make_polygons: cannot create " + path);
  OGRSpatialReference srs;
  if (epsg) srs.importFromEPSG(epsg), srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  OGRLayer* layer = ds->CreateLayer("zones", epsg ? &srs : nullptr, wkbUnknown, nullptr);
  OGRFieldDefn fd("name", OFTString);
  layer->CreateField(&fd);
  for (const auto& [name, wkt] : name_wkt) {
    OGRFeature f(layer->GetLayerDefn());
    f.SetField("name", name.c_str());
    OGRGeometry* g = nullptr;
    if (OGRGeometryFactory::createFromWkt(wkt.c_str(), nullptr, &g) != OGRERR_NONE) throw std::runtime_error("bad wkt " + wkt);
    f.SetGeometryDirectly(g);
    if (layer->CreateFeature(&f) != OGRERR_NONE) throw std::runtime_error("make_polygons: cannot write");
  }
}

// Area in km^2 of the rectangle lon0..lon1 x lat0..lat1 (degrees) on the ellipsoid (a, 1/f):
// the authalic closed form A = b^2 / 2 * dlon * [q(lat1) - q(lat0)],
// q(p) = sin p / (1 - e^2 sin^2 p) + 1/(2e) ln((1 + e sin p) / (1 - e sin p)).
inline double rect_area_km2(double lon0, double lon1, double lat0, double lat1, double a = 6378137.0,
                            double inv_f = 298.257223563) {
  const double f = 1 / inv_f, e2 = f * (2 - f), e = std::sqrt(e2), b2 = a * a * (1 - e2);
  auto q = [&](double lat) {
    const double s = std::sin(lat * M_PI / 180);
    return s / (1 - e2 * s * s) + 1 / (2 * e) * std::log((1 + e * s) / (1 - e * s));
  };
  return std::fabs(b2 / 2 * (lon1 - lon0) * M_PI / 180 * (q(lat1) - q(lat0))) / 1e6;
}

// One band of a raster as doubles.
inline std::vector<double> read_band(GDALDataset* ds, int band) {
  const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
  std::vector<double> v(std::size_t(w) * std::size_t(h));
  if (ds->GetRasterBand(band)->RasterIO(GF_Read, 0, 0, w, h, v.data(), w, h, GDT_Float64, 0, 0, nullptr) != CE_None)
    throw std::runtime_error("read_band failed");
  return v;
}

}  // namespace lc::geotest

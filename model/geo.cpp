// Georeferenced outputs (see geo.h): COG class map and probabilities, ellipsoidal areas, zones.
#include "model/geo.h"

#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "kernels/common/check.h"
#include "model/gdal_util.h"
#include "model/checkpoint.h"

namespace lc {

namespace {


std::string vsimem_name(const char* ext) {
  static std::atomic<int> n{0};
  return "/vsimem/lc_out_" + std::to_string(n++) + ext;
}

// The one place outputs made by GDAL reach the disk: GDAL writes into /vsimem, the bytes go through
// the project's atomic writer (temporary file in the same folder, renamed at the end).
void stage_vsimem(const std::string& mem, const std::string& path, OutputSet& out) {
  vsi_l_offset size = 0;
  GByte* data = VSIGetMemFileBuffer(mem.c_str(), &size, FALSE);
  LC_CHECK(data != nullptr, path, ": GDAL wrote nothing");
  try {
    out.stage(path, data, std::size_t(size));
  } catch (...) {
    VSIUnlink(mem.c_str());
    throw;
  }
  VSIUnlink(mem.c_str());
}

void set_georef(GDALDataset* ds, const GeoRef& g, int stride) {
  std::array<double, 6> gt = map_geotransform(g, stride);
  ds->SetGeoTransform(gt.data());
  OGRSpatialReference srs;
  srs.importFromWkt(g.wkt.c_str());
  ds->SetSpatialRef(&srs);
}

// A MEM dataset copied as a COG (deflate, 256 tiles, internal overviews made with `resampling`
// down to 16 pixels on the longer side, so even small maps have them). Category names and band
// descriptions GeoTIFF cannot hold go to <path>.aux.xml (GDAL's sidecar), written first.
void write_cog(GDALDataset* mem, const std::string& path, const char* resampling, OutputSet& outputs) {
  QuietGdal quiet;
  GDALDriver* cog = GetGDALDriverManager()->GetDriverByName("COG");
  LC_CHECK(cog != nullptr, path, ": this GDAL has no COG driver");
  std::vector<int> levels;
  for (int f = 2; std::max(mem->GetRasterXSize(), mem->GetRasterYSize()) / f >= 16; f *= 2) levels.push_back(f);
  if (!levels.empty() && mem->BuildOverviews(resampling, int(levels.size()), levels.data(), 0, nullptr, nullptr, nullptr,
                                             nullptr) != CE_None)
    LC_FAIL(path, ": cannot build overviews: ", QuietGdal::last("unknown reason"));
  const std::string vsi = vsimem_name(".tif");
  const char* opts[] = {"COMPRESS=DEFLATE", "BLOCKSIZE=256", "OVERVIEWS=FORCE_USE_EXISTING", nullptr};
  GDALDataset* out = cog->CreateCopy(vsi.c_str(), mem, FALSE, const_cast<char**>(opts), nullptr, nullptr);
  if (!out) {
    VSIUnlink(vsi.c_str());
    LC_FAIL(path, ": cannot write the GeoTIFF: ", QuietGdal::last("unknown reason"));
  }
  GDALClose(out);
  VSIStatBufL st;
  if (VSIStatL((vsi + ".aux.xml").c_str(), &st) == 0) stage_vsimem(vsi + ".aux.xml", path + ".aux.xml", outputs);
  stage_vsimem(vsi, path, outputs);
}

GDALDataset* mem_dataset(std::int64_t w, std::int64_t h, int bands, GDALDataType t) {
  gdal_init();
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("MEM");
  GDALDataset* ds = drv->Create("", int(w), int(h), bands, t, nullptr);
  LC_CHECK(ds != nullptr, "cannot create an in-memory raster of ", w, "x", h, "x", bands);
  return ds;
}

}  // namespace

std::array<double, 6> map_geotransform(const GeoRef& g, int stride) {
  std::array<double, 6> gt = g.gt;
  gt[1] *= stride, gt[5] *= stride;
  return gt;
}

void write_classes_cog(const std::string& path, const SegmentResult& r, const std::vector<std::string>& names,
                       const GeoRef& g, OutputSet& out) {
  const int K = int(names.size());
  std::unique_ptr<GDALDataset> ds(mem_dataset(r.map_w, r.map_h, 1, GDT_Byte));
  std::vector<std::uint8_t> px(r.cls.size());
  for (std::size_t p = 0; p < px.size(); ++p) {
    const bool ok = (r.valid.empty() || r.valid[p]) && r.cls[p] >= 0 && r.cls[p] < K;
    px[p] = ok ? std::uint8_t(r.cls[p]) : std::uint8_t(255);
  }
  GDALRasterBand* b = ds->GetRasterBand(1);
  LC_CHECK(b->RasterIO(GF_Write, 0, 0, int(r.map_w), int(r.map_h), px.data(), int(r.map_w), int(r.map_h), GDT_Byte, 0, 0,
                       nullptr) == CE_None,
           path, ": cannot fill the class raster");
  GDALColorTable ct;
  const std::vector<std::uint8_t> pal = palette_bytes(K);
  for (int i = 0; i < 256; ++i) {
    GDALColorEntry e{0, 0, 0, i == 255 ? short(0) : short(255)};
    if (i < K) e.c1 = pal[std::size_t(i) * 3], e.c2 = pal[std::size_t(i) * 3 + 1], e.c3 = pal[std::size_t(i) * 3 + 2];
    ct.SetColorEntry(i, &e);
  }
  b->SetColorTable(&ct);
  b->SetColorInterpretation(GCI_PaletteIndex);
  std::vector<const char*> cats;
  for (const std::string& n : names) cats.push_back(n.c_str());
  cats.push_back(nullptr);
  b->SetCategoryNames(const_cast<char**>(cats.data()));
  b->SetNoDataValue(255);
  b->SetDescription("class");
  if (g.georeferenced) set_georef(ds.get(), g, r.stride);
  write_cog(ds.get(), path, "MODE", out);  // MODE: overview cells keep a real class
}

struct ProbsRaster::Impl {
  std::unique_ptr<GDALDataset> ds;
  std::int64_t map_w = 0;
  int K = 0;
  bool f32 = false;
};

ProbsRaster::ProbsRaster(std::int64_t map_h, std::int64_t map_w, const std::vector<std::string>& names, bool float32)
    : p_(std::make_unique<Impl>()) {
  p_->K = int(names.size()), p_->map_w = map_w, p_->f32 = float32;
  p_->ds.reset(mem_dataset(map_w, map_h, p_->K, float32 ? GDT_Float32 : GDT_Byte));
  for (int k = 0; k < p_->K; ++k) p_->ds->GetRasterBand(k + 1)->SetDescription(names[std::size_t(k)].c_str());
}
ProbsRaster::~ProbsRaster() = default;

void ProbsRaster::add(std::int64_t first, std::int64_t cells, const float* probs) {
  // Cells arrive in whole map rows (the segmenter's tiles); write band by band.
  const std::int64_t W = p_->map_w;
  LC_CHECK(first % W == 0 && cells % W == 0, "probabilities: tiles must be whole map rows");
  const int rows = int(cells / W), K = p_->K;
  std::vector<float> f(static_cast<std::size_t>(cells));
  std::vector<std::uint8_t> u(static_cast<std::size_t>(cells));
  for (int k = 0; k < K; ++k) {
    for (std::int64_t c = 0; c < cells; ++c) f[std::size_t(c)] = probs[c * K + k];
    void* buf = f.data();
    if (!p_->f32) {
      for (std::int64_t c = 0; c < cells; ++c) u[std::size_t(c)] = std::uint8_t(std::clamp(std::lround(f[std::size_t(c)] * 255.0f), 0L, 255L));
      buf = u.data();
    }
    LC_CHECK(p_->ds->GetRasterBand(k + 1)->RasterIO(GF_Write, 0, int(first / W), int(W), rows, buf, int(W), rows,
                                                    p_->f32 ? GDT_Float32 : GDT_Byte, 0, 0, nullptr) == CE_None,
             "probabilities: cannot fill the raster");
  }
}

void ProbsRaster::write(const std::string& path, const GeoRef& g, int stride, OutputSet& out) {
  if (g.georeferenced) set_georef(p_->ds.get(), g, stride);
  write_cog(p_->ds.get(), path, "AVERAGE", out);
}

void write_zones_gpkg(const std::string& path, const AreaResult& a, const std::vector<std::string>& names,
                      const std::string& date, OutputSet& out) {
  gdal_init();
  QuietGdal quiet;
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GPKG");
  LC_CHECK(drv != nullptr, path, ": this GDAL has no GeoPackage driver");
  const std::string vsi = vsimem_name(".gpkg");
  {
    std::unique_ptr<GDALDataset> ds(drv->Create(vsi.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    LC_CHECK(ds != nullptr, path, ": cannot create the GeoPackage: ", QuietGdal::last("unknown reason"));
    OGRSpatialReference ll;
    ll.importFromEPSG(4326);
    ll.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    OGRLayer* layer = ds->CreateLayer("zones", &ll, wkbMultiPolygon, nullptr);
    LC_CHECK(layer != nullptr, path, ": cannot create layer zones: ", QuietGdal::last("unknown reason"));
    std::vector<std::string> fields = {"zone_id", "date"};
    for (const char* f : {"valid_km2", "nodata_km2"}) fields.push_back(f);
    for (const std::string& n : names) fields.push_back("km2:" + n);
    for (const std::string& n : names) fields.push_back("pct:" + n);
    for (std::size_t i = 0; i < fields.size(); ++i) {
      OGRFieldDefn fd(fields[i].c_str(), i < 2 ? OFTString : OFTReal);
      LC_CHECK(layer->CreateField(&fd) == OGRERR_NONE, path, ": cannot create field ", fields[i]);
    }
    LC_CHECK(layer->StartTransaction() == OGRERR_NONE, path, ": cannot start a transaction");
    for (const ZoneStats& z : a.zones) {
      OGRFeature f(layer->GetLayerDefn());
      f.SetField(0, z.id.c_str());
      f.SetField(1, date.c_str());
      f.SetField(2, z.valid_km2);
      f.SetField(3, z.nodata_km2);
      const int K = int(names.size());
      for (int k = 0; k < K; ++k) {
        const double km2 = z.class_km2[std::size_t(k)];
        f.SetField(4 + k, km2);
        f.SetField(4 + K + k, z.valid_km2 > 0 ? 100.0 * km2 / z.valid_km2 : 0.0);
      }
      OGRGeometry* g = nullptr;
      LC_CHECK(OGRGeometryFactory::createFromWkt(z.wkt.c_str(), &ll, &g) == OGRERR_NONE, path, ": bad zone geometry");
      f.SetGeometryDirectly(OGRGeometryFactory::forceToMultiPolygon(g));
      LC_CHECK(layer->CreateFeature(&f) == OGRERR_NONE, path, ": cannot write zone ", z.id, ": ",
               QuietGdal::last("unknown reason"));
    }
    LC_CHECK(layer->CommitTransaction() == OGRERR_NONE, path, ": cannot commit the zones");
  }
  stage_vsimem(vsi, path, out);
}

void check_date(const std::string& d) {
  int y = 0, m = 0, day = 0;
  char tail = 0;
  LC_CHECK(d.size() == 10 && std::sscanf(d.c_str(), "%4d-%2d-%2d%c", &y, &m, &day, &tail) == 3 && m >= 1 && m <= 12 &&
               day >= 1 && day <= 31,
           "--date must be YYYY-MM-DD, got '", d, "'");
}

}  // namespace lc

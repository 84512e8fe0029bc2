// GDAL raster reader (see raster.h).
#include "model/raster.h"

#include "model/file_io.h"

#include <gdal_priv.h>
#include <gdal_utils.h>
#include <geodesic.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <sstream>

#include "kernels/common/check.h"
#include "model/gdal_util.h"
#include "model/inference.h"

namespace lc {

void gdal_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    GDALAllRegister();
    // GDAL's block cache defaults to 5% of the RAM; tiles are read once, top to bottom, so a small
    // cache keeps memory bounded (GDAL_CACHEMAX in the environment still wins).
    if (!CPLGetConfigOption("GDAL_CACHEMAX", nullptr)) GDALSetCacheMax64(GIntBig(128) << 20);
  });
}

namespace {


std::vector<double> parse_numbers(const std::string& text, const char* option) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LC_CHECK(used == part.size() && !part.empty() && std::isfinite(x), option, ": '", text, "' is not a list of numbers");
    v.push_back(x);
  }
  return v;
}

bool is_image_driver(const std::string& d) { return d == "PNG" || d == "JPEG" || d == "GIF" || d == "BMP"; }

// The acquisition date from well-known metadata items (first 10 characters as YYYY-MM-DD).
std::string metadata_date(GDALDataset* ds) {
  static const char* const keys[] = {"ACQUISITION_DATE", "ACQUISITIONDATE", "DATE_ACQUIRED", "SENSING_TIME",
                                     "DATATAKE_1_DATATAKE_SENSING_START", "PRODUCT_START_TIME", "acquisition_date",
                                     "datetime"};
  for (const char* k : keys) {
    const char* v = ds->GetMetadataItem(k);
    if (!v || std::strlen(v) < 10) continue;
    std::string d(v, 10);
    if (d[4] == ':' || d[4] == '/') d[4] = '-';
    if (d[7] == ':' || d[7] == '/') d[7] = '-';
    int y = 0, m = 0, day = 0;
    if (std::sscanf(d.c_str(), "%4d-%2d-%2d", &y, &m, &day) == 3 && m >= 1 && m <= 12 && day >= 1 && day <= 31)
      return d;
  }
  return "";
}

}  // namespace

void parse_bands_option(const std::string& text, RasterOptions& o) {
  const std::vector<double> v = parse_numbers(text, "--bands");
  LC_CHECK(v.size() == 3, "--bands needs three band numbers R,G,B (1-based), got '", text, "'");
  o.bands.clear();
  for (double b : v) {
    LC_CHECK(b >= 1 && b == std::floor(b) && b < 1e6, "--bands: band numbers start at 1, got '", text, "'");
    o.bands.push_back(int(b));
  }
}

void parse_scale_option(const std::string& text, RasterOptions& o) {
  o.scale.clear();
  o.scale_auto = text == "auto";
  if (o.scale_auto) return;
  const std::vector<double> v = parse_numbers(text, "--scale");
  LC_CHECK(v.size() == 2 || v.size() == 6, "--scale needs LO,HI or LO,HI per band (6 values) or auto, got '", text, "'");
  for (std::size_t i = 0; i < v.size(); i += 2)
    LC_CHECK(v[i + 1] > v[i], "--scale: HI must be above LO, got '", text, "'");
  o.scale = v;
}

struct RasterReader::Impl {
  std::string path;
  GDALDataset* src = nullptr;      // the opened file
  GDALDataset* ds = nullptr;       // what is read: src, or its --gsd warp
  std::array<GDALRasterBand*, 3> bands{};
  std::array<int, 3> band_no{};
  bool palette = false, grey = false;        // one band expanded through its colour table / replicated
  bool png16 = false;                        // UInt16 PNG: v >> 8
  bool byte_direct = false;                  // Byte bands without scale: one interleaved RasterIO
  std::array<double, 6> scale{};             // lo, hi per band
  GDALRasterBand* dataset_mask = nullptr;    // alpha or mask band (0 = nodata)
  std::vector<GDALRasterBand*> band_masks;   // per-band nodata masks (nodata where all are 0)
  std::vector<GDALColorEntry> colours;
  GeoRef geo;
  double native_px_m = 0;

  ~Impl() {
    QuietGdal quiet;  // closing may repeat the file's open-time warnings
    if (ds && ds != src) GDALClose(ds);
    if (src) GDALClose(src);
  }
  void open();
  void choose_bands(const RasterOptions& o);
  void choose_scale(const RasterOptions& o);
  void choose_masks(const RasterOptions& o);
  void read_georef(GDALDataset* d, GeoRef& g) const;
  void warp_to_gsd(double gsd_m);
  void read_block(int x0, int y0, int w, int h, int bw, int bh, std::uint8_t* rgb, std::uint8_t* valid);
};

void RasterReader::Impl::open() {
  check_readable_file(path);  // a FIFO or device never blocks, a folder is no image
  gdal_init();
  QuietGdal quiet;
  src = GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY);
  if (!src) LC_FAIL(path, ": cannot decode: ", QuietGdal::last("not a raster format GDAL reads"));
  ds = src;
  check_image_size(src->GetRasterXSize(), src->GetRasterYSize(), path);
}

void RasterReader::Impl::choose_bands(const RasterOptions& o) {
  const int n = ds->GetRasterCount();
  const std::string drv = src->GetDriver() ? src->GetDriver()->GetDescription() : "";
  LC_CHECK(n >= 1, path, ": the raster has no bands");
  if (!o.bands.empty()) {
    for (std::size_t i = 0; i < 3; ++i) {
      LC_CHECK(o.bands[i] <= n, path, ": --bands ", o.bands[0], ",", o.bands[1], ",", o.bands[2], ": the raster has ", n,
               " band", n == 1 ? "" : "s");
      band_no[i] = o.bands[i];
    }
  } else {
    std::array<int, 3> found{0, 0, 0};
    for (int b = 1; b <= n; ++b) {
      const GDALColorInterp ci = ds->GetRasterBand(b)->GetColorInterpretation();
      if (ci == GCI_RedBand && !found[0]) found[0] = b;
      if (ci == GCI_GreenBand && !found[1]) found[1] = b;
      if (ci == GCI_BlueBand && !found[2]) found[2] = b;
    }
    GDALRasterBand* b1 = ds->GetRasterBand(1);
    const bool one = n == 1 || (n == 2 && ds->GetRasterBand(2)->GetColorInterpretation() == GCI_AlphaBand);
    if (found[0] && found[1] && found[2]) {
      band_no = found;
    } else if (one && b1->GetColorInterpretation() == GCI_PaletteIndex && b1->GetColorTable()) {
      palette = true, band_no = {1, 1, 1};
    } else if (one && is_image_driver(drv)) {
      grey = true, band_no = {1, 1, 1};
    } else {
      LC_CHECK(n >= 3, path, ": the raster has ", n, " band", n == 1 ? "" : "s",
               ": pass --bands R,G,B (1-based band numbers; a band may repeat, e.g. --bands 1,1,1)");
      band_no = {1, 2, 3};
    }
  }
  for (std::size_t i = 0; i < 3; ++i) bands[i] = ds->GetRasterBand(band_no[i]);
  if (palette) {
    const GDALColorTable* ct = bands[0]->GetColorTable();
    for (int i = 0; i < 256; ++i) {
      GDALColorEntry e{0, 0, 0, 255};
      if (i < ct->GetColorEntryCount()) ct->GetColorEntryAsRGB(i, &e);
      colours.push_back(e);
    }
  }
  png16 = drv == "PNG" && bands[0]->GetRasterDataType() == GDT_UInt16;
}

void RasterReader::Impl::choose_scale(const RasterOptions& o) {
  bool all_byte = true;
  for (GDALRasterBand* b : bands) all_byte = all_byte && b->GetRasterDataType() == GDT_Byte;
  if (o.scale.empty() && !o.scale_auto) {
    LC_CHECK(all_byte || png16, path, ": ", GDALGetDataTypeName(bands[0]->GetRasterDataType()),
             " raster: pass --scale LO,HI (raw values mapped to 0..255, e.g. --scale 0,3000 for Sentinel-2 L2A "
             "reflectance) or --scale auto (2nd..98th percentile)");
    byte_direct = all_byte && !palette && !grey;
    return;
  }
  LC_CHECK(!palette, path, ": --scale does not apply to a palette raster");
  for (std::size_t i = 0; i < 3; ++i) {
    if (o.scale_auto) {
      QuietGdal quiet;
      // Neither call stores anything (no .aux.xml appears beside the input).
      double minmax[2] = {0, 0};
      if (bands[i]->ComputeRasterMinMax(TRUE, minmax) != CE_None)
        LC_FAIL(path, ": --scale auto: no statistics for band ", band_no[i], ": ", QuietGdal::last("unknown reason"));
      const double mn = minmax[0], mx = minmax[1];
      constexpr int kBuckets = 1024;
      std::vector<GUIntBig> hist(kBuckets, 0);
      const double lo = mn - 0.5, hi = std::max(mx + 0.5, lo + 1);
      // The base class's histogram: the PAM override would cache it into an .aux.xml beside the input.
      if (bands[i]->GDALRasterBand::GetHistogram(lo, hi, kBuckets, hist.data(), FALSE, TRUE, GDALDummyProgress, nullptr) !=
          CE_None)
        LC_FAIL(path, ": --scale auto: no histogram for band ", band_no[i], ": ", QuietGdal::last("unknown reason"));
      GUIntBig total = 0;
      for (GUIntBig h : hist) total += h;
      LC_CHECK(total > 0, path, ": --scale auto: band ", band_no[i], " has no valid pixels");
      auto percentile = [&](double q) {
        GUIntBig run = 0;
        for (int k = 0; k < kBuckets; ++k) {
          run += hist[std::size_t(k)];
          if (double(run) >= q * double(total)) return lo + (k + 0.5) * (hi - lo) / kBuckets;
        }
        return hi;
      };
      scale[i * 2] = percentile(0.02), scale[i * 2 + 1] = std::max(percentile(0.98), scale[i * 2] + 1e-9);
    } else {
      const std::size_t k = o.scale.size() == 2 ? 0 : i * 2;
      scale[i * 2] = o.scale[k], scale[i * 2 + 1] = o.scale[k + 1];
    }
  }
}

// Masks: a per-dataset mask (alpha, mask band) applies as it is; per-band nodata masks mark a pixel
// nodata only when every chosen band is nodata there (rasterio's dataset mask: one band at its
// nodata value in a valid pixel, e.g. a 0 in a dark red channel, is data).
void RasterReader::Impl::choose_masks(const RasterOptions& o) {
  std::size_t distinct = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (std::find(band_no.begin(), band_no.begin() + std::ptrdiff_t(i), band_no[i]) != band_no.begin() + std::ptrdiff_t(i))
      continue;  // a band chosen twice: its mask once
    ++distinct;
    const int flags = bands[i]->GetMaskFlags();
    if (flags & GMF_PER_DATASET) {
      if (!((flags & GMF_ALPHA) && !o.use_alpha) && !dataset_mask) dataset_mask = bands[i]->GetMaskBand();
    } else if (!(flags & GMF_ALL_VALID)) {
      band_masks.push_back(bands[i]->GetMaskBand());
    }
  }
  // A chosen band without a nodata value of its own is always data: no pixel has all bands nodata.
  if (band_masks.size() < distinct) band_masks.clear();
}

void RasterReader::Impl::read_georef(GDALDataset* d, GeoRef& g) const {
  double gt[6];
  const OGRSpatialReference* srs = d->GetSpatialRef();
  g = GeoRef{};
  g.date = metadata_date(src);
  if (!srs || d->GetGeoTransform(gt) != CE_None) return;
  LC_CHECK(gt[2] == 0 && gt[4] == 0, path, ": rotated or sheared geotransform (", gt[2], ", ", gt[4],
           "): warp it north-up first (gdalwarp)");
  g.georeferenced = true;
  std::copy(gt, gt + 6, g.gt.begin());
  char* wkt = nullptr;
  srs->exportToWkt(&wkt);
  g.wkt = wkt ? wkt : "";
  CPLFree(wkt);
  const char* auth = srs->GetAuthorityName(nullptr);
  const char* code = srs->GetAuthorityCode(nullptr);
  g.crs_name = auth && code ? std::string(auth) + ":" + code : (srs->GetName() ? srs->GetName() : "unnamed CRS");
  // Ground size of the centre pixel along x and y, on the CRS's ellipsoid (PROJ geodesic).
  OGRSpatialReference geog;
  geog.CopyGeogCSFrom(srs);
  geog.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(srs, &geog));
  LC_CHECK(ct != nullptr, path, ": cannot transform the CRS (", g.crs_name, ") to longitude/latitude");
  const double cx = d->GetRasterXSize() / 2.0, cy = d->GetRasterYSize() / 2.0;
  double xs[3] = {gt[0] + cx * gt[1], gt[0] + (cx + 1) * gt[1], gt[0] + cx * gt[1]};
  double ys[3] = {gt[3] + cy * gt[5], gt[3] + cy * gt[5], gt[3] + (cy + 1) * gt[5]};
  LC_CHECK(ct->Transform(3, xs, ys), path, ": cannot transform the scene centre to longitude/latitude");
  geod_geodesic geod;
  geod_init(&geod, geog.GetSemiMajor(), geog.GetInvFlattening() > 0 ? 1.0 / geog.GetInvFlattening() : 0.0);
  geod_inverse(&geod, ys[0], xs[0], ys[1], xs[1], &g.pixel_x_m, nullptr, nullptr);
  geod_inverse(&geod, ys[0], xs[0], ys[2], xs[2], &g.pixel_y_m, nullptr, nullptr);
  if (srs->IsProjected()) {  // a projected CRS's own metres are what users mean by a GSD
    g.pixel_x_m = std::fabs(gt[1]) * srs->GetLinearUnits();
    g.pixel_y_m = std::fabs(gt[5]) * srs->GetLinearUnits();
  }
}

void RasterReader::Impl::warp_to_gsd(double gsd_m) {
  LC_CHECK(geo.georeferenced, path, ": --gsd needs a georeferenced raster (a CRS and a geotransform)");
  const double fx = gsd_m / geo.pixel_x_m, fy = gsd_m / geo.pixel_y_m;
  const std::string rx = std::to_string(std::fabs(geo.gt[1]) * fx), ry = std::to_string(std::fabs(geo.gt[5]) * fy);
  const char* alg = fx >= 1 && fy >= 1 ? "average" : "bilinear";
  std::vector<const char*> args = {"-of", "VRT", "-tr", rx.c_str(), ry.c_str(), "-r", alg, nullptr};
  QuietGdal quiet;
  GDALWarpAppOptions* wo = GDALWarpAppOptionsNew(const_cast<char**>(args.data()), nullptr);
  LC_CHECK(wo != nullptr, path, ": --gsd: ", QuietGdal::last("bad warp options"));
  GDALDatasetH in = GDALDataset::ToHandle(src);
  int err = 0;
  GDALDatasetH out = GDALWarp("", nullptr, 1, &in, wo, &err);
  GDALWarpAppOptionsFree(wo);
  LC_CHECK(out != nullptr && !err, path, ": --gsd: cannot resample: ", QuietGdal::last("unknown reason"));
  ds = GDALDataset::FromHandle(out);
  check_image_size(ds->GetRasterXSize(), ds->GetRasterYSize(), path + " (after --gsd)");
}

// Reads source pixels [x0, x0 + w) x [y0, y0 + h) into a bw x bh buffer (GDAL's average when smaller).
void RasterReader::Impl::read_block(int x0, int y0, int w, int h, int bw, int bh, std::uint8_t* rgb, std::uint8_t* valid) {
  QuietGdal quiet;
  GDALRasterIOExtraArg extra;
  INIT_RASTERIO_EXTRA_ARG(extra);
  if (bw != w || bh != h) extra.eResampleAlg = GRIORA_Average;
  const std::size_t n = std::size_t(bw) * std::size_t(bh);
  auto fail = [&] { LC_FAIL(path, ": cannot decode: ", QuietGdal::last("read failed")); };
  if (byte_direct) {
    if (ds->RasterIO(GF_Read, x0, y0, w, h, rgb, bw, bh, GDT_Byte, 3, band_no.data(), 3, GSpacing(bw) * 3, 1, &extra) !=
        CE_None)
      fail();
  } else {
    std::vector<float> buf(n);
    const int nb = palette || grey ? 1 : 3;
    for (int c = 0; c < nb; ++c) {
      if (bands[std::size_t(c)]->RasterIO(GF_Read, x0, y0, w, h, buf.data(), bw, bh, GDT_Float32, 0, 0, &extra) != CE_None)
        fail();
      for (std::size_t p = 0; p < n; ++p) {
        const float v = buf[p];
        if (palette) {
          const GDALColorEntry& e = colours[std::size_t(std::clamp(int(v), 0, 255))];
          rgb[p * 3] = std::uint8_t(e.c1), rgb[p * 3 + 1] = std::uint8_t(e.c2), rgb[p * 3 + 2] = std::uint8_t(e.c3);
          continue;
        }
        double out = 0;
        if (png16)
          out = double(int(v) >> 8);
        else if (scale[std::size_t(c) * 2 + 1] > scale[std::size_t(c) * 2])
          out = std::nearbyint((v - scale[std::size_t(c) * 2]) / (scale[std::size_t(c) * 2 + 1] - scale[std::size_t(c) * 2]) * 255.0);
        else
          out = v;
        const std::uint8_t u = std::uint8_t(std::clamp(out, 0.0, 255.0));
        if (grey)
          rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = u;
        else
          rgb[p * 3 + std::size_t(c)] = u;
      }
    }
  }
  if (!valid || (!dataset_mask && band_masks.empty())) return;
  std::vector<std::uint8_t> m(n);
  if (dataset_mask) {  // its value (an alpha mask keeps the alpha; 0 = nodata)
    if (dataset_mask->RasterIO(GF_Read, x0, y0, w, h, valid, bw, bh, GDT_Byte, 0, 0, &extra) != CE_None) fail();
  } else {
    std::fill(valid, valid + n, std::uint8_t(255));
  }
  if (band_masks.empty()) return;
  std::vector<std::uint8_t> any(n, 0);
  for (GDALRasterBand* mb : band_masks) {
    if (mb->RasterIO(GF_Read, x0, y0, w, h, m.data(), bw, bh, GDT_Byte, 0, 0, &extra) != CE_None) fail();
    for (std::size_t p = 0; p < n; ++p) any[p] = std::max(any[p], m[p]);
  }
  for (std::size_t p = 0; p < n; ++p) valid[p] = std::min(valid[p], any[p]);
}

RasterReader::RasterReader(const std::string& path, const RasterOptions& opt) : p_(std::make_unique<Impl>()) {
  QuietGdal quiet;  // GDAL's warnings (e.g. on reading a TIFF directory) would add lines of their own
  p_->path = path;
  p_->open();
  p_->read_georef(p_->src, p_->geo);
  p_->native_px_m = p_->geo.georeferenced ? std::sqrt(p_->geo.pixel_x_m * p_->geo.pixel_y_m) : 0;
  if (opt.gsd_m > 0) {
    p_->warp_to_gsd(opt.gsd_m);
    p_->read_georef(p_->ds, p_->geo);
  }
  p_->choose_bands(opt);
  p_->choose_scale(opt);
  p_->choose_masks(opt);
}

RasterReader::~RasterReader() = default;
std::int64_t RasterReader::width() const { return p_->ds->GetRasterXSize(); }
std::int64_t RasterReader::height() const { return p_->ds->GetRasterYSize(); }
bool RasterReader::has_mask() const { return p_->dataset_mask || !p_->band_masks.empty(); }
const GeoRef& RasterReader::geo() const { return p_->geo; }
const std::string& RasterReader::path() const { return p_->path; }
double RasterReader::native_pixel_m() const { return p_->native_px_m; }

std::string RasterReader::describe() const {
  std::ostringstream s;
  s << "bands " << p_->band_no[0] << "," << p_->band_no[1] << "," << p_->band_no[2] << " ("
    << GDALGetDataTypeName(p_->bands[0]->GetRasterDataType());
  if (p_->palette) s << ", palette";
  if (p_->grey) s << ", grey";
  if (!p_->byte_direct && !p_->palette && !p_->grey && !p_->png16)
    s << ", scale " << p_->scale[0] << ".." << p_->scale[1] << " / " << p_->scale[2] << ".." << p_->scale[3] << " / "
      << p_->scale[4] << ".." << p_->scale[5];
  s << ")";
  return s.str();
}

void RasterReader::read(const PixelRect& r, std::uint8_t* rgb, std::uint8_t* valid) {
  LC_CHECK(r.x0 >= 0 && r.y0 >= 0 && r.x1 <= width() && r.y1 <= height() && r.x1 > r.x0 && r.y1 > r.y0, p_->path,
           ": read outside the raster");
  const int w = int(r.x1 - r.x0), h = int(r.y1 - r.y0);
  p_->read_block(int(r.x0), int(r.y0), w, h, w, h, rgb, valid);
}

RgbImage RasterReader::read_reduced(int out_w, int out_h, std::vector<std::uint8_t>* valid) {
  RgbImage img;
  img.width = out_w, img.height = out_h;
  img.rgb.resize(std::size_t(out_w) * std::size_t(out_h) * 3);
  if (valid) valid->clear();
  if (valid && has_mask()) valid->resize(std::size_t(out_w) * std::size_t(out_h));
  p_->read_block(0, 0, int(width()), int(height()), out_w, out_h, img.rgb.data(),
                 valid && has_mask() ? valid->data() : nullptr);
  return img;
}

RasterImage read_raster_image(const std::string& path, const RasterOptions& opt) {
  RasterReader rr(path, opt);
  RasterImage out;
  try {
    out.image = rr.read_reduced(int(rr.width()), int(rr.height()), &out.valid);
  } catch (const std::bad_alloc&) {
    LC_FAIL(path, ": cannot decode: out of memory (the ", rr.width(), "x", rr.height(), " image needs at least ",
            rr.width() * rr.height() * 4, " bytes)");
  }
  return out;
}

}  // namespace lc

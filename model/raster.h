// Rasters in through GDAL: any GDAL-readable raster (GeoTIFF / COG in any compression, JPEG 2000
// where the driver exists, PNG, JPEG, ...) read as 8-bit RGB by rectangles (model/image_source.h),
// with band choice, scaling to 0..255, the raster's nodata (value, mask band, alpha), its
// georeferencing and acquisition date, and optional resampling to a ground sampling distance.
//
// Bands (RasterOptions::bands, 1-based): default the bands whose colour interpretation is red,
// green, blue; else 1, 2, 3. A one-band raster (plus alpha) is expanded through its colour table
// (palette PNG/GIF) or, for the image formats stb_image read before (PNG, JPEG, GIF, BMP), grey is
// replicated into R, G and B; any other raster with fewer than 3 bands needs --bands.
// Scaling: v -> round((v - lo) / (hi - lo) * 255) clipped to 0..255, one LO,HI pair for all bands or
// one per band; `scale_auto` takes the 2nd and 98th percentiles of each band's histogram (GDAL's,
// from overviews when present). Byte bands are taken as they are without a scale; UInt16 PNG is
// reduced to 8 bits (v >> 8) as stb_image did; any other non-Byte raster without a scale is an error
// that says what to pass.
// Nodata (GDAL's masks): a pixel is nodata when the raster's per-dataset mask (alpha == 0, or a
// mask band) is 0, or when every chosen band is at its nodata value (rasterio's dataset mask: one
// band at 0 in a dark pixel is still data). `use_alpha` = false ignores alpha masks.
// GSD: with `gsd_m` > 0 the raster is resampled with the GDAL warper (average when shrinking,
// bilinear when enlarging) so that a pixel covers gsd_m metres (the CRS's metres when projected;
// for a geographic CRS the degrees matching gsd_m on the ellipsoid at the scene centre).
// Errors (lc::Error, one line, naming the file): "<path>: cannot read: <reason>" (missing,
// unreadable), "<path>: cannot decode: <GDAL's reason>" (not a raster GDAL reads, corrupt,
// truncated), rotated or sheared geotransforms, bad band numbers, missing scale.
// Depends on: GDAL (gdal_priv.h, gdal_utils.h, ogr_spatialref.h, only in raster.cpp), PROJ's
// geodesic.h, model/image_source.h, model/inference.h (size limits).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/image_source.h"

namespace lc {

struct RasterOptions {
  std::vector<int> bands;      // empty or 3 band numbers (1-based)
  std::vector<double> scale;   // empty, LO,HI, or LO,HI per band (6 values)
  bool scale_auto = false;     // 2nd..98th percentile per band
  bool use_alpha = true;       // alpha == 0 marks nodata
  double gsd_m = 0;            // > 0: resample to this ground sampling distance in metres
};

// Parses "--bands 4,3,2" / "--scale 0,3000" / "--scale auto" into options (usage errors throw).
void parse_bands_option(const std::string& text, RasterOptions& o);
void parse_scale_option(const std::string& text, RasterOptions& o);

// Georeferencing of a raster (after any --gsd resampling).
struct GeoRef {
  bool georeferenced = false;   // has a CRS and a (north-up) geotransform
  std::string wkt;              // the CRS as WKT
  std::string crs_name;         // "EPSG:32618" when the CRS has an EPSG code, else its name
  std::array<double, 6> gt{0, 1, 0, 0, 0, 1};  // GDAL geotransform (gt[2] == gt[4] == 0)
  // Pixel size in metres: a projected CRS's own units (x linear unit), a geographic CRS's pixel
  // measured on the ellipsoid at the scene centre.
  double pixel_x_m = 0, pixel_y_m = 0;
  std::string date;             // acquisition date YYYY-MM-DD from the metadata, "" if none
};

class RasterReader final : public ImageSource {
 public:
  RasterReader(const std::string& path, const RasterOptions& opt);
  ~RasterReader() override;
  RasterReader(const RasterReader&) = delete;
  RasterReader& operator=(const RasterReader&) = delete;

  std::int64_t width() const override;
  std::int64_t height() const override;
  bool has_mask() const override;
  void read(const PixelRect& r, std::uint8_t* rgb, std::uint8_t* valid) override;
  // The whole raster (or a `out_w` x `out_h` reduction of it, GDAL's average) as an image; alpha
  // holds the nodata mask (0 = nodata) when has_mask().
  RgbImage read_reduced(int out_w, int out_h, std::vector<std::uint8_t>* valid);

  const GeoRef& geo() const;
  const std::string& path() const;
  // What the reader chose, for messages: "bands 3,2,1 (Byte)".
  std::string describe() const;
  // Ground pixel size before --gsd resampling (0 when not georeferenced), metres.
  double native_pixel_m() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
};

// Reads a whole raster into an InputImage-like pair (classify, pixel mode, tests).
struct RasterImage {
  RgbImage image;
  std::vector<std::uint8_t> valid;  // empty, or width * height bytes (0 = nodata)
};
RasterImage read_raster_image(const std::string& path, const RasterOptions& opt);

// Registers GDAL's drivers once (thread-safe); every GDAL user in the project calls it.
void gdal_init();

}  // namespace lc

// Georeferenced segmentation outputs (`landcover segment` on a raster with a CRS): the class map as
// a Cloud-Optimized GeoTIFF, the probabilities as a GeoTIFF, class areas on the ellipsoid, and
// per-zone tables (a lon/lat grid or polygons from any OGR vector file).
//
// Map grid: map cell (i, j) stands for the S x S block of input pixels starting at (i*S, j*S)
// (clipped to the image in the last row and column); its window is centred on that block (for odd
// S half a pixel up-left of the block centre). The map's geotransform is the input's with the
// pixel size times S and the same origin, so each map cell covers its block; cells of the last
// row/column reach past the image edge when S does not divide the size.
// Areas: each cell's block (clipped) as a polygon of its 4 corners, transformed to longitude/
// latitude on the CRS's own ellipsoid (OGR/PROJ) and measured with PROJ's geodesic polygon area.
// Zones: a cell belongs to a zone when the centre of its map-grid cell lies inside the zone
// (GDAL's rasterisation rule; grid zones: the cell centre's lon/lat falls in the grid cell).
// Depends on: GDAL/OGR (only in geo.cpp), PROJ geodesic.h, model/raster.h (GeoRef),
// model/segmenter.h (SegmentResult), model/output_set.h (every file is staged into the caller's OutputSet: GDAL writes into /vsimem,
// the bytes are staged, and the set is committed with the input's other outputs; a GeoTIFF's
// .aux.xml sidecar is <path>.aux.xml of the same set).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/raster.h"
#include "model/output_set.h"
#include "model/segmenter.h"

namespace lc {

// The map's geotransform (see above).
std::array<double, 6> map_geotransform(const GeoRef& g, int stride);

// The class map as a COG: Byte, colour table = palette, category names = class names, nodata 255
// (nodata cells and out-of-range classes), deflate, internal overviews (mode). Staged into `out`.
void write_classes_cog(const std::string& path, const SegmentResult& r, const std::vector<std::string>& names,
                       const GeoRef& g, OutputSet& out);

// Per-class probabilities written by tiles into an in-memory raster, then as a COG (one band per
// class, band description = class name; Byte 0..255 = round(p * 255), or Float32). Staged into `out`.
class ProbsRaster {
 public:
  ProbsRaster(std::int64_t map_h, std::int64_t map_w, const std::vector<std::string>& names, bool float32);
  ~ProbsRaster();
  ProbsRaster(const ProbsRaster&) = delete;
  ProbsRaster& operator=(const ProbsRaster&) = delete;
  void add(std::int64_t first_cell, std::int64_t cells, const float* probs);  // [cells][classes]
  void write(const std::string& path, const GeoRef& g, int stride, OutputSet& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
};

// Zones: "grid:DEG" or an OGR vector file of polygons.
struct ZoneSpec {
  std::string spec;      // "" = none
  std::string id_field;  // --zone-id: the attribute naming each polygon (default: the feature id)
};

struct ZoneStats {
  std::string id;
  std::string wkt;                 // polygon in EPSG:4326, x = longitude, y = latitude
  double valid_km2 = 0, nodata_km2 = 0;
  std::vector<double> class_km2;   // [classes]
  std::int64_t cells = 0;          // map cells inside
};

struct AreaResult {
  std::vector<double> class_km2;   // [classes] valid cells' area per class
  double nodata_km2 = 0;           // nodata and out-of-range cells
  std::vector<ZoneStats> zones;    // zones with at least one cell, in file order / grid north-west first
};

// Areas of the scene (and of the zones): `image_h` x `image_w` input pixels, the map of `r`.
// Throws lc::Error naming the zones source for unreadable files, files without polygons, unknown
// CRSs, bad grid specs, a missing --zone-id field, or zones that do not overlap the scene.
AreaResult compute_areas(const SegmentResult& r, int classes, const GeoRef& g, std::int64_t image_h,
                         std::int64_t image_w, const ZoneSpec& zones);

// The zone table (the contract `landcover correlate` reads): RFC 4180 CSV with header
// zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:<class>...,pct:<class>...
std::string zones_csv(const AreaResult& a, const std::vector<std::string>& names, const std::string& date);
// The same attributes with the geometry (EPSG:4326) as a GeoPackage, layer "zones". Staged into `out`.
void write_zones_gpkg(const std::string& path, const AreaResult& a, const std::vector<std::string>& names,
                      const std::string& date, OutputSet& out);

// Checks "YYYY-MM-DD" (usage error otherwise).
void check_date(const std::string& date);

}  // namespace lc

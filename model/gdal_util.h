// Small GDAL helpers shared by model/raster.cpp, model/geo.cpp and model/geo_zones.cpp (GDAL
// headers stay out of the public model headers).
// Depends on: GDAL's cpl_error.h.
#pragma once

#include <cpl_error.h>

#include <string>

namespace lc {

// While alive, GDAL's messages are kept (CPLGetLastErrorMsg) instead of printed: the project
// reports one line of its own.
struct QuietGdal {
  QuietGdal() {
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
  }
  ~QuietGdal() { CPLPopErrorHandler(); }
  QuietGdal(const QuietGdal&) = delete;
  QuietGdal& operator=(const QuietGdal&) = delete;
  // GDAL's last message, or `fallback` when there is none.
  static std::string last(const char* fallback) {
    const char* m = CPLGetLastErrorMsg();
    return m && *m ? std::string(m) : std::string(fallback);
  }
};

}  // namespace lc

// Join of XCO2 soundings with zones (`landcover correlate`, see docs/CO2.md):
// a sounding belongs to a zone when the zone's polygon contains its location (boundary included)
// and its time lies within +-days of the zone's date (taken at 12:00 UTC). Per zone: mean, median,
// standard deviation and count of XCO2, the mean uncertainty when the input gives one, and the
// anomaly: the zone's mean minus the background, the median of
//   ring:D    soundings in the zone's bounding box widened by D degrees, outside the zone itself,
//   region    every sounding of the input,
//   none      nothing (the anomaly is the zone's mean XCO2 itself),
// in the same time window.
// Depends on: model/correlate/zones.h, model/correlate/xco2.h, GSL.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/correlate/xco2.h"
#include "model/correlate/zones.h"

namespace lc::co2 {

struct Background {
  enum Kind { kRing, kRegion, kNone } kind = kRing;
  double ring_deg = 2.0;
  std::string text() const;  // "ring:2deg", "region", "none"
};
// Parses "ring:<D>deg" (or "ring:<D>"), "region", "none"; throws lc::Error otherwise.
Background parse_background(const std::string& s);

struct JoinOptions {
  double days = 45;
  Background background;
  int min_soundings = 3;  // zones (and backgrounds) with fewer soundings are left out
};

struct ZoneStats {
  int n = 0;
  double mean, median, sd, uncertainty;  // ppm; NaN when undefined (sd with n < 2, no uncertainty)
  int n_background = 0;
  double background, anomaly;  // ppm; NaN when not computed
  std::string status;          // "used" or why the zone is left out of the statistics
  bool used() const { return status == "used"; }
};

struct JoinResult {
  std::vector<ZoneStats> zones;  // parallel to ZoneSet::zones
  int used = 0, no_valid_area = 0, no_soundings = 0, few_soundings = 0, thin_background = 0;
};

// Throws lc::Error when no sounding falls in any zone, saying whether space or time did not overlap
// (`xco2_names` names the inputs in that message).
JoinResult join_zones(const ZoneSet& zones, std::vector<Sounding> soundings, const JoinOptions& opt,
                      const std::string& xco2_names);

}  // namespace lc::co2

// `landcover correlate`: land-cover fractions per zone (zones.h) joined with OCO-2/OCO-3 XCO2
// (xco2.h) by place and time (join.h), and each class's relation to the XCO2 anomaly (stats.h).
// Writes under out_dir, only after every step succeeded (each file renamed into place from a
// temporary name; on any error no output is created or replaced):
//   joined.csv    one row per zone and date: fractions and areas, XCO2 statistics, background, anomaly, status
//   summary.csv   one row per class (simple regression) and per term of the multiple regression
//   summary.json  the same with the units, the inputs, the options and the conclusion in words
//   scatter.png   one panel per class: cover against anomaly, fitted line, 95% confidence band
// The method and its limits: docs/CO2.md.
// Depends on: model/correlate/{zones,xco2,join,stats}.h, model/checkpoint.h (atomic files),
// PLplot, nlohmann_json.
#pragma once

#include <string>
#include <vector>

#include "model/correlate/join.h"
#include "model/correlate/stats.h"
#include "model/correlate/xco2.h"
#include "model/correlate/zones.h"

namespace lc::co2 {

struct CorrelateOptions {
  std::vector<std::string> zones, xco2;
  std::vector<std::string> zone_dates;  // one per zones file replacing its dates; empty: the files' own
  std::string out_dir = ".";
  Xco2ReadOptions read;
  JoinOptions join;
  std::string reference;  // class left out of the multiple regression; "" = the largest mean cover
};

struct Analysis {
  ZoneSet zones;
  std::vector<Xco2Source> sources;
  std::size_t soundings = 0;
  double window_days = 0;  // the join's +-days
  JoinResult joined;
  std::vector<SimpleFit> per_class;  // parallel to zones.classes
  std::string reference;
  MultipleFit multiple;
  std::string conclusion;
};

// Reads, joins and fits (no output written); throws lc::Error naming the offending file.
Analysis analyse(const CorrelateOptions& opt);

// The output files' contents.
std::string joined_csv(const Analysis& a);
std::string summary_csv(const Analysis& a);
std::string summary_json(const Analysis& a, const CorrelateOptions& opt);
// Draws scatter.png into `path` with PLplot's pngcairo driver.
void draw_scatter(const Analysis& a, const std::string& path);

// analyse + the four outputs, all or none; returns a short text report for the terminal.
std::string run_correlate(const CorrelateOptions& opt);

}  // namespace lc::co2

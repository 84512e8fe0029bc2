// `landcover correlate --zones Z_zones.csv... --xco2 FILES... --out-dir DIR`: joins land-cover
// fractions per zone (`landcover segment --zones`) with OCO-2/OCO-3 XCO2 by place and time and
// estimates each class's relation to the XCO2 anomaly. Writes joined.csv, summary.csv,
// summary.json and scatter.png under --out-dir, all or none (model/correlate/correlate.h);
// the method and its limits are in docs/CO2.md.
// Depends on: model/correlate/correlate.h, tools/command.h.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "model/correlate/correlate.h"
#include "tools/command.h"

namespace {

struct Options {
  lc::co2::CorrelateOptions run;
  std::string columns, background = "ring:2deg";
};

void setup(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("correlate", "Relate land-cover fractions per zone to OCO-2 XCO2 (anomaly regression)");
  cmd->add_option("--zones", opt->run.zones, "Zone tables from `segment --zones` (<stem>_zones.csv)")->required();
  cmd->add_option("--zone-dates", opt->run.zone_dates,
                  "One YYYY-MM-DD per --zones file replacing its zones' dates (e.g. annual composites)")
      ->delimiter(',');
  cmd->add_option("--xco2", opt->run.xco2,
                  "XCO2 files: CSV/TSV tables (e.g. OCO-2 L3 exports), OCO-2/OCO-3 Lite netCDF, gridded netCDF")
      ->required();
  cmd->add_option("--out-dir", opt->run.out_dir, "Output directory")->capture_default_str();
  cmd->add_option("--xco2-columns", opt->columns,
                  "Table columns lon,lat,time,xco2[,uncertainty] (default: found by name); for netCDF the 4th names the xco2 variable");
  cmd->add_option("--days", opt->run.join.days, "Half-width of the time window around each zone's date, days")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3660.0));
  cmd->add_option("--background", opt->background, "Background removed from XCO2: ring:<D>deg, region or none")
      ->capture_default_str();
  cmd->add_option("--min-soundings", opt->run.join.min_soundings, "Zones with fewer XCO2 values are left out")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("--all-quality", opt->run.read.all_quality, "Lite files: keep every xco2_quality_flag, not only 0");
  cmd->add_option("--reference", opt->run.reference,
                  "Class left out of the multiple regression (default: the largest mean cover)");
  cmd->callback([opt] {
    if (!opt->columns.empty()) opt->run.read.columns = lc::co2::parse_column_list(opt->columns);
    opt->run.join.background = lc::co2::parse_background(opt->background);
    std::fputs(lc::co2::run_correlate(opt->run).c_str(), stdout);
  });
}

}  // namespace

LC_REGISTER_COMMAND(correlate, setup);

// Output files of `landcover correlate`: joined.csv, summary.csv, summary.json, scatter.png.
// Depends on: model/correlate/correlate.h, model/correlate/text.h, nlohmann_json, PLplot.
#include <plplot.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "kernels/common/check.h"
#include "model/correlate/correlate.h"
#include "model/correlate/text.h"

namespace lc::co2 {

namespace {

std::string row(const std::vector<std::string>& fields) {
  std::string s;
  for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + csv_field(fields[i]);
  return s + "\n";
}

nlohmann::ordered_json number(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); }

}  // namespace

std::string joined_csv(const Analysis& a) {
  std::vector<std::string> h = {"zone_id", "date", "zones_file", "centre_lon", "centre_lat", "window_start",
                                "window_end", "valid_km2", "nodata_km2"};
  for (const auto& c : a.zones.classes) h.push_back("km2:" + c);
  for (const auto& c : a.zones.classes) h.push_back("pct:" + c);
  for (const char* s : {"n_soundings", "xco2_mean_ppm", "xco2_median_ppm", "xco2_sd_ppm", "xco2_uncertainty_ppm",
                        "n_background", "background_ppm", "anomaly_ppm", "status"})
    h.push_back(s);
  std::string out = row(h);
  for (std::size_t z = 0; z < a.zones.zones.size(); ++z) {
    const Zone& zone = a.zones.zones[z];
    const ZoneStats& s = a.joined.zones[z];
    std::vector<std::string> f = {zone.id, zone.date, zone.source, fmt(zone.centre_lon), fmt(zone.centre_lat),
                                  format_datetime(zone.time - a.window_days * 86400.0),
                                  format_datetime(zone.time + a.window_days * 86400.0), fmt(zone.valid_km2),
                                  fmt(zone.nodata_km2)};
    for (double v : zone.km2) f.push_back(fmt(v));
    for (double v : zone.pct) f.push_back(fmt(v));
    for (const std::string& v : {std::to_string(s.n), fmt(s.mean), fmt(s.median), fmt(s.sd), fmt(s.uncertainty),
                                 std::to_string(s.n_background), fmt(s.background), fmt(s.anomaly), s.status})
      f.push_back(v);
    out += row(f);
  }
  return out;
}

std::string summary_csv(const Analysis& a) {
  std::string out = row({"model", "term", "n", "slope_ppm_per_100pct", "slope_se", "slope_ci95_low", "slope_ci95_high",
                         "intercept_ppm", "intercept_ci95_low", "intercept_ci95_high", "pearson_r", "spearman_rho",
                         "p_value", "vif", "verdict"});
  for (std::size_t c = 0; c < a.per_class.size(); ++c) {
    const SimpleFit& f = a.per_class[c];
    out += row({"simple", a.zones.classes[c], std::to_string(f.n), fmt(f.slope), fmt(f.slope_se), fmt(f.slope_lo),
                fmt(f.slope_hi), fmt(f.intercept), fmt(f.intercept_lo), fmt(f.intercept_hi), fmt(f.pearson_r),
                fmt(f.spearman_rho), fmt(f.p_value), "", f.verdict});
  }
  const MultipleFit& m = a.multiple;
  for (const Term& t : m.terms) {
    const bool icpt = t.name == "(intercept)";
    out += row({"multiple", t.name, std::to_string(m.n), icpt ? "" : fmt(t.coef), icpt ? "" : fmt(t.se),
                icpt ? "" : fmt(t.lo), icpt ? "" : fmt(t.hi), icpt ? fmt(t.coef) : "", icpt ? fmt(t.lo) : "",
                icpt ? fmt(t.hi) : "", "", "", fmt(t.p_value), fmt(t.vif),
                icpt ? "reference class " + a.reference + "; " + m.verdict : verdict_for(m.n, t.lo, t.hi, t.p_value)});
  }
  if (!m.fitted) out += row({"multiple", "", std::to_string(m.n), "", "", "", "", "", "", "", "", "", "", "", m.verdict});
  return out;
}

std::string summary_json(const Analysis& a, const CorrelateOptions& opt) {
  using J = nlohmann::ordered_json;
  J j;
  j["command"] = "landcover correlate";
  j["conclusion"] = a.conclusion;
  j["units"] = {{"xco2", "ppm (converted from mol/mol where the input was in mol/mol)"},
                {"anomaly", opt.join.background.kind == Background::kNone ? "ppm (XCO2 itself: --background none)"
                                                                          : "ppm (zone mean XCO2 minus the background median)"},
                {"fraction", "share of the zone's valid (non-nodata) area, 0..1"},
                {"slope", "ppm per 100% cover (the change in anomaly from 0% to 100% of the class)"},
                {"intervals", "95% (Student t)"}};
  J files = J::array();
  for (const Xco2Source& s : a.sources)
    files.push_back({{"path", s.path}, {"format", s.format}, {"units_in_file", s.units}, {"rows", s.rows},
                     {"kept", s.kept}, {"dropped_quality_flag", s.dropped_quality}, {"dropped_missing", s.dropped_missing}});
  j["options"] = {{"zones", opt.zones}, {"zone_dates", opt.zone_dates}, {"xco2", opt.xco2}, {"days", opt.join.days},
                  {"background", opt.join.background.text()}, {"min_soundings", opt.join.min_soundings},
                  {"all_quality", opt.read.all_quality}, {"xco2_columns", opt.read.columns}, {"reference", a.reference}};
  j["inputs"] = {{"xco2_files", files}, {"xco2_values", a.soundings}};
  j["zones"] = {{"total", a.zones.zones.size()}, {"used", a.joined.used}, {"without_valid_area", a.joined.no_valid_area},
                {"without_soundings", a.joined.no_soundings},
                {"too_few_soundings", a.joined.few_soundings}, {"too_few_background_soundings", a.joined.thin_background}};
  J per = J::array();
  for (std::size_t c = 0; c < a.per_class.size(); ++c) {
    const SimpleFit& f = a.per_class[c];
    per.push_back({{"class", a.zones.classes[c]}, {"n", f.n}, {"slope_ppm_per_100pct", number(f.slope)},
                   {"slope_se", number(f.slope_se)}, {"slope_ci95", {number(f.slope_lo), number(f.slope_hi)}},
                   {"intercept_ppm", number(f.intercept)}, {"intercept_ci95", {number(f.intercept_lo), number(f.intercept_hi)}},
                   {"pearson_r", number(f.pearson_r)}, {"spearman_rho", number(f.spearman_rho)},
                   {"p_value", number(f.p_value)}, {"verdict", f.verdict}});
  }
  j["per_class"] = per;
  const MultipleFit& m = a.multiple;
  J terms = J::array();
  for (const Term& t : m.terms)
    terms.push_back({{"term", t.name}, {"coefficient", number(t.coef)}, {"se", number(t.se)},
                     {"ci95", {number(t.lo), number(t.hi)}}, {"p_value", number(t.p_value)}, {"vif", number(t.vif)}});
  j["multiple"] = {{"reference_class", a.reference}, {"n", m.n}, {"parameters", m.parameters}, {"fitted", m.fitted},
                   {"terms", terms}, {"dropped_constant_classes", m.dropped}, {"r2", number(m.r2)},
                   {"adjusted_r2", number(m.adj_r2)}, {"f_test_p_value", number(m.f_p_value)},
                   {"reciprocal_condition_number", number(m.rcond)}, {"max_vif", number(m.max_vif)},
                   {"collinearity", m.collinearity}, {"verdict", m.verdict}};
  return j.dump(2) + "\n";
}

namespace {

// PLplot reads '#' as an escape: doubled so class names print as written.
std::string pl_text(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '#' ? std::string("##") : std::string(1, c);
  return o;
}

int pl_exit_handler(const char* msg) {
  std::fprintf(stderr, "landcover: error: scatter.png: PLplot failed: %s\n", msg ? msg : "");
  return 1;  // PLplot exits the process with this status
}

void draw_panel(const Analysis& a, std::size_t c, double y0, double y1) {
  std::vector<PLFLT> x, y;
  for (std::size_t z = 0; z < a.zones.zones.size(); ++z)
    if (a.joined.zones[z].used()) x.push_back(a.zones.zones[z].pct[c]), y.push_back(a.joined.zones[z].anomaly);
  const SimpleFit& f = a.per_class[c];
  pladv(0);
  plvsta();
  plwind(0, 100, y0, y1);
  if (f.fitted) {
    const double lo = *std::min_element(x.begin(), x.end()) / 100.0, hi = *std::max_element(x.begin(), x.end()) / 100.0;
    std::vector<PLFLT> px, py;
    const int steps = 50;
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i <= steps; ++i) {
        const double xf = pass == 0 ? lo + (hi - lo) * i / steps : hi - (hi - lo) * i / steps;
        const double se = std::sqrt(std::max(0.0, f.cov00 + 2 * xf * f.cov01 + xf * xf * f.cov11));
        px.push_back(xf * 100), py.push_back(f.intercept + f.slope * xf + (pass == 0 ? -1 : 1) * f.t95 * se);
      }
    plcol0(3);
    plfill(static_cast<PLINT>(px.size()), px.data(), py.data());
    PLFLT lx[2] = {lo * 100, hi * 100}, ly[2] = {f.intercept + f.slope * lo, f.intercept + f.slope * hi};
    plcol0(4);
    plwidth(2);
    plline(2, lx, ly);
    plwidth(1);
  }
  plcol0(2);
  if (!x.empty()) plpoin(static_cast<PLINT>(x.size()), x.data(), y.data(), 17);
  plcol0(1);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  char title[256];
  if (f.fitted) std::snprintf(title, sizeof title, "slope %+.2f [%+.2f, %+.2f] ppm, n=%d", f.slope, f.slope_lo, f.slope_hi, f.n);
  else std::snprintf(title, sizeof title, "no fit (n=%d)", f.n);
  pllab("cover (% of valid area)", "XCO2 anomaly (ppm)", "");
  plmtex("t", 2.4, 0.5, 0.5, pl_text(a.zones.classes[c]).c_str());
  plmtex("t", 0.8, 0.5, 0.5, title);
}

}  // namespace

void draw_scatter(const Analysis& a, const std::string& path) {
  const int k = static_cast<int>(a.zones.classes.size());
  const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(k)))), rows = (k + cols - 1) / cols;
  double y0 = 1e300, y1 = -1e300;
  for (const ZoneStats& s : a.joined.zones)
    if (s.used()) y0 = std::min(y0, s.anomaly), y1 = std::max(y1, s.anomaly);
  if (!(y1 >= y0)) y0 = -1, y1 = 1;
  const double pad = std::max(0.5, 0.15 * (y1 - y0));
  y0 -= pad, y1 += pad;
  plsexit(pl_exit_handler);
  plsdev("pngcairo");
  plsfnam(path.c_str());
  const std::string geometry = std::to_string(cols * 420) + "x" + std::to_string(rows * 360);
  plsetopt("geometry", geometry.c_str());
  plscolbg(255, 255, 255);
  plscol0a(1, 0, 0, 0, 1.0);           // axes and text
  plscol0a(2, 31, 119, 180, 0.8);      // zones
  plscol0a(3, 214, 39, 40, 0.2);       // confidence band
  plscol0a(4, 214, 39, 40, 1.0);       // fitted line
  plssub(cols, rows);
  plinit();
  plschr(0, 0.8);
  for (int c = 0; c < k; ++c) draw_panel(a, static_cast<std::size_t>(c), y0, y1);
  plend();
}

}  // namespace lc::co2

// `landcover correlate`: join and background by hand-checked numbers, regressions with planted
// relations (seeded noise), the Lite netCDF / CSV equivalence of the whole pipeline, the outputs,
// and every bad input through the command line (one line naming the file, exit 1, nothing written).
// Depends on: model/correlate/correlate.h, tests/correlate/fixtures.h, tests/support/files.h,
// the landcover executable.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "kernels/common/check.h"
#include "model/correlate/correlate.h"
#include "model/correlate/text.h"
#include "tests/correlate/fixtures.h"
#include "tests/support/files.h"

namespace lc::co2 {
namespace {

const std::vector<std::string> kClasses = {"forest", "pasture"};
const double kT0 = 1437393600.0;  // 2015-07-20T12:00:00Z

TEST(CpuCorrelateJoin, WindowsContainmentAndBackgrounds) {
  lc::test::TempDir dir("co2join");
  test::write_zones(dir.file("z_zones.csv"), kClasses, {{"a", "2015-07-20", -60, -10, 1, {50, 50}}});
  const ZoneSet zones = read_zone_files({dir.file("z_zones.csv")});
  const double day = 86400;
  std::vector<Sounding> s = {
      {-59.5, -9.5, kT0, 401, 1},              // inside
      {-59.2, -9.8, kT0 + 30 * day, 403, 3},   // inside
      {-59.9, -9.1, kT0 - 45 * day, 405, 5},   // inside, on the window's edge
      {-59.5, -9.5, kT0 + 46 * day, 500, 0},   // inside, too late
      {-58.5, -9.5, kT0, 396, 0},              // ring (0.5 deg east)
      {-61.5, -9.5, kT0, 398, 0},              // ring (1.5 deg west)
      {-64.0, -9.5, kT0, 390, 0},              // outside a 2 deg ring, inside the region
  };
  JoinOptions opt;
  opt.background = parse_background("ring:2deg");
  auto r = join_zones(zones, s, opt, "x.csv");
  ASSERT_EQ(r.zones.size(), 1u);
  const ZoneStats& z = r.zones[0];
  EXPECT_EQ(z.n, 3);
  EXPECT_DOUBLE_EQ(z.mean, 403.0);
  EXPECT_DOUBLE_EQ(z.median, 403.0);
  EXPECT_DOUBLE_EQ(z.sd, 2.0);
  EXPECT_DOUBLE_EQ(z.uncertainty, 3.0);
  EXPECT_EQ(z.n_background, 2);
  EXPECT_DOUBLE_EQ(z.background, 397.0);
  EXPECT_DOUBLE_EQ(z.anomaly, 6.0);
  EXPECT_FALSE(z.used());  // 2 background soundings < --min-soundings 3
  opt.min_soundings = 2;
  EXPECT_TRUE(join_zones(zones, s, opt, "x.csv").zones[0].used());
  // region: the median of all 6 soundings in the window (390 396 398 401 403 405) = 399.5.
  opt.background = parse_background("region");
  EXPECT_DOUBLE_EQ(join_zones(zones, s, opt, "x.csv").zones[0].anomaly, 3.5);
  opt.background = parse_background("none");
  EXPECT_DOUBLE_EQ(join_zones(zones, s, opt, "x.csv").zones[0].anomaly, 403.0);
  ZoneSet empty = zones;  // a zone entirely nodata is left out whatever its soundings
  empty.zones[0].valid_km2 = 0;
  const JoinResult e = join_zones(empty, s, opt, "x.csv");
  EXPECT_FALSE(e.zones[0].used());
  EXPECT_EQ(e.no_valid_area, 1);
  opt.days = 10;  // only the first sounding remains
  EXPECT_EQ(join_zones(zones, s, opt, "x.csv").zones[0].n, 1);
  EXPECT_EQ(parse_background("ring:0.5deg").ring_deg, 0.5);
  EXPECT_EQ(parse_background("ring:3").ring_deg, 3.0);
  EXPECT_THROW(parse_background("ring:-1deg"), lc::Error);
  EXPECT_THROW(parse_background("annulus"), lc::Error);
}

TEST(CpuCorrelateJoin, NoOverlapSaysSpaceOrTime) {
  lc::test::TempDir dir("co2join");
  test::write_zones(dir.file("z_zones.csv"), kClasses, {{"a", "2015-07-20", -60, -10, 1, {50, 50}}});
  const ZoneSet zones = read_zone_files({dir.file("z_zones.csv")});
  const std::vector<Sounding> far = {{10, 10, kT0, 400, 0}};
  const std::vector<Sounding> late = {{-59.5, -9.5, kT0 + 200 * 86400.0, 400, 0}};
  try {
    join_zones(zones, far, {}, "far.csv");
    ADD_FAILURE();
  } catch (const lc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("far.csv: no XCO2 value falls in any zone: space does not overlap"), std::string::npos) << e.what();
  }
  try {
    join_zones(zones, late, {}, "late.csv");
    ADD_FAILURE();
  } catch (const lc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("late.csv: no XCO2 value falls in any zone: time does not overlap"), std::string::npos) << e.what();
  }
}

TEST(CpuCorrelateStats, ExactLineAndRanks) {
  const auto f = fit_simple({0, 0.25, 0.5, 0.75, 1.0}, {1, 1.5, 2, 2.5, 3});  // y = 1 + 2 x
  ASSERT_TRUE(f.fitted);
  EXPECT_NEAR(f.slope, 2.0, 1e-12);
  EXPECT_NEAR(f.intercept, 1.0, 1e-12);
  EXPECT_NEAR(f.pearson_r, 1.0, 1e-12);
  EXPECT_NEAR(f.spearman_rho, 1.0, 1e-12);
  const auto g = fit_simple({1, 2, 3, 4}, {1, 8, 27, 64.5});  // monotone, not linear
  EXPECT_NEAR(g.spearman_rho, 1.0, 1e-12);
  EXPECT_LT(g.pearson_r, 0.99);
  // y = x + e with e = (+1, -1, -1, +1) on x = 0..3: slope 1, residual sd^2 = 4/2 = 2,
  // Sxx = 5, se = sqrt(2/5), t = 1/se, two-sided p with 2 df = 1 - t/sqrt(t^2 + 2).
  const auto h = fit_simple({0, 1, 2, 3}, {1, 0, 1, 4});
  EXPECT_NEAR(h.slope, 1.0, 1e-12);
  EXPECT_NEAR(h.slope_se, std::sqrt(0.4), 1e-12);
  const double t = 1 / std::sqrt(0.4);
  EXPECT_NEAR(h.p_value, 1 - t / std::sqrt(t * t + 2), 1e-9);
  EXPECT_NEAR(h.slope_hi - h.slope, 4.302652729911275 * std::sqrt(0.4), 1e-9);  // t(0.975, 2 df)
  EXPECT_FALSE(fit_simple({0.5, 0.5, 0.5}, {1, 2, 3}).fitted);
  EXPECT_FALSE(fit_simple({0.1, 0.2}, {1, 2}).fitted);
  EXPECT_NE(fit_simple({0.1, 0.2}, {1, 2}).verdict.find("too few zones"), std::string::npos);
}

// n zones with fraction f ~ U(0,1) and response a + b f + N(0, sigma), fixed seed.
void planted(std::uint64_t seed, int n, double b, double sigma, std::vector<double>& x, std::vector<double>& y) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> e(0, sigma);
  x.clear(), y.clear();
  for (int i = 0; i < n; ++i) {
    x.push_back(u(gen));
    y.push_back(0.7 + b * x.back() + e(gen));
  }
}

TEST(CpuCorrelateStats, IntervalsCoverThePlantedSlopeAndNullPValuesAreUniform) {
  // Over 400 seeded data sets: the 95% interval must hold b about 95% of the time, and with
  // b = 0 about 5% of p-values fall below 0.05 (binomial sd 1.1%: bounds are > 3 sd away).
  int covered = 0, small_p = 0;
  const int runs = 400;
  std::vector<double> x, y;
  for (int r = 0; r < runs; ++r) {
    planted(1000 + r, 40, 1.5, 0.8, x, y);
    const auto f = fit_simple(x, y);
    covered += f.slope_lo <= 1.5 && 1.5 <= f.slope_hi;
    planted(5000 + r, 40, 0.0, 0.8, x, y);
    small_p += fit_simple(x, y).p_value < 0.05;
  }
  EXPECT_GE(covered, static_cast<int>(0.91 * runs));
  EXPECT_LE(covered, static_cast<int>(0.99 * runs));
  EXPECT_LE(small_p, static_cast<int>(0.09 * runs));
  EXPECT_GE(small_p, static_cast<int>(0.01 * runs));
}

TEST(CpuCorrelateStats, MultipleRegressionRecoversTermsAndReportsCollinearity) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> e(0, 0.3);
  std::vector<std::vector<double>> x(2);
  std::vector<double> y;
  for (int i = 0; i < 120; ++i) {
    const double a = u(gen), b = u(gen) * (1 - a);  // two classes; the rest is the reference
    x[0].push_back(a), x[1].push_back(b);
    y.push_back(0.5 + 2.0 * a - 1.0 * b + e(gen));
  }
  const auto m = fit_multiple(x, {"crop", "water"}, y);
  ASSERT_TRUE(m.fitted);
  ASSERT_EQ(m.terms.size(), 3u);
  EXPECT_EQ(m.terms[1].name, "crop");
  EXPECT_LE(m.terms[1].lo, 2.0);
  EXPECT_GE(m.terms[1].hi, 2.0);
  EXPECT_LE(m.terms[2].lo, -1.0);
  EXPECT_GE(m.terms[2].hi, -1.0);
  EXPECT_LT(m.terms[1].hi - m.terms[1].lo, 1.0);
  EXPECT_LT(m.f_p_value, 1e-6);
  EXPECT_LT(m.max_vif, 5);
  // A third predictor almost equal to the first: severe collinearity.
  x.push_back(x[0]);
  for (std::size_t i = 0; i < x[2].size(); ++i) x[2][i] += 1e-3 * std::sin(static_cast<double>(i));
  const auto c = fit_multiple(x, {"crop", "water", "crop2"}, y);
  EXPECT_GT(c.max_vif, 100);
  EXPECT_NE(c.collinearity.find("severe"), std::string::npos);
  // An exact relation (no noise): coefficients exact, no abort from GSL on the infinite F.
  std::vector<double> exact;
  for (std::size_t i = 0; i < x[0].size(); ++i) exact.push_back(1.0 + 3.0 * x[0][i] - 2.0 * x[1][i]);
  const auto e0 = fit_multiple({x[0], x[1]}, {"crop", "water"}, exact);
  ASSERT_TRUE(e0.fitted);
  EXPECT_NEAR(e0.terms[1].coef, 3.0, 1e-9);
  EXPECT_NEAR(e0.terms[2].coef, -2.0, 1e-9);
  EXPECT_NEAR(e0.r2, 1.0, 1e-12);
  EXPECT_FALSE(e0.f_p_value > 1e-6);  // 0 or NaN, never a large p
  // A class absent everywhere is dropped, not fitted.
  x[2].assign(x[0].size(), 0.0);
  EXPECT_EQ(fit_multiple(x, {"crop", "water", "ice"}, y).dropped, std::vector<std::string>{"ice"});
}

// A 10 x 8 grid of 0.5-degree zones dated 2015-07-20, forest cover from a seeded uniform, 6
// soundings per zone (ppm, uncertainty 0.5) with XCO2 = 400 + b * forest + N(0, sigma), and
// background soundings outside the grid.
void planted_inputs(const lc::test::TempDir& dir, double b, std::uint64_t seed, std::vector<Sounding>& s) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> e(0, 1.0);
  std::vector<test::TestZone> zones;
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 8; ++j) {
      const double f = u(gen), x0 = -60 + 0.5 * i, y0 = -10 + 0.5 * j;
      zones.push_back({"z" + std::to_string(i) + "_" + std::to_string(j), "2015-07-20", x0, y0, 0.5, {100 * f, 100 - 100 * f}});
      for (int k = 0; k < 6; ++k)
        s.push_back({x0 + 0.05 + 0.4 * u(gen), y0 + 0.05 + 0.4 * u(gen), kT0 + 86400.0 * (k - 3), 400 + b * f + e(gen), 0.5});
    }
  for (int k = 0; k < 40; ++k) s.push_back({-62 + 0.2 * k, -11 + 0.01 * k, kT0 + 3600.0 * k, 400 + e(gen), 0.5});
  test::write_zones(dir.file("p_zones.csv"), kClasses, zones);
}

CorrelateOptions options_for(const lc::test::TempDir& dir, const std::string& xco2, const std::string& out) {
  CorrelateOptions o;
  o.zones = {dir.file("p_zones.csv")};
  o.xco2 = {dir.file(xco2)};
  o.out_dir = dir.file(out);
  return o;
}

TEST(CpuCorrelatePipeline, PlantedRelationInsideTheIntervalAndNullNotSignificant) {
  lc::test::TempDir dir("co2plant");
  std::vector<Sounding> s;
  planted_inputs(dir, 3.0, 11, s);
  test::write_soundings_csv(dir.file("s.csv"), s);
  run_correlate(options_for(dir, "s.csv", "out"));
  const auto j = nlohmann::json::parse(lc::test::read_text_file(dir.file("out/summary.json")));
  const auto& forest = j["per_class"][0];
  ASSERT_EQ(forest["class"], "forest");
  EXPECT_EQ(forest["n"], 80);
  const double lo = forest["slope_ci95"][0], hi = forest["slope_ci95"][1];
  EXPECT_LE(lo, 3.0);
  EXPECT_GE(hi, 3.0);
  EXPECT_LT(hi - lo, 2.0);  // sounding noise 1 ppm / sqrt(6) per zone: the interval is about +-0.6
  EXPECT_LT(forest["p_value"].get<double>(), 1e-4);
  EXPECT_NEAR(j["per_class"][1]["slope_ppm_per_100pct"].get<double>(), -forest["slope_ppm_per_100pct"].get<double>(), 1e-9);
  EXPECT_EQ(j["units"]["slope"], "ppm per 100% cover (the change in anomaly from 0% to 100% of the class)");
  EXPECT_EQ(j["options"]["background"], "ring:2deg");
  EXPECT_EQ(j["options"]["days"], 45);
  EXPECT_EQ(j["zones"]["used"], 80);

  lc::test::TempDir null_dir("co2null");
  s.clear();
  planted_inputs(null_dir, 0.0, 12, s);
  test::write_soundings_csv(null_dir.file("s.csv"), s);
  run_correlate(options_for(null_dir, "s.csv", "out"));
  const auto n = nlohmann::json::parse(lc::test::read_text_file(null_dir.file("out/summary.json")));
  EXPECT_GT(n["per_class"][0]["p_value"].get<double>(), 0.2);
  EXPECT_NE(n["per_class"][0]["verdict"].get<std::string>().find("includes 0"), std::string::npos);
}

TEST(CpuCorrelatePipeline, LiteNetcdfGivesTheSameJoinedTableAsCsv) {
  lc::test::TempDir dir("co2lite");
  std::vector<Sounding> s;
  planted_inputs(dir, 2.0, 21, s);
  std::vector<signed char> flags(s.size(), 0);
  std::vector<Sounding> good = s, with_bad = s;
  for (int k = 0; k < 30; ++k) {  // flagged soundings with absurd values: the reader must drop them
    with_bad.push_back({-59.7, -9.7, kT0, 999.0, 0.5});
    flags.push_back(1);
  }
  test::write_lite(dir.file("s.nc4"), with_bad, flags);
  test::write_soundings_csv(dir.file("s.csv"), good);
  run_correlate(options_for(dir, "s.csv", "csv"));
  run_correlate(options_for(dir, "s.nc4", "lite"));
  const std::string a = lc::test::read_text_file(dir.file("csv/joined.csv")), b = lc::test::read_text_file(dir.file("lite/joined.csv"));
  EXPECT_GT(std::count(a.begin(), a.end(), '\n'), 80);
  EXPECT_EQ(a, b);
  EXPECT_EQ(lc::test::read_text_file(dir.file("csv/summary.csv")), lc::test::read_text_file(dir.file("lite/summary.csv")));
  EXPECT_NE(a.find(",0.5,"), std::string::npos);  // the uncertainty column is filled
}

TEST(CpuCorrelatePipeline, OutputsAndSmallNSaysSo) {
  lc::test::TempDir dir("co2small");
  std::vector<test::TestZone> zones;
  std::vector<Sounding> s;
  for (int i = 0; i < 6; ++i) {
    zones.push_back({"z" + std::to_string(i), "2015-07-20", -60.0 + i, -10, 1, {10.0 * i, 100 - 10.0 * i}});
    for (int k = 0; k < 4; ++k) s.push_back({-59.5 + i, -9.5 + 0.1 * k, kT0, 400 + 0.1 * i + 0.05 * k, 0.4});
  }
  test::write_zones(dir.file("p_zones.csv"), {"forest", "a \"quoted\", class"}, zones);
  test::write_soundings_csv(dir.file("s.csv"), s);
  CorrelateOptions o = options_for(dir, "s.csv", "out");
  o.join.background = parse_background("region");
  const std::string text = run_correlate(o);
  EXPECT_NE(text.find("Only 6 zones: too few to conclude anything"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(lc::test::read_text_file(dir.file("out/summary.json")));
  EXPECT_NE(j["conclusion"].get<std::string>().find("too few to conclude anything"), std::string::npos);
  EXPECT_NE(j["per_class"][0]["verdict"].get<std::string>().find("n=6: too few zones to conclude anything"), std::string::npos);
  EXPECT_EQ(j["per_class"][1]["class"], "a \"quoted\", class");
  const auto rows = parse_delimited(lc::test::read_text_file(dir.file("out/joined.csv")), ',', "joined.csv");
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0][10], "km2:a \"quoted\", class");
  EXPECT_EQ(rows[0].size(), rows[3].size());
  const std::string png = lc::test::read_text_file(dir.file("out/scatter.png"));
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"out", "p_zones.csv", "s.csv"}));
}

// Runs the command; returns {exit status, output}.
std::pair<int, std::string> run_cli(const lc::test::TempDir& dir, const std::string& args) {
  const int rc = lc::test::run_logged(test::landcover_bin() + " correlate " + args, dir.file("log.txt"));
  return {rc, lc::test::read_text_file(dir.file("log.txt"))};
}

TEST(CpuCorrelateCli, BadInputsOneLineNamingTheFileNothingWritten) {
  lc::test::TempDir dir("co2cli");
  std::vector<Sounding> s;
  planted_inputs(dir, 1.0, 31, s);
  test::write_soundings_csv(dir.file("s.csv"), s);
  std::ofstream(dir.file("mixed.csv")) << "longitude,latitude,time,xco2\n-59.7,-9.7,2015-07-20,0.0004\n-59.7,-9.7,2015-07-20,400\n";
  std::ofstream(dir.file("cols.csv")) << "x,y,t,v\n-59.7,-9.7,2015-07-20,400\n";
  std::ofstream(dir.file("far.csv")) << "longitude,latitude,time,xco2\n10,10,2015-07-20,400\n";
  std::ofstream(dir.file("late.csv")) << "longitude,latitude,time,xco2\n-59.7,-9.7,2016-07-20,400\n";
  std::ofstream(dir.file("bad.nc")) << "CDF\x02 not really";
  std::ofstream(dir.file("nodate_zones.csv")) << "zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:a,pct:a\nz,,\"" << test::square_wkt(-60, -10, 1) << "\",1,0,1,100\n";
  std::filesystem::create_directories(dir.file("out"));
  std::ofstream(dir.file("out/joined.csv")) << "previous run\n";
  const std::string z = " --zones " + dir.file("p_zones.csv") + " --out-dir " + dir.file("out") + " --xco2 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {z + dir.file("mixed.csv"), "mixed.csv: mixed units"},
      {z + dir.file("cols.csv"), "cols.csv: no longitude column"},
      {z + dir.file("far.csv"), "far.csv: no XCO2 value falls in any zone: space does not overlap"},
      {z + dir.file("late.csv"), "late.csv: no XCO2 value falls in any zone: time does not overlap"},
      {z + dir.file("bad.nc"), "bad.nc: unreadable netCDF"},
      {z + dir.file("missing.csv"), "missing.csv: cannot read"},
      {z + dir.file("s.csv") + " --xco2-columns lon,lat", "--xco2-columns"},
      {z + dir.file("s.csv") + " --background halo", "--background 'halo'"},
      {" --zones " + dir.file("nodate_zones.csv") + " --out-dir " + dir.file("out") + " --xco2 " + dir.file("s.csv"),
       "nodate_zones.csv: zones without dates"},
  };
  for (const auto& [args, want] : cases) {
    const auto [rc, out] = run_cli(dir, args);
    EXPECT_EQ(rc, 1) << args << "\n" << out;
    EXPECT_NE(out.find(want), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_EQ(lc::test::read_text_file(dir.file("out/joined.csv")), "previous run\n");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("out")), {}), 1);
  }
  EXPECT_NE(run_cli(dir, z + dir.file("s.csv") + " --days -3").first, 0);
  const auto [rc, out] = run_cli(dir, z + dir.file("s.csv") + " --days 30 --background ring:1.5deg --min-soundings 2");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(lc::test::read_text_file(dir.file("out/joined.csv")), "previous run\n");
  EXPECT_NE(lc::test::read_text_file(dir.file("out/summary.json")).find("\"background\": \"ring:1.5deg\""), std::string::npos);
}

}  // namespace
}  // namespace lc::co2

// `landcover correlate` on the real OCO-2 L3 exports (LC_SHARED_DIR/xco2, 2015 and 2020) with
// synthetic zone tables over the area they cover: the command runs, the units, times and the
// +2.4 ppm/year trend come out right, the background removes the trend, and over the Pucallpa
// scenes' few zones the output says that nothing can be concluded.
// Depends on: the landcover executable, tests/correlate/fixtures.h, tests/support/{files,testing}.h.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "model/correlate/text.h"
#include "tests/correlate/fixtures.h"
#include "tests/support/files.h"
#include "tests/support/testing.h"

namespace lc::co2 {
namespace {

namespace fs = std::filesystem;

// The real files of one year, space-separated for the command line ("" when none).
std::string xco2_files(const std::string& dir, const std::string& year) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("OCO2L2Stdv10_L3_" + year, 0) == 0) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::string s;
  for (const auto& f : files) s += " " + f;
  return s;
}

// Zones on a grid of `step` degrees over [lon0, lon1) x [lat0, lat1), random (seeded) cover.
std::vector<test::TestZone> grid(double lon0, double lon1, double lat0, double lat1, double step, const std::string& date,
                                 std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 100);
  std::vector<test::TestZone> z;
  for (double x = lon0; x < lon1 - 1e-9; x += step)
    for (double y = lat0; y < lat1 - 1e-9; y += step) {
      const double f = u(gen);
      z.push_back({"lon" + fmt(x) + "_lat" + fmt(y), date, x, y, step, {f, 100 - f}});
    }
  return z;
}

struct CorrelateRun {
  int rc;
  std::string log;
  nlohmann::json summary;
  std::vector<std::vector<std::string>> joined;
};

CorrelateRun correlate(const lc::test::TempDir& dir, const std::string& args, const std::string& out) {
  CorrelateRun r;
  r.rc = lc::test::run_logged(test::landcover_bin() + " correlate " + args + " --out-dir " + dir.file(out), dir.file(out + ".log"));
  r.log = lc::test::read_text_file(dir.file(out + ".log"));
  if (r.rc == 0) {
    r.summary = nlohmann::json::parse(lc::test::read_text_file(dir.file(out + "/summary.json")));
    r.joined = parse_delimited(lc::test::read_text_file(dir.file(out + "/joined.csv")), ',', "joined.csv");
  }
  return r;
}

// Column index of `name` in a joined.csv header.
std::size_t col(const std::vector<std::string>& header, const std::string& name) {
  return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
}

TEST(E2eCorrelate, RealOco2TrendUnitsAndBackground) {
  const std::string shared = lc::test::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "LC_SHARED_DIR is not set (the ../shared data folder with xco2/)";
  const std::string x15 = xco2_files(shared + "/xco2", "2015"), x20 = xco2_files(shared + "/xco2", "2020");
  if (x15.empty() || x20.empty()) GTEST_SKIP() << "no OCO2L2Stdv10_L3 files of 2015 and 2020 under " << shared << "/xco2";
  lc::test::TempDir dir("co2e2e");
  // 1-degree zones over central Brazil, inside the files' extent, in July of both years.
  test::write_zones(dir.file("y2015_zones.csv"), {"forest", "pasture"}, grid(-60, -50, -15, -5, 1, "2015-07-15", 1));
  test::write_zones(dir.file("y2020_zones.csv"), {"forest", "pasture"}, grid(-60, -50, -15, -5, 1, "2020-07-15", 2));
  const std::string zones = " --zones " + dir.file("y2015_zones.csv") + " " + dir.file("y2020_zones.csv") + " --xco2" + x15 + x20;
  const CorrelateRun raw = correlate(dir, zones + " --background none", "raw");
  ASSERT_EQ(raw.rc, 0) << raw.log;
  EXPECT_EQ(raw.summary["inputs"]["xco2_files"][0]["units_in_file"], "mol/mol");
  EXPECT_EQ(raw.summary["inputs"]["xco2_files"][0]["format"], "table");
  EXPECT_GT(raw.summary["zones"]["used"].get<int>(), 120);  // of 200
  // The same zone five years apart: XCO2 rose by about 2.4 ppm per year.
  const auto& h = raw.joined[0];
  std::map<std::string, std::map<std::string, double>> mean;  // zone -> date -> ppm
  for (std::size_t i = 1; i < raw.joined.size(); ++i)
    if (raw.joined[i][col(h, "status")] == "used")
      mean[raw.joined[i][0]][raw.joined[i][1]] = std::stod(raw.joined[i][col(h, "xco2_mean_ppm")]);
  double rise = 0;
  int pairs = 0;
  for (auto& [zone, by_date] : mean)
    if (by_date.count("2015-07-15") && by_date.count("2020-07-15")) {
      EXPECT_GT(by_date["2015-07-15"], 390) << zone;
      EXPECT_LT(by_date["2015-07-15"], 405) << zone;
      rise += by_date["2020-07-15"] - by_date["2015-07-15"], ++pairs;
    }
  ASSERT_GT(pairs, 50);
  EXPECT_GT(rise / pairs, 9.0);
  EXPECT_LT(rise / pairs, 15.0);
  // With the ring background the anomalies are centred near 0: the trend is gone.
  const CorrelateRun ring = correlate(dir, zones, "ring");
  ASSERT_EQ(ring.rc, 0) << ring.log;
  std::vector<double> anomalies;
  for (std::size_t i = 1; i < ring.joined.size(); ++i)
    if (ring.joined[i][col(h, "status")] == "used") anomalies.push_back(std::stod(ring.joined[i][col(h, "anomaly_ppm")]));
  ASSERT_GT(anomalies.size(), 100u);
  std::sort(anomalies.begin(), anomalies.end());
  EXPECT_LT(std::abs(anomalies[anomalies.size() / 2]), 1.5);
  EXPECT_EQ(ring.summary["per_class"].size(), 2u);
  EXPECT_EQ(lc::test::read_text_file(dir.file("ring/scatter.png")).substr(1, 3), "PNG");
}

TEST(E2eCorrelate, PucallpaQuarterDegreeZonesSayTooFewToConclude) {
  const std::string shared = lc::test::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "LC_SHARED_DIR is not set (the ../shared data folder with xco2/)";
  const std::string x15 = xco2_files(shared + "/xco2", "2015"), x20 = xco2_files(shared + "/xco2", "2020");
  if (x15.empty() || x20.empty()) GTEST_SKIP() << "no OCO2L2Stdv10_L3 files of 2015 and 2020 under " << shared << "/xco2";
  lc::test::TempDir dir("co2pucallpa");
  // The grid:0.25 zones over the Landsat scenes (lon -74.72..-74.16, lat -8.59..-8.28), annual
  // composites dated mid-year with a half-year window.
  test::write_zones(dir.file("p2015_zones.csv"), {"forest", "pasture"}, grid(-74.75, -74.0, -8.75, -8.25, 0.25, "2015-07-01", 3));
  test::write_zones(dir.file("p2020_zones.csv"), {"forest", "pasture"}, grid(-74.75, -74.0, -8.75, -8.25, 0.25, "2020-07-01", 4));
  const CorrelateRun r = correlate(dir, " --zones " + dir.file("p2015_zones.csv") + " " + dir.file("p2020_zones.csv") + " --xco2" + x15 +
                                   x20 + " --days 183 --min-soundings 1",
                          "out");
  ASSERT_EQ(r.rc, 0) << r.log;
  EXPECT_LE(r.summary["zones"]["used"].get<int>(), 12);
  EXPECT_NE(r.summary["conclusion"].get<std::string>().find("too few to conclude anything"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("too few"), std::string::npos) << r.log;
  std::printf("%s", r.log.c_str());
}

}  // namespace
}  // namespace lc::co2

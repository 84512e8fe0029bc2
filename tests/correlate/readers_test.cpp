// Readers of `landcover correlate`: delimited text, times, XCO2 tables (CSV, TSV, L3 export
// layout), Lite and gridded netCDF written here with netCDF-C, zone tables; each with its bad inputs.
// Depends on: model/correlate/{text,xco2,zones}.h, tests/correlate/fixtures.h, tests/support/files.h.
#include <gtest/gtest.h>
#include <netcdf.h>

#include <cmath>
#include <fstream>

#include "kernels/common/check.h"
#include "model/correlate/text.h"
#include "model/correlate/xco2.h"
#include "model/correlate/zones.h"
#include "tests/correlate/fixtures.h"
#include "tests/support/files.h"

namespace lc::co2 {
namespace {

using test::nc_expect;

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Runs f, expects lc::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const lc::Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nlacks: " << p;
  }
}

TEST(CpuCorrelateText, DelimitedQuotesNewlinesAndCrlf) {
  const auto rows = parse_delimited("a,\"b, c\",\"say \"\"hi\"\"\"\r\n1,\"two\nlines\",\r\n\n3,4,5", ',', "t.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b, c", "say \"hi\""}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "two\nlines", ""}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(parse_delimited("x\ty\n", '\t', "t")[0], (std::vector<std::string>{"x", "y"}));
  expect_error([] { parse_delimited("a,\"open\n", ',', "bad.csv"); }, {"bad.csv", "unterminated", "line 1"});
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
}

TEST(CpuCorrelateText, TimesIsoAndCompact) {
  // 2015-01-01T00:00:00Z is 1420070400 s after 1970 (16436 days); 2015-01-31T12:00Z 30.5 days later.
  const double noon31 = 1420070400.0 + 30.5 * 86400.0;
  EXPECT_EQ(parse_time("2015-01-31T12:00:00Z").value(), noon31);
  EXPECT_EQ(parse_time("2015-01-31 12:00:00").value(), noon31);
  EXPECT_EQ(parse_time("2015-01-31T12:00").value(), noon31);
  EXPECT_EQ(parse_time("2015-01-31T14:30:00+02:30").value(), noon31);
  EXPECT_EQ(parse_time("20150131120000").value(), noon31);
  EXPECT_EQ(parse_time("20150131").value(), noon31 - 43200);
  EXPECT_EQ(parse_time("2015-01-31").value(), noon31 - 43200);
  EXPECT_DOUBLE_EQ(parse_time("2015-01-31T12:00:00.5Z").value(), noon31 + 0.5);
  EXPECT_EQ(parse_time("2020-02-29").value(), 1582934400.0);  // a leap day
  for (const char* bad : {"2015-02-30", "2019-02-29", "2015-13-01", "20151301000000", "2015-01-31T25:00", "31/01/2015",
                          "2015-01-31X", "", "201501311200"})
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
  EXPECT_EQ(format_date(noon31), "2015-01-31");
  EXPECT_EQ(format_datetime(noon31), "2015-01-31T12:00:00Z");
}

// The JPL L3 export layout (see the project's docs): TSV, mol/mol, YYYYMMDDhhmmss, bounds columns.
const char* kL3 =
    "longitude\tlongitude_bnds\tlatitude\tlatitude_bnds\ttime..YYYYMMDDHHMMSS.\ttime_bnds..YYYYMMDDHHMMSS.\t"
    "altitude..km.\talt_bnds..km.\tfluorescence_offset_relative_771nm_idp\tfluorescence_offset_relative_757nm_idp\t"
    "xco2..Moles.Mole...1..\n"
    "-74.58\t-74.70:-74.45\t-28.23\t-28.35:-28.10\t20150131120000\t20150131000000:20150201000000\t2955.0\t0.0:5910.0\t0.0008\t0.04\t0.000393634\n"
    "-60.5\t-60.6:-60.4\t-10.25\t-10.3:-10.2\t20150201120000\t20150201000000:20150202000000\t2955.0\t0.0:5910.0\t0.0008\t0.04\t0.000401\n";

TEST(CpuCorrelateXco2, L3ExportTsvInMolPerMol) {
  lc::test::TempDir dir("co2read");
  write(dir.file("l3.txt"), kL3);
  std::vector<Sounding> s;
  const auto src = read_xco2(dir.file("l3.txt"), {}, s);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(src.format, "table");
  EXPECT_EQ(src.units, "mol/mol");
  EXPECT_DOUBLE_EQ(s[0].xco2, 393.634);
  EXPECT_DOUBLE_EQ(s[0].lon, -74.58);
  EXPECT_DOUBLE_EQ(s[0].lat, -28.23);
  EXPECT_EQ(s[0].time, parse_time("2015-01-31T12:00:00Z").value());
  EXPECT_TRUE(std::isnan(s[0].uncertainty));
}

TEST(CpuCorrelateXco2, CsvWithNamedColumnsInPpm) {
  lc::test::TempDir dir("co2read");
  write(dir.file("p.csv"), "when,x,y,co2,err\n2015-03-01T10:00:00Z,-50,-10,400.5,0.5\n2015-03-02,-51,-11,399.5,0.7\n");
  std::vector<Sounding> s;
  Xco2ReadOptions opt;
  opt.columns = parse_column_list("x,y,when,co2,err");
  const auto src = read_xco2(dir.file("p.csv"), opt, s);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(src.units, "ppm");
  EXPECT_EQ(s[1].xco2, 399.5);
  EXPECT_EQ(s[1].uncertainty, 0.7);
  EXPECT_EQ(s[1].lon, -51);
  EXPECT_EQ(s[1].time, parse_time("2015-03-02").value());
  // Without the names the columns are not found, and the error lists what the file has.
  expect_error([&] { read_xco2(dir.file("p.csv"), {}, s); }, {"p.csv", "no longitude column", "when, x, y, co2, err"});
  opt.columns = parse_column_list("x,y,when,co3");
  expect_error([&] { read_xco2(dir.file("p.csv"), opt, s); }, {"p.csv", "no xco2 column 'co3'"});
  expect_error([] { parse_column_list("a,b,c"); }, {"--xco2-columns"});
}

TEST(CpuCorrelateXco2, BadTables) {
  lc::test::TempDir dir("co2read");
  std::vector<Sounding> s;
  const std::string head = "longitude,latitude,time,xco2\n";
  write(dir.file("mixed.csv"), head + "-50,-10,2015-03-01,0.000400\n-50,-10,2015-03-01,401\n");
  expect_error([&] { read_xco2(dir.file("mixed.csv"), {}, s); }, {"mixed.csv", "mixed units", "line 2", "line 3"});
  write(dir.file("range.csv"), head + "-50,-10,2015-03-01,40\n");
  expect_error([&] { read_xco2(dir.file("range.csv"), {}, s); }, {"range.csv", "neither mol/mol", "line 2"});
  write(dir.file("time.csv"), head + "-50,-10,03/01/2015,400\n");
  expect_error([&] { read_xco2(dir.file("time.csv"), {}, s); }, {"time.csv", "line 2", "neither ISO 8601"});
  write(dir.file("num.csv"), head + "west,-10,2015-03-01,400\n");
  expect_error([&] { read_xco2(dir.file("num.csv"), {}, s); }, {"num.csv", "line 2", "longitude 'west'"});
  write(dir.file("short.csv"), head + "-50,-10,2015-03-01\n");
  expect_error([&] { read_xco2(dir.file("short.csv"), {}, s); }, {"short.csv", "line 2 has 3 fields"});
  write(dir.file("empty.csv"), head);
  expect_error([&] { read_xco2(dir.file("empty.csv"), {}, s); }, {"empty.csv", "no data rows"});
  expect_error([&] { read_xco2(dir.file("missing.csv"), {}, s); }, {"missing.csv", "cannot read"});
  EXPECT_TRUE(s.empty());
}

std::vector<Sounding> three_soundings() {
  const double t = parse_time("2015-06-01T12:00:00Z").value();
  return {{-60.0, -10.0, t, 400.25, 0.5}, {-60.5, -10.5, t + 60, 401.0, 0.6}, {-61.0, -11.0, t + 120, 402.0, 0.7}};
}

TEST(CpuCorrelateXco2, LiteNetcdfQualityFlags) {
  lc::test::TempDir dir("co2read");
  const auto in = three_soundings();
  test::write_lite(dir.file("lite.nc4"), in, {0, 1, 0});
  std::vector<Sounding> s;
  const auto src = read_xco2(dir.file("lite.nc4"), {}, s);
  EXPECT_EQ(src.format, "lite");
  EXPECT_EQ(src.units, "ppm");
  EXPECT_EQ(src.rows, 3u);
  EXPECT_EQ(src.dropped_quality, 1u);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].xco2, 402.0);
  EXPECT_EQ(s[1].lon, -61.0);
  EXPECT_EQ(s[1].time, in[2].time);
  EXPECT_EQ(s[1].uncertainty, 0.7);
  Xco2ReadOptions all;
  all.all_quality = true;
  s.clear();
  read_xco2(dir.file("lite.nc4"), all, s);
  EXPECT_EQ(s.size(), 3u);
  test::write_lite(dir.file("noflag.nc4"), in, {}, false);
  expect_error([&] { read_xco2(dir.file("noflag.nc4"), {}, s); }, {"noflag.nc4", "no variable 'xco2_quality_flag'"});
  test::write_lite(dir.file("allbad.nc4"), in, {2, 2, 2});
  expect_error([&] { read_xco2(dir.file("allbad.nc4"), {}, s); }, {"allbad.nc4", "no usable XCO2", "3 with a quality flag"});
}

TEST(CpuCorrelateXco2, UnreadableNetcdf) {
  lc::test::TempDir dir("co2read");
  test::write_lite(dir.file("good.nc4"), three_soundings(), {0, 0, 0});
  const std::string bytes = lc::test::read_text_file(dir.file("good.nc4"));
  write(dir.file("cut.nc4"), bytes.substr(0, bytes.size() / 3));
  std::vector<Sounding> s;
  expect_error([&] { read_xco2(dir.file("cut.nc4"), {}, s); }, {"cut.nc4", "unreadable netCDF"});
  write(dir.file("fake.nc"), std::string("CDF\x01", 4) + "garbage");
  expect_error([&] { read_xco2(dir.file("fake.nc"), {}, s); }, {"fake.nc", "unreadable netCDF"});
  // Found by fuzz_xco2: 201 bytes whose header counts made netCDF-C 4.9.0 calloc ~136 GB in
  // nc_open and dereference the NULL where that failed. Refused before netCDF-C sees it.
  const std::string regress = std::string(LC_SOURCE_DIR) + "/fuzz/corpus/xco2/regress-netcdf-classic-header-counts.nc";
  expect_error([&] { read_xco2(regress, {}, s); }, {"regress-netcdf-classic-header-counts.nc", "unreadable netCDF: header"});
  // A classic file from ncgen (fuzz/make_geo_seeds.sh) passes the header check and reads whole.
  std::vector<Sounding> grid;
  const Xco2Source g = read_xco2(std::string(LC_SOURCE_DIR) + "/fuzz/corpus/xco2/grid.nc", {}, grid);
  EXPECT_EQ(g.format, "grid");
  EXPECT_EQ(grid.size(), 3u);  // 4 cells, one at the fill value
  EXPECT_TRUE(s.empty());
}

TEST(CpuCorrelateXco2, GriddedNetcdfWithFillAndTime) {
  lc::test::TempDir dir("co2read");
  const std::string path = dir.file("grid.nc");
  int nc = 0, dt = 0, dy = 0, dx = 0, vt = 0, vy = 0, vx = 0, vv = 0;
  nc_expect(nc_create(path.c_str(), NC_CLOBBER, &nc));
  nc_expect(nc_def_dim(nc, "time", 2, &dt));
  nc_expect(nc_def_dim(nc, "lat", 2, &dy));
  nc_expect(nc_def_dim(nc, "lon", 3, &dx));
  nc_expect(nc_def_var(nc, "time", NC_DOUBLE, 1, &dt, &vt));
  nc_expect(nc_put_att_text(nc, vt, "units", 29, "days since 2015-01-01 00:00:00"));
  nc_expect(nc_def_var(nc, "lat", NC_DOUBLE, 1, &dy, &vy));
  nc_expect(nc_def_var(nc, "lon", NC_DOUBLE, 1, &dx, &vx));
  const int dims[3] = {dt, dy, dx};
  nc_expect(nc_def_var(nc, "xco2", NC_FLOAT, 3, dims, &vv));
  const float fill = -999.f;
  nc_expect(nc_put_att_float(nc, vv, "_FillValue", NC_FLOAT, 1, &fill));
  nc_expect(nc_enddef(nc));
  const double t[2] = {14.5, 45.5}, lat[2] = {-10.5, -9.5}, lon[3] = {-61.5, -60.5, -59.5};
  const float v[12] = {0.0004f, 0.000401f, -999.f, 0.000402f, 0.000403f, 0.000404f,
                       0.000405f, 0.000406f, 0.000407f, 0.000408f, 0.000409f, -999.f};
  nc_expect(nc_put_var_double(nc, vt, t));
  nc_expect(nc_put_var_double(nc, vy, lat));
  nc_expect(nc_put_var_double(nc, vx, lon));
  nc_expect(nc_put_var_float(nc, vv, v));
  nc_expect(nc_close(nc));
  std::vector<Sounding> s;
  const auto src = read_xco2(path, {}, s);
  EXPECT_EQ(src.format, "grid");
  EXPECT_EQ(src.units, "mol/mol");
  EXPECT_EQ(src.dropped_missing, 2u);
  ASSERT_EQ(s.size(), 10u);
  // Cell [time 1][lat 1][lon 1] is v[10] = 409 ppm at (-60.5, -9.5) on 2015-02-15T12:00: the
  // 10th value kept (v[2] is fill).
  EXPECT_NEAR(s[9].xco2, 409.0, 1e-3);
  EXPECT_EQ(s[9].lon, -60.5);
  EXPECT_EQ(s[9].lat, -9.5);
  EXPECT_EQ(s[9].time, parse_time("2015-02-15T12:00:00Z").value());
  EXPECT_EQ(s[2].lon, -61.5);  // v[3]: time 0, lat 1, lon 0
  EXPECT_EQ(s[2].lat, -9.5);
}

const std::vector<std::string> kClasses = {"forest", "bare, soil"};

TEST(CpuCorrelateZones, ReadsTheContractLayout) {
  lc::test::TempDir dir("co2zones");
  test::write_zones(dir.file("a_zones.csv"), kClasses,
                    {{"lon-74.75_lat-8.50", "2015-07-20", -74.75, -8.5, 0.25, {70, 30}},
                     {"lon-74.50_lat-8.50", "2015-07-20", -74.5, -8.5, 0.25, {20, 80}}});
  test::write_zones(dir.file("b_zones.csv"), kClasses, {{"lon-74.75_lat-8.50", "2020-08-01", -74.75, -8.5, 0.25, {60, 40}}});
  const ZoneSet z = read_zone_files({dir.file("a_zones.csv"), dir.file("b_zones.csv")});
  EXPECT_EQ(z.classes, kClasses);
  ASSERT_EQ(z.zones.size(), 3u);
  EXPECT_EQ(z.zones[2].id, "lon-74.75_lat-8.50");
  EXPECT_EQ(z.zones[2].date, "2020-08-01");
  EXPECT_EQ(z.zones[2].pct, (std::vector<double>{60, 40}));
  EXPECT_EQ(z.zones[0].time, parse_time("2015-07-20T12:00:00Z").value());
  EXPECT_NEAR(z.zones[0].centre_lon, -74.625, 1e-12);
  EXPECT_TRUE(z.zones[0].contains(-74.6, -8.4));
  EXPECT_TRUE(z.zones[0].contains(-74.5, -8.4));  // on the boundary
  EXPECT_FALSE(z.zones[0].contains(-74.4, -8.4));
  EXPECT_FALSE(z.zones[0].contains(-74.6, -8.2));
  // --zone-dates: one date per file replaces the files' dates.
  const ZoneSet d = read_zone_files({dir.file("a_zones.csv"), dir.file("b_zones.csv")}, {"2015-06-30", "2020-06-30"});
  EXPECT_EQ(d.zones[1].date, "2015-06-30");
  EXPECT_EQ(d.zones[2].date, "2020-06-30");
  EXPECT_EQ(d.zones[2].time, parse_time("2020-06-30T12:00:00Z").value());
  expect_error([&] { read_zone_files({dir.file("a_zones.csv")}, {"2015-06-30", "2020-06-30"}); }, {"--zone-dates", "2 dates for 1"});
  expect_error([&] { read_zone_files({dir.file("a_zones.csv")}, {"2015-6-30"}); }, {"--zone-dates", "2015-6-30"});
}

TEST(CpuCorrelateZones, BadTables) {
  lc::test::TempDir dir("co2zones");
  const std::string head = "zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:a,km2:b,pct:a,pct:b\n";
  const std::string wkt = "\"" + test::square_wkt(-60, -10, 1) + "\"";
  write(dir.file("nodate_zones.csv"), head + "z1,," + wkt + ",100,0,50,50,50,50\n");
  expect_error([&] { read_zone_files({dir.file("nodate_zones.csv")}); }, {"nodate_zones.csv", "zones without dates", "z1"});
  EXPECT_EQ(read_zone_files({dir.file("nodate_zones.csv")}, {"2015-07-01"}).zones[0].date, "2015-07-01");
  write(dir.file("wkt_zones.csv"), head + "z1,2015-01-01,POLYGON((1 2,3),100,0,50,50,50,50\n");
  expect_error([&] { read_zone_files({dir.file("wkt_zones.csv")}); }, {"wkt_zones.csv", "line 2"});
  write(dir.file("bow_zones.csv"), head + "z1,2015-01-01,\"POLYGON((0 0,1 1,1 0,0 1,0 0))\",100,0,50,50,50,50\n");
  expect_error([&] { read_zone_files({dir.file("bow_zones.csv")}); }, {"bow_zones.csv", "line 2", "not a valid polygon"});
  write(dir.file("point_zones.csv"), head + "z1,2015-01-01,POINT (1 2),100,0,50,50,50,50\n");
  expect_error([&] { read_zone_files({dir.file("point_zones.csv")}); }, {"point_zones.csv", "expected a POLYGON"});
  write(dir.file("order_zones.csv"), "zone_id,geometry_wkt,date,valid_km2,nodata_km2,km2:a,pct:a\n");
  expect_error([&] { read_zone_files({dir.file("order_zones.csv")}); }, {"order_zones.csv", "column 2", "'date'"});
  write(dir.file("pair_zones.csv"), "zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:a,km2:b,pct:b,pct:a\n");
  expect_error([&] { read_zone_files({dir.file("pair_zones.csv")}); }, {"pair_zones.csv", "km2:a", "pct:b"});
  write(dir.file("num_zones.csv"), head + "z1,2015-01-01," + wkt + ",100,0,50,fifty,50,50\n");
  expect_error([&] { read_zone_files({dir.file("num_zones.csv")}); }, {"num_zones.csv", "line 2", "km2:b"});
  write(dir.file("date_zones.csv"), head + "z1,2015-1-1," + wkt + ",100,0,50,50,50,50\n");
  expect_error([&] { read_zone_files({dir.file("date_zones.csv")}); }, {"date_zones.csv", "not YYYY-MM-DD"});
  write(dir.file("ok_zones.csv"), head + "z1,2015-01-01," + wkt + ",100,0,50,50,50,50\n");
  write(dir.file("other_zones.csv"), "zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:a,km2:c,pct:a,pct:c\nz2,2015-01-01," + wkt + ",1,0,1,0,100,0\n");
  expect_error([&] { read_zone_files({dir.file("ok_zones.csv"), dir.file("other_zones.csv")}); }, {"other_zones.csv", "classes differ"});
  expect_error([&] { read_zone_files({dir.file("ok_zones.csv"), dir.file("ok_zones.csv")}); }, {"ok_zones.csv", "appears twice"});
  expect_error([&] { read_zone_files({dir.file("none_zones.csv")}); }, {"none_zones.csv", "cannot read"});
}

}  // namespace
}  // namespace lc::co2

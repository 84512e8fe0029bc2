// Join of soundings with zones, background and anomaly (see join.h).
// Depends on: model/correlate/join.h, model/correlate/text.h, GSL statistics, kernels/common/check.h.
#include "model/correlate/join.h"

#include <gsl/gsl_statistics_double.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common/check.h"
#include "model/correlate/text.h"

namespace lc::co2 {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double median_of(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  return gsl_stats_median_from_sorted_data(v.data(), 1, v.size());
}

// Soundings sorted by time: the index range within [t0 - d, t0 + d].
std::pair<std::size_t, std::size_t> time_range(const std::vector<Sounding>& s, double t0, double d) {
  const auto lo = std::lower_bound(s.begin(), s.end(), t0 - d, [](const Sounding& a, double t) { return a.time < t; });
  const auto hi = std::upper_bound(s.begin(), s.end(), t0 + d, [](double t, const Sounding& a) { return t < a.time; });
  return {static_cast<std::size_t>(lo - s.begin()), static_cast<std::size_t>(hi - s.begin())};
}

ZoneStats zone_stats(const Zone& z, const std::vector<Sounding>& s, const JoinOptions& opt) {
  const auto [a, b] = time_range(s, z.time, opt.days * 86400.0);
  std::vector<double> in, unc, bg;
  const double w = opt.background.ring_deg;
  for (std::size_t i = a; i < b; ++i) {
    const bool inside = z.contains(s[i].lon, s[i].lat);
    if (inside) {
      in.push_back(s[i].xco2);
      if (std::isfinite(s[i].uncertainty)) unc.push_back(s[i].uncertainty);
    } else if (opt.background.kind == Background::kRing) {
      if (s[i].lon >= z.min_lon - w && s[i].lon <= z.max_lon + w && s[i].lat >= z.min_lat - w && s[i].lat <= z.max_lat + w)
        bg.push_back(s[i].xco2);
    }
    if (opt.background.kind == Background::kRegion) bg.push_back(s[i].xco2);
  }
  ZoneStats st{static_cast<int>(in.size()), kNaN, kNaN, kNaN, kNaN, 0, kNaN, kNaN, "used"};
  if (!in.empty()) {
    st.mean = gsl_stats_mean(in.data(), 1, in.size());
    st.median = median_of(in);
    if (in.size() >= 2) st.sd = gsl_stats_sd(in.data(), 1, in.size());
    if (!unc.empty()) st.uncertainty = gsl_stats_mean(unc.data(), 1, unc.size());
  }
  st.n_background = static_cast<int>(bg.size());
  if (opt.background.kind == Background::kNone) {
    st.anomaly = st.mean;
  } else if (!bg.empty()) {
    st.background = median_of(bg);
    st.anomaly = st.mean - st.background;
  }
  if (!(z.valid_km2 > 0)) st.status = "no valid land-cover area (all nodata)";
  else if (st.n == 0) st.status = "no soundings";
  else if (st.n < opt.min_soundings) st.status = "fewer than " + std::to_string(opt.min_soundings) + " soundings";
  else if (opt.background.kind != Background::kNone && st.n_background < opt.min_soundings)
    st.status = "fewer than " + std::to_string(opt.min_soundings) + " background soundings";
  return st;
}

// Called when no zone received a sounding: says which of space and time did not overlap.
[[noreturn]] void fail_no_overlap(const ZoneSet& zones, const std::vector<Sounding>& s, const JoinOptions& opt,
                                  const std::string& xco2_names) {
  bool space = false, time = false;
  double zmin = 1e300, zmax = -1e300;
  for (const Zone& z : zones.zones) {
    zmin = std::min(zmin, z.time), zmax = std::max(zmax, z.time);
    const auto [a, b] = time_range(s, z.time, opt.days * 86400.0);
    time = time || b > a;
    for (std::size_t i = 0; i < s.size() && !space; ++i) space = z.contains(s[i].lon, s[i].lat);
  }
  double lon0 = 1e300, lon1 = -1e300, lat0 = 1e300, lat1 = -1e300;
  for (const Sounding& x : s) lon0 = std::min(lon0, x.lon), lon1 = std::max(lon1, x.lon), lat0 = std::min(lat0, x.lat), lat1 = std::max(lat1, x.lat);
  const std::string what = xco2_names + ": no XCO2 value falls in any zone: ";
  if (!space)
    LC_FAIL(what, "space does not overlap (the values span longitude ", lon0, "..", lon1, ", latitude ", lat0, "..", lat1,
            "; no zone contains any of them)");
  if (!time)
    LC_FAIL(what, "time does not overlap (the values span ", format_date(s.front().time), "..", format_date(s.back().time),
            ", the zone dates ", format_date(zmin), "..", format_date(zmax), " +-", opt.days, " days)");
  LC_FAIL(what, "values lie inside zones and within the dates, but never both at once (widen --days?)");
}

}  // namespace

std::string Background::text() const {
  if (kind == kRegion) return "region";
  if (kind == kNone) return "none";
  return "ring:" + fmt(ring_deg) + "deg";
}

Background parse_background(const std::string& s) {
  Background b;
  if (s == "region") b.kind = Background::kRegion;
  else if (s == "none") b.kind = Background::kNone;
  else if (s.rfind("ring:", 0) == 0) {
    std::string num = s.substr(5);
    if (num.size() > 3 && num.compare(num.size() - 3, 3, "deg") == 0) num.resize(num.size() - 3);
    const auto v = parse_number(num);
    if (!v || *v <= 0 || *v > 90) LC_FAIL("--background '", s, "': the ring width must be a number of degrees in (0, 90], e.g. ring:2deg");
    b.ring_deg = *v;
  } else {
    LC_FAIL("--background '", s, "': expected ring:<D>deg, region or none");
  }
  return b;
}

JoinResult join_zones(const ZoneSet& zones, std::vector<Sounding> soundings, const JoinOptions& opt,
                      const std::string& xco2_names) {
  LC_CHECK(opt.days >= 0 && opt.min_soundings >= 1, "--days must be >= 0 and --min-soundings >= 1");
  std::stable_sort(soundings.begin(), soundings.end(), [](const Sounding& a, const Sounding& b) { return a.time < b.time; });
  JoinResult r;
  for (const Zone& z : zones.zones) {
    r.zones.push_back(zone_stats(z, soundings, opt));
    const ZoneStats& st = r.zones.back();
    if (st.used()) ++r.used;
    else if (!(z.valid_km2 > 0)) ++r.no_valid_area;
    else if (st.n == 0) ++r.no_soundings;
    else if (st.n < opt.min_soundings) ++r.few_soundings;
    else ++r.thin_background;
  }
  if (std::none_of(r.zones.begin(), r.zones.end(), [](const ZoneStats& st) { return st.n > 0; }))
    fail_no_overlap(zones, soundings, opt, xco2_names);
  return r;
}

}  // namespace lc::co2

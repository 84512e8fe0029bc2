// `landcover correlate`: analysis and all-or-nothing outputs (see correlate.h).
// Depends on: model/correlate/correlate.h, model/checkpoint.h (AtomicFile, read_file_bytes).
#include "model/correlate/correlate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>

#include "kernels/common/check.h"
#include "model/checkpoint.h"
#include "model/correlate/text.h"

namespace lc::co2 {

namespace {

// The class left out of the multiple regression: the one named, else the largest mean cover.
std::size_t reference_class(const Analysis& a, const std::string& wanted) {
  const auto& classes = a.zones.classes;
  if (!wanted.empty()) {
    for (std::size_t c = 0; c < classes.size(); ++c)
      if (classes[c] == wanted) return c;
    LC_FAIL(a.zones.zones.front().source, ": --reference '", wanted, "' is not one of its classes");
  }
  std::vector<double> sum(classes.size(), 0.0);
  for (std::size_t z = 0; z < a.zones.zones.size(); ++z)
    if (a.joined.zones[z].used())
      for (std::size_t c = 0; c < classes.size(); ++c) sum[c] += a.zones.zones[z].pct[c];
  return static_cast<std::size_t>(std::max_element(sum.begin(), sum.end()) - sum.begin());
}

void fit_all(Analysis& a, const std::string& reference) {
  const std::size_t k = a.zones.classes.size();
  std::vector<std::vector<double>> x(k);
  std::vector<double> y;
  for (std::size_t z = 0; z < a.zones.zones.size(); ++z) {
    if (!a.joined.zones[z].used()) continue;
    y.push_back(a.joined.zones[z].anomaly);
    for (std::size_t c = 0; c < k; ++c) x[c].push_back(a.zones.zones[z].pct[c] / 100.0);
  }
  for (std::size_t c = 0; c < k; ++c) a.per_class.push_back(fit_simple(x[c], y));
  const std::size_t ref = reference_class(a, reference);
  a.reference = a.zones.classes[ref];
  std::vector<std::vector<double>> xm;
  std::vector<std::string> names;
  for (std::size_t c = 0; c < k; ++c)
    if (c != ref) xm.push_back(x[c]), names.push_back(a.zones.classes[c]);
  a.multiple = fit_multiple(xm, names, y);
  const int n = a.joined.used;
  a.conclusion = n < kMinZonesToConclude
                     ? "Only " + std::to_string(n) + " zones: too few to conclude anything about land cover and XCO2. "
                       "The intervals show only which slopes these data cannot rule out."
                     : std::to_string(n) + " zones: see each class's verdict. Neighbouring zones share air and "
                       "soundings, so they are not independent and every interval is too narrow.";
}

std::string names_of(const std::vector<std::string>& files) {
  if (files.size() == 1) return files[0];
  return files.front() + " (and " + std::to_string(files.size() - 1) + " more XCO2 files)";
}

}  // namespace

Analysis analyse(const CorrelateOptions& opt) {
  if (opt.xco2.empty()) LC_FAIL("no XCO2 files given (--xco2)");
  Analysis a;
  a.zones = read_zone_files(opt.zones, opt.zone_dates);
  std::vector<Sounding> soundings;
  for (const std::string& f : opt.xco2) a.sources.push_back(read_xco2(f, opt.read, soundings));
  a.soundings = soundings.size();
  a.window_days = opt.join.days;
  a.joined = join_zones(a.zones, std::move(soundings), opt.join, names_of(opt.xco2));
  fit_all(a, opt.reference);
  return a;
}

std::string run_correlate(const CorrelateOptions& opt) {
  const Analysis a = analyse(opt);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  if (ec) LC_FAIL(opt.out_dir, ": cannot create the output directory: ", ec.message());
  const std::string dir = opt.out_dir + "/";
  // The plot first, into a temporary file of PLplot's own, then everything through AtomicFile.
  const std::string plot_tmp = dir + ".scatter.png.plplot." + std::to_string(::getpid());
  std::vector<std::uint8_t> png;
  try {
    draw_scatter(a, plot_tmp);
    png = read_file_bytes(plot_tmp);
  } catch (...) {
    fs::remove(plot_tmp, ec);
    throw;
  }
  fs::remove(plot_tmp, ec);
  const std::string texts[] = {joined_csv(a), summary_csv(a), summary_json(a, opt)};
  const char* names[] = {"joined.csv", "summary.csv", "summary.json", "scatter.png"};
  std::vector<std::unique_ptr<AtomicFile>> files;
  for (int i = 0; i < 4; ++i) {
    files.push_back(std::make_unique<AtomicFile>(dir + names[i]));
    if (i < 3) files.back()->write(texts[i].data(), texts[i].size());
    else files.back()->write(png.data(), png.size());
  }
  for (auto& f : files) f->commit();

  std::string out = "zones: " + std::to_string(a.zones.zones.size()) + " read, " + std::to_string(a.joined.used) +
                    " used (" + std::to_string(a.joined.no_valid_area) + " all nodata, " +
                    std::to_string(a.joined.no_soundings) + " without soundings, " +
                    std::to_string(a.joined.few_soundings) + " with fewer than " + std::to_string(opt.join.min_soundings) +
                    ", " + std::to_string(a.joined.thin_background) + " with too thin a background)\n";
  std::map<std::string, int> units;  // "table in mol/mol" -> files
  for (const Xco2Source& src : a.sources) ++units[src.format + " in " + src.units];
  std::string unit_text;
  for (const auto& [u, k] : units) unit_text += (unit_text.empty() ? "" : ", ") + std::to_string(k) + " " + u;
  out += "XCO2 values read: " + std::to_string(a.soundings) + " (files: " + unit_text + "; converted to ppm); background " +
         opt.join.background.text() + ", +-" + fmt(opt.join.days) + " days\n";
  char line[512];
  for (std::size_t c = 0; c < a.per_class.size(); ++c) {
    const SimpleFit& f = a.per_class[c];
    std::snprintf(line, sizeof line, "  %-20s n=%-4d slope %+8.3f ppm per 100%% cover [%+.3f, %+.3f]  r=%+.2f  p=%.3g\n",
                  a.zones.classes[c].c_str(), f.n, f.slope, f.slope_lo, f.slope_hi, f.pearson_r, f.p_value);
    out += line;
    out += "      " + f.verdict + "\n";
  }
  out += "multiple regression (reference " + a.reference + "): " + a.multiple.verdict +
         (a.multiple.fitted ? "; collinearity " + a.multiple.collinearity : "") + "\n";
  out += a.conclusion + "\nwrote " + dir + "{joined.csv,summary.csv,summary.json,scatter.png}\n";
  return out;
}

}  // namespace lc::co2

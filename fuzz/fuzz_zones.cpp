// Fuzz target: per-zone land-cover tables, the other input of `landcover correlate`
// (model/correlate/zones.h read_zone_files: RFC 4180 CSV with WKT polygons through OGR).
// Corpus: fuzz/make_geo_seeds.sh.
// Depends on: model/correlate/zones.h, fuzz/fuzz_input.h, libFuzzer.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_input.h"
#include "kernels/common/check.h"
#include "model/correlate/zones.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = lc::fuzz::input_file(data, size, "zones", "_zones.csv");
  try {
    const lc::co2::ZoneSet z = lc::co2::read_zone_files({path});
    for (const lc::co2::Zone& zone : z.zones) {
      if (zone.km2.size() != z.classes.size() || zone.pct.size() != z.classes.size()) __builtin_trap();
      (void)zone.contains(zone.centre_lon, zone.centre_lat);
    }
  } catch (const lc::Error&) {
  }
  return 0;
}

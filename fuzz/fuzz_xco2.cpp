// Fuzz target: XCO2 inputs of `landcover correlate` (model/correlate/xco2.h read_xco2): CSV/TSV
// tables parsed here, OCO-2 Lite and gridded netCDF read through netCDF-C (format detected from
// the content). Corpus: fuzz/make_geo_seeds.sh.
// Depends on: model/correlate/xco2.h, fuzz/fuzz_input.h, libFuzzer.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "kernels/common/check.h"
#include "model/correlate/xco2.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = lc::fuzz::input_file(data, size, "xco2", ".dat");
  lc::co2::Xco2ReadOptions opt;
  opt.all_quality = size && (data[0] & 1);
  std::vector<lc::co2::Sounding> out;
  try {
    const lc::co2::Xco2Source s = lc::co2::read_xco2(path, opt, out);
    if (s.kept != out.size() || s.kept > s.rows) __builtin_trap();
    for (const lc::co2::Sounding& x : out)
      if (!(x.xco2 > 0 && x.xco2 <= 10000)) __builtin_trap();  // ppm, from either documented unit
  } catch (const lc::Error&) {
  }
  return 0;
}

// A size check of classic netCDF headers (CDF-1, CDF-2, CDF-5) before netCDF-C opens them.
// netCDF-C 4.9.0 (Debian 12's) allocates what a header's element counts declare: a 201-byte file
// made it calloc about 136 GB in nc_open, and where that failed it dereferenced the NULL
// (fuzz/corpus/xco2/regress-netcdf-classic-header-counts.nc, found by fuzz/fuzz_xco2). Here the
// header is walked as the format defines it (dimension, attribute and variable lists) and every
// count is checked against the bytes left in the file: no element takes less than 4 bytes, no
// attribute value less than its type's size. HDF5-based netCDF-4 files are not classic and pass.
// Depends on: kernels/common/check.h.
#pragma once

#include <string>

namespace lc::co2 {

// Throws lc::Error "<path>: unreadable netCDF: header declares ... (corrupt)" when a count of the
// classic header cannot fit in the file; does nothing for files that are not classic netCDF.
void check_classic_netcdf_header(const std::string& path);

}  // namespace lc::co2

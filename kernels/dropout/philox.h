// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; the Random123 library's philox4x32 with 10 rounds), written for this project as one
// __host__ __device__ function, so the reference, the cpu backend, the emulator and the GPU all
// compute the same bits. Checked against the Random123 known-answer vectors in
// tests/kernels/dropout_test.cpp.
//
//   round:   (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2      (32 x 32 -> 64-bit products)
//            c = { hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0 }
//   key:     k0 += W0, k1 += W1 between rounds (10 rounds, 9 bumps)
//   M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85
// Depends on: nothing (compiles with nvcc, with g++ under the SIMT emulator, and as plain C++).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define LC_PHILOX_HD __host__ __device__ __forceinline__
#else
#define LC_PHILOX_HD inline
#endif

namespace lc {

struct Philox4x32 {
  std::uint32_t v[4];
};

LC_PHILOX_HD Philox4x32 philox4x32_10(Philox4x32 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  std::uint32_t c0 = ctr.v[0], c1 = ctr.v[1], c2 = ctr.v[2], c3 = ctr.v[3];
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const std::uint64_t p0 = std::uint64_t(kM0) * c0;
    const std::uint64_t p1 = std::uint64_t(kM1) * c2;
    const std::uint32_t hi0 = std::uint32_t(p0 >> 32), lo0 = std::uint32_t(p0);
    const std::uint32_t hi1 = std::uint32_t(p1 >> 32), lo1 = std::uint32_t(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return Philox4x32{{c0, c1, c2, c3}};
}

}  // namespace lc

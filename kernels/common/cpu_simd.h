// Run-time choice of AVX2 + FMA code in the cpu backend's host kernels (kernels/*/<op>_cpu.cpp).
// The build targets the x86-64 baseline so the binary runs on any x86-64 CPU; hot loops have an
// AVX2 version compiled with LC_AVX2 (a function attribute, no global -mavx2) that runs only when
// cpu_has_avx2_fma() says the CPU has both. The AVX2 versions do the same float operations in the
// same order as the plain ones (no contraction into FMA unless a kernel says so), so where a
// kernel's comment says it is bitwise identical to its scalar form, both paths give one result.
// Depends on: nothing (GCC/Clang builtins).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LC_CPU_X86 1
#define LC_AVX2 __attribute__((target("avx2,fma")))
#else
#define LC_CPU_X86 0
#define LC_AVX2
#endif

namespace lc::cpu {

// True when the CPU running this process has AVX2 and FMA (checked once).
inline bool cpu_has_avx2_fma() {
#if LC_CPU_X86
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

}  // namespace lc::cpu

// CUDA's built-in vector types (dim3, uint3, int2..4, float2..4, uchar2..4, ...) and their make_*
// functions for the host SIMT emulator. They live in namespace lc::simt, never in the global
// namespace: the same binary also links nvcc-compiled code that has the real CUDA types there.
// emulator.h makes them visible inside namespace lc::sim. Sizes and alignments match CUDA's.
// Depends on: nothing.
#pragma once

namespace lc::simt {

#define LC_SIMT_VEC2(name, T, align)                                                     \
  struct alignas(align) name {                                                            \
    T x, y;                                                                               \
  };                                                                                      \
  constexpr name make_##name(T x, T y) { return name{x, y}; }
#define LC_SIMT_VEC3(name, T)                                                            \
  struct name {                                                                           \
    T x, y, z;                                                                            \
  };                                                                                      \
  constexpr name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define LC_SIMT_VEC4(name, T, align)                                                     \
  struct alignas(align) name {                                                            \
    T x, y, z, w;                                                                         \
  };                                                                                      \
  constexpr name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

// name2, name3, name4 of one component type T (CUDA's alignments: 2 and 4 components aligned to
// their size, 3 components to T).
#define LC_SIMT_VEC234(name, T)            \
  LC_SIMT_VEC2(name##2, T, 2 * sizeof(T)) \
  LC_SIMT_VEC3(name##3, T)                \
  LC_SIMT_VEC4(name##4, T, 4 * sizeof(T))

LC_SIMT_VEC234(char, signed char)
LC_SIMT_VEC234(uchar, unsigned char)
LC_SIMT_VEC234(short, short)
LC_SIMT_VEC234(ushort, unsigned short)
LC_SIMT_VEC234(int, int)
LC_SIMT_VEC234(uint, unsigned int)
LC_SIMT_VEC234(float, float)
LC_SIMT_VEC2(longlong2, long long, 16)
LC_SIMT_VEC2(ulonglong2, unsigned long long, 16)
LC_SIMT_VEC2(double2, double, 16)
LC_SIMT_VEC3(double3, double)

#undef LC_SIMT_VEC234
#undef LC_SIMT_VEC2
#undef LC_SIMT_VEC3
#undef LC_SIMT_VEC4

// dim3: like CUDA's, unspecified components are 1, and it converts from unsigned and uint3.
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

static_assert(sizeof(float4) == 16 && alignof(float4) == 16, "float4 must match CUDA");
static_assert(sizeof(int4) == 16 && alignof(int4) == 16, "int4 must match CUDA");
static_assert(sizeof(float2) == 8 && alignof(float2) == 8, "float2 must match CUDA");
static_assert(sizeof(float3) == 12 && alignof(float3) == 4, "float3 must match CUDA");
static_assert(sizeof(uchar4) == 4 && alignof(uchar4) == 4, "uchar4 must match CUDA");
static_assert(sizeof(uchar3) == 3, "uchar3 must match CUDA");
static_assert(sizeof(dim3) == 12, "dim3 must match CUDA");

}  // namespace lc::simt

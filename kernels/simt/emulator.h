// The host SIMT emulator: what a CUDA kernel source (.cu) sees when it is compiled by g++ as C++
// (simt.h includes this file when __CUDACC__ is not defined). It provides the CUDA qualifiers,
// vector types, threadIdx/blockIdx/blockDim/gridDim, barriers, warp ops, atomics and math
// intrinsics, and lc::simt::launch(), which runs a grid on the CPU: one fiber per CUDA thread,
// the blocks of a grid in parallel on a small thread pool (runtime.cpp, fiber.cpp).
// Design, bug-finding modes and rules for kernel authors: docs/SIMT_EMULATOR.md. Kernel code lives in namespace
// lc::sim (lc::LC_KERNEL_NS), where everything below is visible unqualified.
// Depends on: the C++ standard library, kernels/common/{check,launch_count,types}.h. Never a
// CUDA header.
#pragma once

// Standard headers first: <cmath> must be parsed before the intrinsic macros at the end of this
// file (glibc declares functions called __expf, __logf, ... there).
#include <algorithm>
#include <atomic>
#include <bit>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/common/check.h"
#include "kernels/common/launch_count.h"
#include "kernels/common/types.h"
#include "kernels/simt/vector_types.h"

// ---- CUDA qualifiers ----------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// At block scope thread_local is implicitly static, so `__shared__ T x[N];` and
// `static __shared__ T x[N];` both give one copy per OS thread, i.e. per block in flight
// (a block runs entirely on one OS thread). Never initialize a __shared__ variable.
#define __shared__ thread_local
// __restrict__ is g++'s own keyword. __noinline__ stays undefined on purpose: libstdc++ uses
// __attribute__((__noinline__)), which a macro would break.

namespace lc::simt {

// ---- configuration ----------------------------------------------------------------------------
// Read once from the environment (LC_SIMT_REVERSE=1, LC_SIMT_STRICT=1, LC_SIMT_STACK_KB=<n>,
// LC_SIMT_THREADS=<n>, LC_SIMT_SPIN_TIMEOUT_MS=<n>); tests may change it between launches
// (never while a launch runs). A launch takes a snapshot when it starts.
struct Config {
  bool reverse = false;                   // threads of a block (and blocks) run in reverse order
  bool strict = false;                    // trap on undefined cases (docs/SIMT_EMULATOR.md)
  std::size_t stack_bytes = 64 * 1024;    // per fiber (one fiber per CUDA thread)
  int threads = 0;                        // OS threads running blocks; 0: hardware threads
  int spin_timeout_ms = 10000;            // a block spinning in __nanosleep with no other
                                          // progress for this long is reported as a deadlock
};
Config& config();

inline constexpr int warpSize = 32;

namespace detail {

// The running CUDA thread's identity. The scheduler sets these before resuming a fiber.
// No tls_model attribute: in the project's static libraries and executables these get the
// fastest (local-exec) model. (Forcing initial-exec made g++ 12 test the flags of an `add` that
// the linker relaxes to `lea`: UBSan null checks on them then fired spuriously.)
inline thread_local uint3 t_thread_idx{0, 0, 0};
inline thread_local uint3 t_block_idx{0, 0, 0};
inline thread_local dim3 t_block_dim{1, 1, 1};
inline thread_local dim3 t_grid_dim{1, 1, 1};
inline thread_local unsigned char* t_dyn_smem = nullptr;
// Read as values, never as references to thread_local storage (see above).
inline uint3 thread_idx() { return t_thread_idx; }
inline uint3 block_idx() { return t_block_idx; }
inline dim3 block_dim() { return t_block_dim; }
inline dim3 grid_dim() { return t_grid_dim; }

// One launch, type-erased. thunk points at a Thunk<KArgs...> (below).
struct LaunchSpec {
  void (*run_thread)(const void* thunk);
  void (*run_block_flat)(const void* thunk, bool reverse);
  const void* thunk;
  const void* kernel;  // identifies the kernel (set_max_dynamic_shared)
  dim3 grid, block;
  std::size_t smem;
  bool flat;
  const char* api;  // "launch" or "launch_flat", for messages
};
void run_launch(const LaunchSpec& spec);
void set_max_dynamic_shared(const void* kernel, int bytes);

enum BarrierKind : int { kBarSync = 0, kBarCount = 1, kBarAnd = 2, kBarOr = 3 };
enum WarpKind : int {
  kShflIdx = 0, kShflUp, kShflDown, kShflXor,  // data exchange
  kBallot, kAny, kAll, kSyncwarp,               // votes / sync
  kReduceAdd, kReduceMin, kReduceMax, kReduceAnd, kReduceOr, kReduceXor,  // __reduce_*_sync
  kMatchAny, kMatchAll,
};
int barrier(int kind, int pred);
void warp_shfl(int kind, unsigned mask, const void* in, void* out, unsigned size, int b, int width);
// Votes, __syncwarp, __reduce_*_sync and __match_*_sync. value: the lane's predicate or operand
// (64 bits so match works for 8-byte types); is_signed: for reduce min/max; size for match.
unsigned long long warp_vote(int kind, unsigned mask, unsigned long long value, bool is_signed = false,
                             unsigned size = 4, int* pred_out = nullptr);
unsigned active_mask();
void nanosleep_yield();
[[noreturn]] void trap(const char* what);

// The typed half of a launch: the kernel and its arguments, copied once, by value.
template <class... KArgs>
struct Thunk {
  void (*kernel)(KArgs...);
  std::tuple<std::decay_t<KArgs>...> args;

  static void run_thread(const void* p) {
    const Thunk& t = *static_cast<const Thunk*>(p);
    std::apply(t.kernel, t.args);
  }
  // The barrier-free path: a plain loop over the threads of the current block.
  static void run_block_flat(const void* p, bool reverse) {
    const Thunk& t = *static_cast<const Thunk*>(p);
    const dim3 bd = t_block_dim;
    if (!reverse) {
      for (unsigned z = 0; z < bd.z; ++z)
        for (unsigned y = 0; y < bd.y; ++y)
          for (unsigned x = 0; x < bd.x; ++x) {
            t_thread_idx = uint3{x, y, z};
            std::apply(t.kernel, t.args);
          }
    } else {
      for (unsigned z = bd.z; z-- > 0;)
        for (unsigned y = bd.y; y-- > 0;)
          for (unsigned x = bd.x; x-- > 0;) {
            t_thread_idx = uint3{x, y, z};
            std::apply(t.kernel, t.args);
          }
    }
  }
};

template <class... KArgs, class... Args>
void launch_impl(bool flat, const char* api, void (*kernel)(KArgs...), dim3 grid, dim3 block,
                 std::size_t smem, Args&&... args) {
  static_assert(sizeof...(KArgs) == sizeof...(Args),
                "lc::simt::launch: the number of arguments does not match the kernel's parameters");
  static_assert((std::is_copy_constructible_v<std::decay_t<KArgs>> && ...),
                "lc::simt::launch: kernel parameters must be copyable values");
  ::lc::kernel_launch_counter().fetch_add(1, std::memory_order_relaxed);  // as the nvcc half does
  using T = Thunk<KArgs...>;
  const T thunk{kernel, typename std::tuple<std::decay_t<KArgs>...>(std::forward<Args>(args)...)};
  LaunchSpec spec{&T::run_thread, &T::run_block_flat, &thunk,
                  reinterpret_cast<const void*>(kernel), grid, block, smem, flat, api};
  run_launch(spec);
}

// Correctly rounded-toward-zero float of the exact value hi + lo (|lo| <= ulp(hi)/2).
inline float to_float_rz(double hi, double lo) {
  const float f = static_cast<float>(hi);
  if (!std::isfinite(f) || f == 0.0f) {
    if (std::isinf(f) && std::isfinite(hi)) return std::copysign(FLT_MAX, f);
    return f;
  }
  // f - exact = (f - hi) - lo, where f - hi is exact in double.
  const double d = (static_cast<double>(f) - hi) - lo;
  if ((f > 0 && d > 0) || (f < 0 && d < 0)) return std::nextafter(f, 0.0f);
  return f;
}
inline float fmaf_rz(float a, float b, float c) {
  const double p = static_cast<double>(a) * static_cast<double>(b);  // exact
  const double s = p + static_cast<double>(c);
  const double bp = s - static_cast<double>(c);
  const double err = (p - bp) + (static_cast<double>(c) - (s - bp));  // two-sum: s + err exact
  if (!std::isfinite(s)) return std::fmaf(a, b, c);
  return to_float_rz(s, err);
}
template <class To, class From>
inline To float_to_int_sat(From v) {
  if (std::isnan(v)) return 0;
  if (v <= static_cast<From>(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
  if (v >= static_cast<From>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
  return static_cast<To>(v);
}
inline float saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0
template <class T>
inline T ldg(const T* p) { return *p; }

}  // namespace detail

// ---- launch API (mirrors the nvcc half of simt.h) ---------------------------------------------
// Synchronous: returns when the whole grid has run. The stream is ignored. The arguments are
// converted to the kernel's parameter types and copied once, like a real launch.
template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem, stream_t stream,
            Args&&... args) {
  (void)stream;
  detail::launch_impl(false, "launch", kernel, grid, block, smem, std::forward<Args>(args)...);
}
// For kernels without barriers or warp ops: a plain loop, no fibers (about 4x faster). Traps
// with an lc::Error if the kernel reaches a barrier or warp op after all.
template <class... KArgs, class... Args>
void launch_flat(void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem, stream_t stream,
                 Args&&... args) {
  (void)stream;
  detail::launch_impl(true, "launch_flat", kernel, grid, block, smem, std::forward<Args>(args)...);
}
// Opt a kernel in to more than 48 KiB of dynamic shared memory (at most 227 KiB).
template <class... KArgs>
void set_max_dynamic_shared(void (*kernel)(KArgs...), int bytes) {
  detail::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), bytes);
}
// The block's dynamic shared memory: 16-byte aligned, exactly the launch's size (so ASan sees
// overruns), filled with 0xFF bytes (NaN as float) at the start of every block.
template <class T>
inline T* dynamic_shared() {
  return reinterpret_cast<T*>(detail::t_dyn_smem);
}

// ---- barriers, fences ---------------------------------------------------------------------
inline void __syncthreads() { detail::barrier(detail::kBarSync, 1); }
inline int __syncthreads_count(int pred) { return detail::barrier(detail::kBarCount, pred); }
inline int __syncthreads_and(int pred) { return detail::barrier(detail::kBarAnd, pred); }
inline int __syncthreads_or(int pred) { return detail::barrier(detail::kBarOr, pred); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
// A yield point: the other threads of the block run before this one continues.
inline void __nanosleep(unsigned ns) {
  (void)ns;
  detail::nanosleep_yield();
}
[[noreturn]] inline void __trap() { detail::trap("__trap()"); }

// ---- warp ops (sm_70+ semantics: the lanes named in mask rendezvous) ---------------------------
namespace detail {
template <class T>
inline void check_shfl_type() {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 16,
                "warp shuffles take trivially copyable values of at most 16 bytes");
}
template <class T>
inline unsigned long long match_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && (sizeof(T) == 4 || sizeof(T) == 8),
                "__match_*_sync takes 32- or 64-bit values");
  unsigned long long bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
}  // namespace detail
template <class T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
  detail::check_shfl_type<T>();
  T out = var;
  detail::warp_shfl(detail::kShflIdx, mask, &var, &out, sizeof(T), srcLane, width);
  return out;
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  detail::check_shfl_type<T>();
  T out = var;
  detail::warp_shfl(detail::kShflUp, mask, &var, &out, sizeof(T), static_cast<int>(delta), width);
  return out;
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  detail::check_shfl_type<T>();
  T out = var;
  detail::warp_shfl(detail::kShflDown, mask, &var, &out, sizeof(T), static_cast<int>(delta), width);
  return out;
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
  detail::check_shfl_type<T>();
  T out = var;
  detail::warp_shfl(detail::kShflXor, mask, &var, &out, sizeof(T), laneMask, width);
  return out;
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return static_cast<unsigned>(detail::warp_vote(detail::kBallot, mask, pred != 0));
}
inline int __any_sync(unsigned mask, int pred) {
  return static_cast<int>(detail::warp_vote(detail::kAny, mask, pred != 0));
}
inline int __all_sync(unsigned mask, int pred) {
  return static_cast<int>(detail::warp_vote(detail::kAll, mask, pred != 0));
}
inline void __syncwarp(unsigned mask = 0xffffffffu) { detail::warp_vote(detail::kSyncwarp, mask, 0); }
inline unsigned __activemask() { return detail::active_mask(); }
// sm_80 warp reductions.
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) {
  return static_cast<unsigned>(detail::warp_vote(detail::kReduceAdd, mask, v));
}
inline int __reduce_add_sync(unsigned mask, int v) {
  return static_cast<int>(detail::warp_vote(detail::kReduceAdd, mask, static_cast<unsigned>(v)));
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) {
  return static_cast<unsigned>(detail::warp_vote(detail::kReduceMin, mask, v));
}
inline int __reduce_min_sync(unsigned mask, int v) {
  return static_cast<int>(detail::warp_vote(detail::kReduceMin, mask, static_cast<unsigned>(v), true));
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) {
  return static_cast<unsigned>(detail::warp_vote(detail::kReduceMax, mask, v));
}
inline int __reduce_max_sync(unsigned mask, int v) {
  return static_cast<int>(detail::warp_vote(detail::kReduceMax, mask, static_cast<unsigned>(v), true));
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned v) {
  return static_cast<unsigned>(detail::warp_vote(detail::kReduceAnd, mask, v));
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned v) {
  return static_cast<unsigned>(detail::warp_vote(detail::kReduceOr, mask, v));
}
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v) {
  return static_cast<unsigned>(detail::warp_vote(detail::kReduceXor, mask, v));
}
template <class T>
inline unsigned __match_any_sync(unsigned mask, T value) {
  return static_cast<unsigned>(
      detail::warp_vote(detail::kMatchAny, mask, detail::match_bits(value), false, sizeof(T)));
}
template <class T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred) {
  return static_cast<unsigned>(
      detail::warp_vote(detail::kMatchAll, mask, detail::match_bits(value), false, sizeof(T), pred));
}

// ---- integer intrinsics --------------------------------------------------------------------
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned>(x)) + 1; }
inline int __ffsll(long long x) {
  return x == 0 ? 0 : std::countr_zero(static_cast<unsigned long long>(x)) + 1;
}
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
  return (x >> 16) | (x << 16);
}
inline unsigned long long __brevll(unsigned long long x) {
  return (static_cast<unsigned long long>(__brev(static_cast<unsigned>(x))) << 32) |
         __brev(static_cast<unsigned>(x >> 32));
}
inline int __mulhi(int a, int b) {
  return static_cast<int>((static_cast<long long>(a) * b) >> 32);
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  const unsigned long long alo = a & 0xffffffffu, ahi = a >> 32, blo = b & 0xffffffffu, bhi = b >> 32;
  const unsigned long long lo_lo = alo * blo, hi_lo = ahi * blo, lo_hi = alo * bhi, hi_hi = ahi * bhi;
  const unsigned long long mid = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
  return hi_hi + (hi_lo >> 32) + (mid >> 32);
}
inline int __mul24(int a, int b) {
  return static_cast<int>(static_cast<unsigned>((a << 8) >> 8) * static_cast<unsigned>((b << 8) >> 8));
}
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xFFFFFFu) * (b & 0xFFFFFFu); }
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const unsigned long long v = (static_cast<unsigned long long>(y) << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<unsigned>((v >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
}

// ---- atomics (relaxed, like the GPU's; std::atomic_ref) --------------------------------------
namespace detail {
template <class T>
inline std::atomic_ref<T> aref(T* p) {
  return std::atomic_ref<T>(*p);
}
template <class T>
inline T atomic_min(T* p, T v) {
  auto r = aref(p);
  T old = r.load(std::memory_order_relaxed);
  while (v < old && !r.compare_exchange_weak(old, v, std::memory_order_relaxed)) {
  }
  return old;
}
template <class T>
inline T atomic_max(T* p, T v) {
  auto r = aref(p);
  T old = r.load(std::memory_order_relaxed);
  while (old < v && !r.compare_exchange_weak(old, v, std::memory_order_relaxed)) {
  }
  return old;
}
template <class T>
inline T atomic_cas(T* p, T compare, T val) {
  aref(p).compare_exchange_strong(compare, val, std::memory_order_relaxed);
  return compare;  // the old value either way
}
}  // namespace detail

namespace detail {
inline constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace detail
inline int atomicAdd(int* p, int v) { return detail::aref(p).fetch_add(v, detail::kRelaxed); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return detail::aref(p).fetch_add(v, detail::kRelaxed); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return detail::aref(p).fetch_add(v, detail::kRelaxed);
}
inline float atomicAdd(float* p, float v) { return detail::aref(p).fetch_add(v, detail::kRelaxed); }
inline double atomicAdd(double* p, double v) { return detail::aref(p).fetch_add(v, detail::kRelaxed); }
inline int atomicSub(int* p, int v) { return detail::aref(p).fetch_sub(v, detail::kRelaxed); }
inline unsigned atomicSub(unsigned* p, unsigned v) { return detail::aref(p).fetch_sub(v, detail::kRelaxed); }
inline int atomicExch(int* p, int v) { return detail::aref(p).exchange(v, detail::kRelaxed); }
inline unsigned atomicExch(unsigned* p, unsigned v) { return detail::aref(p).exchange(v, detail::kRelaxed); }
inline unsigned long long atomicExch(unsigned long long* p, unsigned long long v) {
  return detail::aref(p).exchange(v, detail::kRelaxed);
}
inline float atomicExch(float* p, float v) { return detail::aref(p).exchange(v, detail::kRelaxed); }
inline int atomicMin(int* p, int v) { return detail::atomic_min(p, v); }
inline unsigned atomicMin(unsigned* p, unsigned v) { return detail::atomic_min(p, v); }
inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
  return detail::atomic_min(p, v);
}
inline long long atomicMin(long long* p, long long v) { return detail::atomic_min(p, v); }
inline int atomicMax(int* p, int v) { return detail::atomic_max(p, v); }
inline unsigned atomicMax(unsigned* p, unsigned v) { return detail::atomic_max(p, v); }
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) {
  return detail::atomic_max(p, v);
}
inline long long atomicMax(long long* p, long long v) { return detail::atomic_max(p, v); }
inline int atomicCAS(int* p, int compare, int val) { return detail::atomic_cas(p, compare, val); }
inline unsigned atomicCAS(unsigned* p, unsigned compare, unsigned val) {
  return detail::atomic_cas(p, compare, val);
}
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long compare,
                                    unsigned long long val) {
  return detail::atomic_cas(p, compare, val);
}
inline unsigned short atomicCAS(unsigned short* p, unsigned short compare, unsigned short val) {
  return detail::atomic_cas(p, compare, val);
}
inline int atomicAnd(int* p, int v) { return detail::aref(p).fetch_and(v, detail::kRelaxed); }
inline unsigned atomicAnd(unsigned* p, unsigned v) { return detail::aref(p).fetch_and(v, detail::kRelaxed); }
inline unsigned long long atomicAnd(unsigned long long* p, unsigned long long v) {
  return detail::aref(p).fetch_and(v, detail::kRelaxed);
}
inline int atomicOr(int* p, int v) { return detail::aref(p).fetch_or(v, detail::kRelaxed); }
inline unsigned atomicOr(unsigned* p, unsigned v) { return detail::aref(p).fetch_or(v, detail::kRelaxed); }
inline unsigned long long atomicOr(unsigned long long* p, unsigned long long v) {
  return detail::aref(p).fetch_or(v, detail::kRelaxed);
}
inline int atomicXor(int* p, int v) { return detail::aref(p).fetch_xor(v, detail::kRelaxed); }
inline unsigned atomicXor(unsigned* p, unsigned v) { return detail::aref(p).fetch_xor(v, detail::kRelaxed); }
inline unsigned long long atomicXor(unsigned long long* p, unsigned long long v) {
  return detail::aref(p).fetch_xor(v, detail::kRelaxed);
}
// ((old >= val) ? 0 : old + 1)
inline unsigned atomicInc(unsigned* p, unsigned val) {
  auto r = detail::aref(p);
  unsigned old = r.load(detail::kRelaxed);
  while (!r.compare_exchange_weak(old, old >= val ? 0u : old + 1u, detail::kRelaxed)) {
  }
  return old;
}
// (((old == 0) || (old > val)) ? val : old - 1)
inline unsigned atomicDec(unsigned* p, unsigned val) {
  auto r = detail::aref(p);
  unsigned old = r.load(detail::kRelaxed);
  while (!r.compare_exchange_weak(old, (old == 0u || old > val) ? val : old - 1u, detail::kRelaxed)) {
  }
  return old;
}

// ---- math: CUDA's device functions that <cmath> lacks ---------------------------------------------
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float fdividef(float a, float b) { return a / b; }
inline float saturatef(float x) { return detail::saturatef(x); }
// CUDA's min/max for any mix of arithmetic types (floating point: fmin/fmax semantics).
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmin(C(a), C(b));
  else return C(b) < C(a) ? C(b) : C(a);
}
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmax(C(a), C(b));
  else return C(a) < C(b) ? C(b) : C(a);
}

}  // namespace lc::simt

// ---- visibility inside kernel code ---------------------------------------------------------
namespace lc::sim {
// vector types and their make_ functions
#define LC_SIMT_USING_VEC(T) using simt::T; using simt::make_##T;
LC_SIMT_USING_VEC(char2) LC_SIMT_USING_VEC(char3) LC_SIMT_USING_VEC(char4)
LC_SIMT_USING_VEC(uchar2) LC_SIMT_USING_VEC(uchar3) LC_SIMT_USING_VEC(uchar4)
LC_SIMT_USING_VEC(short2) LC_SIMT_USING_VEC(short3) LC_SIMT_USING_VEC(short4)
LC_SIMT_USING_VEC(ushort2) LC_SIMT_USING_VEC(ushort3) LC_SIMT_USING_VEC(ushort4)
LC_SIMT_USING_VEC(int2) LC_SIMT_USING_VEC(int3) LC_SIMT_USING_VEC(int4)
LC_SIMT_USING_VEC(uint2) LC_SIMT_USING_VEC(uint3) LC_SIMT_USING_VEC(uint4)
LC_SIMT_USING_VEC(longlong2) LC_SIMT_USING_VEC(ulonglong2)
LC_SIMT_USING_VEC(float2) LC_SIMT_USING_VEC(float3) LC_SIMT_USING_VEC(float4)
LC_SIMT_USING_VEC(double2) LC_SIMT_USING_VEC(double3)
#undef LC_SIMT_USING_VEC
using simt::dim3;
using simt::warpSize;
// barriers, warp ops
using simt::__syncthreads; using simt::__syncthreads_count; using simt::__syncthreads_and;
using simt::__syncthreads_or; using simt::__threadfence; using simt::__threadfence_block;
using simt::__threadfence_system; using simt::__nanosleep; using simt::__trap;
using simt::__shfl_sync; using simt::__shfl_up_sync; using simt::__shfl_down_sync;
using simt::__shfl_xor_sync; using simt::__ballot_sync; using simt::__any_sync; using simt::__all_sync;
using simt::__syncwarp; using simt::__activemask;
using simt::__reduce_add_sync; using simt::__reduce_min_sync; using simt::__reduce_max_sync;
using simt::__reduce_and_sync; using simt::__reduce_or_sync; using simt::__reduce_xor_sync;
using simt::__match_any_sync; using simt::__match_all_sync;
// integer intrinsics
using simt::__popc; using simt::__popcll; using simt::__clz; using simt::__clzll; using simt::__ffs;
using simt::__ffsll; using simt::__brev; using simt::__brevll; using simt::__mulhi; using simt::__umulhi;
using simt::__umul64hi; using simt::__mul24; using simt::__umul24; using simt::__byte_perm;
// atomics
using simt::atomicAdd; using simt::atomicSub; using simt::atomicExch; using simt::atomicMin;
using simt::atomicMax; using simt::atomicCAS; using simt::atomicAnd; using simt::atomicOr;
using simt::atomicXor; using simt::atomicInc; using simt::atomicDec;
// math: CUDA's extra functions, and the std overloads (sqrt(float) is float, as in CUDA).
// The C functions (expf, fmaxf, log1pf, ...) are reachable from the global namespace.
using simt::rsqrtf; using simt::rsqrt; using simt::fdividef; using simt::saturatef;
using simt::min; using simt::max;
using std::abs; using std::fabs; using std::sqrt; using std::cbrt; using std::exp; using std::exp2;
using std::expm1; using std::log; using std::log2; using std::log10; using std::log1p; using std::pow;
using std::sin; using std::cos; using std::tan; using std::asin; using std::acos; using std::atan;
using std::atan2; using std::sinh; using std::cosh; using std::tanh; using std::asinh; using std::acosh;
using std::atanh; using std::erf; using std::erfc; using std::lgamma; using std::tgamma;
using std::hypot; using std::floor; using std::ceil; using std::round; using std::trunc;
using std::rint; using std::nearbyint; using std::lrint; using std::llrint; using std::lround;
using std::llround; using std::fmod; using std::remainder; using std::fmin; using std::fmax;
using std::fdim; using std::fma; using std::copysign; using std::nextafter; using std::frexp;
using std::ldexp; using std::scalbn; using std::modf; using std::isnan; using std::isinf;
using std::isfinite; using std::signbit;
}  // namespace lc::sim

// ---- builtin variables (read-only values) ----------------------------------------------------------
#define threadIdx (::lc::simt::detail::thread_idx())
#define blockIdx (::lc::simt::detail::block_idx())
#define blockDim (::lc::simt::detail::block_dim())
#define gridDim (::lc::simt::detail::grid_dim())

// ---- math intrinsics: macros, because glibc declares functions with some of these names ---------
// The fast-math ones (__expf, __logf, ...) are exact here; on the GPU they are approximate.
#define __expf(x) (::expf(static_cast<float>(x)))
#define __exp10f(x) (::exp10f(static_cast<float>(x)))
#define __logf(x) (::logf(static_cast<float>(x)))
#define __log2f(x) (::log2f(static_cast<float>(x)))
#define __log10f(x) (::log10f(static_cast<float>(x)))
#define __sinf(x) (::sinf(static_cast<float>(x)))
#define __cosf(x) (::cosf(static_cast<float>(x)))
#define __tanf(x) (::tanf(static_cast<float>(x)))
#define __sincosf(x, s, c) (::sincosf(static_cast<float>(x), (s), (c)))
#define __powf(x, y) (::powf(static_cast<float>(x), static_cast<float>(y)))
#define __fdividef(x, y) (static_cast<float>(x) / static_cast<float>(y))
#define __saturatef(x) (::lc::simt::detail::saturatef(static_cast<float>(x)))
#define __frcp_rn(x) (1.0f / static_cast<float>(x))
#define __fsqrt_rn(x) (::sqrtf(static_cast<float>(x)))
#define __frsqrt_rn(x) (1.0f / ::sqrtf(static_cast<float>(x)))
#define __fmul_rn(x, y) (static_cast<float>(x) * static_cast<float>(y))
#define __fadd_rn(x, y) (static_cast<float>(x) + static_cast<float>(y))
#define __fsub_rn(x, y) (static_cast<float>(x) - static_cast<float>(y))
#define __fdiv_rn(x, y) (static_cast<float>(x) / static_cast<float>(y))
#define __fmaf_rn(x, y, z) (::fmaf(static_cast<float>(x), static_cast<float>(y), static_cast<float>(z)))
#define __fmaf_rz(x, y, z) \
  (::lc::simt::detail::fmaf_rz(static_cast<float>(x), static_cast<float>(y), static_cast<float>(z)))
#define __dsqrt_rn(x) (::sqrt(static_cast<double>(x)))
#define __float2int_rn(x) (::lc::simt::detail::float_to_int_sat<int>(::rintf(static_cast<float>(x))))
#define __float2int_rz(x) (::lc::simt::detail::float_to_int_sat<int>(::truncf(static_cast<float>(x))))
#define __float2int_rd(x) (::lc::simt::detail::float_to_int_sat<int>(::floorf(static_cast<float>(x))))
#define __float2int_ru(x) (::lc::simt::detail::float_to_int_sat<int>(::ceilf(static_cast<float>(x))))
#define __float2uint_rn(x) \
  (::lc::simt::detail::float_to_int_sat<unsigned>(::rintf(static_cast<float>(x))))
#define __float2uint_rz(x) \
  (::lc::simt::detail::float_to_int_sat<unsigned>(::truncf(static_cast<float>(x))))
#define __int2float_rn(x) (static_cast<float>(static_cast<int>(x)))
#define __uint2float_rn(x) (static_cast<float>(static_cast<unsigned>(x)))
#define __int_as_float(x) (::std::bit_cast<float>(static_cast<int>(x)))
#define __float_as_int(x) (::std::bit_cast<int>(static_cast<float>(x)))
#define __uint_as_float(x) (::std::bit_cast<float>(static_cast<unsigned>(x)))
#define __float_as_uint(x) (::std::bit_cast<unsigned>(static_cast<float>(x)))
#define __double_as_longlong(x) (::std::bit_cast<long long>(static_cast<double>(x)))
#define __longlong_as_double(x) (::std::bit_cast<double>(static_cast<long long>(x)))
#define __ldg(p) (::lc::simt::detail::ldg(p))

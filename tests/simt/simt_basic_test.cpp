// Host SIMT emulator: launch geometry and indices, argument passing, barriers, shared memory,
// nested device functions, atomics, intrinsics, exceptions, schedule order. Kernels are written
// as CUDA (namespace lc::sim) and run by the emulator. Depends on: kernels/simt, GoogleTest.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "kernels/common/launch_count.h"
#include "kernels/simt/simt.h"
#include "tests/simt/simt_test_util.h"

using lc::simt_test::expect_error;
using lc::simt_test::ScopedConfig;

namespace lc::LC_KERNEL_NS {
namespace {

// ---- kernels --------------------------------------------------------------------------------
struct Geometry {
  unsigned tx, ty, tz, bx, by, bz, bdx, bdy, bdz, gdx, gdy, gdz;
  int warp_size;
};

__global__ void geometry_kernel(Geometry* out) {
  const unsigned bid = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
  out[bid * nthreads + tid] = Geometry{threadIdx.x, threadIdx.y, threadIdx.z, blockIdx.x, blockIdx.y, blockIdx.z,
                                       blockDim.x,  blockDim.y,  blockDim.z,  gridDim.x,  gridDim.y,  gridDim.z,
                                       warpSize};
}

struct Params {
  float scale;
  int offset;
  float table[4];
};

// Parameters are per-thread copies: modifying one changes nothing for the other threads.
__global__ void params_kernel(Params p, float x, const float* in, float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  p.offset += i;
  if (i < n) out[i] = in[i] * p.scale + static_cast<float>(p.offset) + p.table[i % 4] + x;
}

__global__ void nullptr_kernel(const float* maybe, int* out) { out[threadIdx.x] = maybe == nullptr ? 1 : 0; }

__global__ void barrier_reverse_kernel(const int* in, int* out) {
  __shared__ int s[256];
  const unsigned t = threadIdx.x;
  s[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  int v = s[blockDim.x - 1 - t];
  __syncthreads();  // everyone has read before anyone writes again
  s[t] = v * 2;
  __syncthreads();
  out[blockIdx.x * blockDim.x + t] = s[(t + 1) % blockDim.x];
}

__global__ void barrier_count_kernel(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int count = __syncthreads_count(t % 3 == 0);
  const int all_pos = __syncthreads_and(t >= 0);
  const int all_small = __syncthreads_and(t < 10);
  const int any_big = __syncthreads_or(t == static_cast<int>(blockDim.x) - 1);
  const int none = __syncthreads_or(0);
  if (t == 0) {
    out[0] = count;
    out[1] = all_pos;
    out[2] = all_small;
    out[3] = any_big;
    out[4] = none;
  }
}

// Threads that exit early count as arrived at later barriers (outside strict mode).
__global__ void early_exit_kernel(int* out) {
  __shared__ int s[128];
  const unsigned t = threadIdx.x;
  if (t >= 100) return;
  s[t] = static_cast<int>(t);
  __syncthreads();
  out[t] = s[99 - t];
}

// Same static __shared__ array in every block: each block must see only its own values.
__global__ void static_smem_blocks_kernel(int* out) {
  __shared__ int s[64];
  s[threadIdx.x] = static_cast<int>(blockIdx.x * 1000 + threadIdx.x);
  __syncthreads();
  int sum = 0;
  for (int k = 0; k < 64; ++k) sum += s[k];
  __syncthreads();
  out[blockIdx.x * 64 + threadIdx.x] = sum;
}

__global__ void dynamic_smem_kernel(int n, unsigned* poison_seen, float* out) {
  float* s = lc::simt::dynamic_shared<float>();
  const int t = static_cast<int>(threadIdx.x);
  // Dynamic shared memory starts every block as 0xFF bytes.
  unsigned bits;
  std::memcpy(&bits, &s[t], 4);
  if (bits != 0xFFFFFFFFu) atomicAdd(poison_seen, 1u);
  s[t] = static_cast<float>(t + static_cast<int>(blockIdx.x));
  __syncthreads();
  out[blockIdx.x * n + t] = s[n - 1 - t];
}

__global__ void dynamic_smem_align_kernel(std::uintptr_t* out) {
  out[0] = reinterpret_cast<std::uintptr_t>(lc::simt::dynamic_shared<float4>());
}

__global__ void big_smem_kernel(int bytes, int* out) {
  unsigned char* s = lc::simt::dynamic_shared<unsigned char>();
  for (int i = static_cast<int>(threadIdx.x); i < bytes; i += static_cast<int>(blockDim.x))
    s[i] = static_cast<unsigned char>(i);
  __syncthreads();
  if (threadIdx.x == 0) {
    int ok = 1;
    for (int i = 0; i < bytes; ++i) ok &= s[i] == static_cast<unsigned char>(i);
    out[0] = ok;
  }
}

// Nested device functions: a barrier deep in the call stack, static __shared__ at block scope in
// a device function template, recursion.
template <int N>
__device__ float block_sum(float v) {
  __shared__ float s[N];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int stride = N / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  const float r = s[0];
  __syncthreads();
  return r;
}
__device__ __forceinline__ float square(float x) { return x * x; }
__device__ int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
__device__ float level2(float v) { return block_sum<128>(square(v)); }
__device__ float level1(float v) { return level2(v) + static_cast<float>(fib(10)); }

__global__ void nested_kernel(const float* in, float* out) {
  const float v = in[blockIdx.x * 128 + threadIdx.x];
  const float a = level1(v);          // sum of squares + 55
  const float b = block_sum<128>(v);  // sum
  if (threadIdx.x == 0) {
    out[blockIdx.x * 2] = a;
    out[blockIdx.x * 2 + 1] = b;
  }
}

struct AtomicCounters {
  int i_add;
  unsigned u_add;
  unsigned long long ull_add;
  float f_add;
  double d_add;
  int i_sub;
  unsigned u_sub;
  int i_min, i_max;
  unsigned u_min, u_max;
  unsigned long long ull_min, ull_max;
  long long ll_min, ll_max;
  unsigned and_bits, or_bits, xor_bits;
  unsigned long long ull_or;
  unsigned inc, dec;
  int cas_counter;
  unsigned long long cas_ull;
  int exch;
};

__global__ void atomics_kernel(AtomicCounters* c, int* slots) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(&c->i_add, 1);
  atomicAdd(&c->u_add, 2u);
  atomicAdd(&c->ull_add, 3ull);
  atomicAdd(&c->f_add, 1.0f);
  atomicAdd(&c->d_add, 0.5);
  atomicSub(&c->i_sub, 1);
  atomicSub(&c->u_sub, 1u);
  atomicMin(&c->i_min, i - 1000);
  atomicMax(&c->i_max, i - 1000);
  atomicMin(&c->u_min, static_cast<unsigned>(i + 5));
  atomicMax(&c->u_max, static_cast<unsigned>(i + 5));
  atomicMin(&c->ull_min, static_cast<unsigned long long>(i) + (1ull << 40));
  atomicMax(&c->ull_max, static_cast<unsigned long long>(i) + (1ull << 40));
  atomicMin(&c->ll_min, static_cast<long long>(i) - (1ll << 40));
  atomicMax(&c->ll_max, static_cast<long long>(i) - (1ll << 40));
  atomicAnd(&c->and_bits, ~(1u << (i % 32)));
  atomicOr(&c->or_bits, 1u << (i % 32));
  atomicXor(&c->xor_bits, 1u << (i % 32));
  atomicOr(&c->ull_or, 1ull << (i % 64));
  atomicInc(&c->inc, 99u);
  atomicDec(&c->dec, 99u);
  // A lock-free increment through CAS.
  int old = c->cas_counter, assumed;
  do {
    assumed = old;
    old = atomicCAS(&c->cas_counter, assumed, assumed + 1);
  } while (old != assumed);
  unsigned long long o = c->cas_ull, a;
  do {
    a = o;
    o = atomicCAS(&c->cas_ull, a, a + 2);
  } while (o != a);
  // Every exchanged-out value is unique: slots counts how often each was seen.
  const int prev = atomicExch(&c->exch, i);
  atomicAdd(&slots[prev + 1], 1);
}

// Spin-wait on another thread of the same block, with __nanosleep as the yield point.
__global__ void spin_kernel(int* flag, int* out) {
  if (threadIdx.x == 0) {
    while (std::atomic_ref<int>(*flag).load() == 0) __nanosleep(100);
    out[0] = 1;
  } else if (threadIdx.x == blockDim.x - 1) {
    std::atomic_ref<int>(*flag).store(1);
  }
}

__global__ void order_kernel(int* ticket, int* first, int* second) {
  const unsigned t = threadIdx.x;
  first[t] = atomicAdd(ticket, 1);
  __syncthreads();
  second[t] = atomicAdd(ticket, 1) - static_cast<int>(blockDim.x);
}

__global__ void throwing_kernel(int bad_thread, int* out) {
  if (static_cast<int>(threadIdx.x) == bad_thread && blockIdx.x == 1) throw std::runtime_error("boom from a kernel");
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

__global__ void check_kernel(int n) { LC_CHECK(static_cast<int>(threadIdx.x) < n, "thread ", threadIdx.x, " too big"); }

__global__ void flat_index_kernel(int n, int* out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = i * 3;
}

__global__ void flat_throw_kernel() {
  if (blockIdx.x == 2 && threadIdx.x == 7) throw std::runtime_error("flat boom");
}

__global__ void empty_kernel() {}

__global__ void nested_launch_kernel() { lc::simt::launch(empty_kernel, 1, 1, 0, nullptr); }

__global__ void big_stack_kernel(int* out) {
  volatile char buf[100 * 1024];
  for (unsigned i = 0; i < sizeof buf; i += 4096) buf[i] = static_cast<char>(i);
  out[threadIdx.x] = buf[4096];
}

__global__ void intrinsics_kernel(float* f, int* n) {
  f[0] = __expf(1.0f);
  f[1] = __logf(2.0f);
  f[2] = __saturatef(-1.0f);
  f[3] = __saturatef(2.0f);
  f[4] = __saturatef(NAN);
  f[5] = __fdividef(1.0f, 4.0f);
  f[6] = __frcp_rn(8.0f);
  f[7] = __fsqrt_rn(9.0f);
  f[8] = __fmaf_rn(2.0f, 3.0f, 1.0f);
  f[9] = __int_as_float(0x3f800000);
  f[10] = __uint_as_float(0x40000000u);
  f[11] = rsqrtf(4.0f);
  f[12] = __powf(2.0f, 10.0f);
  f[13] = __sinf(0.0f) + __cosf(0.0f);
  f[14] = fmaxf(1.0f, NAN) + fminf(-1.0f, 2.0f) + expm1f(0.0f) + log1pf(0.0f);
  f[15] = sqrt(16.0f) + max(1.0f, 2) + min(3, 4u);
  f[16] = __fmul_rn(3.0f, 4.0f) + __fadd_rn(1.0f, 2.0f);
  f[17] = __ldg(&f[16]);
  n[0] = __float2int_rn(2.5f);
  n[1] = __float2int_rn(3.5f);
  n[2] = __float2int_rn(-2.5f);
  n[3] = __float2int_rz(-2.7f);
  n[4] = __float2int_rn(1e10f);
  n[5] = __float2int_rn(-1e10f);
  n[6] = __float2int_rn(NAN);
  n[7] = __float_as_int(1.0f);
  n[8] = static_cast<int>(__float_as_uint(2.0f));
  n[9] = __popc(0xF0F0u);
  n[10] = __popcll(0xFFFFFFFFFFull);
  n[11] = __clz(0);
  n[12] = __clz(1);
  n[13] = __ffs(0);
  n[14] = __ffs(8);
  n[15] = static_cast<int>(__brev(1u) >> 16);
  n[16] = __clz(-1);
}

__global__ void fmaf_rz_kernel(float* out) {
  const float a = 1.0f + std::ldexp(1.0f, -12);
  const float c = std::ldexp(1.0f, -30);
  out[0] = __fmaf_rz(a, a, c);
  out[1] = __fmaf_rn(a, a, c);
  out[2] = __fmaf_rz(-a, a, -c);
  out[3] = __fmaf_rn(-a, a, -c);
}

// Compile-time checks of what kernel code sees.
static_assert(std::is_same_v<decltype(sqrt(1.0f)), float>, "sqrt(float) must be float, as in CUDA");
static_assert(std::is_same_v<decltype(min(1, 2u)), unsigned>);
static_assert(std::is_same_v<decltype(threadIdx), lc::simt::uint3>);
static_assert(std::is_same_v<decltype(blockDim), lc::simt::dim3>);
static_assert(alignof(float4) == 16 && alignof(int4) == 16 && alignof(float2) == 8);
static_assert(sizeof(uchar3) == 3 && alignof(uchar4) == 4 && sizeof(double2) == 16);

}  // namespace
}  // namespace lc::LC_KERNEL_NS

namespace {

namespace sim = lc::sim;
using lc::simt::dim3;

// ---- tests -------------------------------------------------------------------------------------
TEST(SimtTypes, VectorTypesAndDim3) {
  const dim3 d;
  EXPECT_EQ(d.x, 1u);
  EXPECT_EQ(d.y, 1u);
  EXPECT_EQ(d.z, 1u);
  const dim3 e = 7u;
  EXPECT_EQ(e.x, 7u);
  EXPECT_EQ(e.y, 1u);
  const dim3 f(2, 3);
  EXPECT_EQ(f.z, 1u);
  const lc::simt::uint3 u = f;
  EXPECT_EQ(u.y, 3u);
  const sim::float4 v = sim::make_float4(1, 2, 3, 4);
  EXPECT_EQ(v.w, 4.0f);
  const sim::int2 i2 = sim::make_int2(-1, 5);
  EXPECT_EQ(i2.x + i2.y, 4);
  const sim::uchar4 c = sim::make_uchar4(1, 2, 3, 255);
  EXPECT_EQ(c.w, 255);
  const sim::float3 f3{1, 2, 3};
  EXPECT_EQ(f3.z, 3.0f);
}

class SimtLaunchGeometry : public ::testing::TestWithParam<std::tuple<dim3, dim3>> {};

TEST_P(SimtLaunchGeometry, IndicesCoverTheGrid) {
  const auto [grid, block] = GetParam();
  const unsigned nb = grid.x * grid.y * grid.z, nt = block.x * block.y * block.z;
  std::vector<sim::Geometry> out(static_cast<std::size_t>(nb) * nt, sim::Geometry{});
  for (int flat = 0; flat < 2; ++flat) {
    std::fill(out.begin(), out.end(), sim::Geometry{});
    if (flat)
      lc::simt::launch_flat(sim::geometry_kernel, grid, block, 0, nullptr, out.data());
    else
      lc::simt::launch(sim::geometry_kernel, grid, block, 0, nullptr, out.data());
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx)
          for (unsigned tz = 0; tz < block.z; ++tz)
            for (unsigned ty = 0; ty < block.y; ++ty)
              for (unsigned tx = 0; tx < block.x; ++tx) {
                const unsigned b = bx + grid.x * (by + grid.y * bz), t = tx + block.x * (ty + block.y * tz);
                const sim::Geometry& g = out[static_cast<std::size_t>(b) * nt + t];
                ASSERT_TRUE(g.tx == tx && g.ty == ty && g.tz == tz && g.bx == bx && g.by == by && g.bz == bz)
                    << "flat=" << flat << " block " << b << " thread " << t;
                ASSERT_TRUE(g.bdx == block.x && g.bdy == block.y && g.bdz == block.z && g.gdx == grid.x &&
                            g.gdy == grid.y && g.gdz == grid.z && g.warp_size == 32);
              }
  }
}

INSTANTIATE_TEST_SUITE_P(SimtShapes, SimtLaunchGeometry,
                         ::testing::Values(std::make_tuple(dim3(1), dim3(1)), std::make_tuple(dim3(3), dim3(33)),
                                           std::make_tuple(dim3(2, 3, 2), dim3(4, 2, 3)),
                                           std::make_tuple(dim3(5, 1, 1), dim3(1, 7, 1)),
                                           std::make_tuple(dim3(1, 2, 3), dim3(8, 8, 16)),
                                           std::make_tuple(dim3(2), dim3(1024))));

TEST(SimtLaunch, ArgumentsAreConvertedAndCopiedPerThread) {
  const int n = 1000;
  std::vector<float> in(n), out(n, -1.0f);
  std::iota(in.begin(), in.end(), 0.0f);
  const sim::Params p{2.0f, 10, {0.25f, 0.5f, 0.75f, 1.0f}};
  float* in_mut = in.data();  // float* converts to const float*
  lc::simt::launch(sim::params_kernel, (n + 127) / 128, 128, 0, nullptr, p, 3 /* int -> float */, in_mut,
                   out.data(), n);
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(out[i], in[i] * 2.0f + static_cast<float>(10 + i) + p.table[i % 4] + 3.0f) << i;
  std::vector<int> flags(4, 0);
  lc::simt::launch(sim::nullptr_kernel, 1, 4, 0, nullptr, nullptr, flags.data());
  EXPECT_EQ(flags, std::vector<int>(4, 1));
}

TEST(SimtLaunch, LaunchesAreCounted) {
  const std::uint64_t before = lc::kernel_launch_counter().load();
  int out = 0;
  lc::simt::launch(sim::flat_index_kernel, 1, 1, 0, nullptr, 1, &out);
  lc::simt::launch_flat(sim::flat_index_kernel, 1, 1, 0, nullptr, 1, &out);
  EXPECT_EQ(lc::kernel_launch_counter().load() - before, 2u);
}

TEST(SimtLaunch, FlatPathComputesEveryElement) {
  const int n = 100003;
  std::vector<int> out(n, -1);
  lc::simt::launch_flat(sim::flat_index_kernel, (n + 255) / 256, 256, 0, nullptr, n, out.data());
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], i * 3) << i;
}

TEST(SimtLaunch, ResultsDoNotDependOnThePoolSize) {
  ScopedConfig cfg;
  for (int threads : {1, 2, 3, 5}) {
    cfg->threads = threads;
    std::vector<int> in(64 * 256), out(64 * 256, 0);
    std::iota(in.begin(), in.end(), 0);
    lc::simt::launch(sim::barrier_reverse_kernel, 64, 256, 0, nullptr, in.data(), out.data());
    for (int b = 0; b < 64; ++b)
      for (int t = 0; t < 256; ++t)
        ASSERT_EQ(out[b * 256 + t], 2 * in[b * 256 + 255 - (t + 1) % 256]) << "threads=" << threads;
  }
}

TEST(SimtBarrier, SyncthreadsOrdersSharedMemory) {
  std::vector<int> in(8 * 256), out(8 * 256, 0);
  std::iota(in.begin(), in.end(), 100);
  lc::simt::launch(sim::barrier_reverse_kernel, 8, 256, 0, nullptr, in.data(), out.data());
  for (int b = 0; b < 8; ++b)
    for (int t = 0; t < 256; ++t) ASSERT_EQ(out[b * 256 + t], 2 * in[b * 256 + 255 - (t + 1) % 256]);
}

TEST(SimtBarrier, CountAndOr) {
  for (unsigned n : {1u, 31u, 32u, 100u, 1024u}) {
    std::vector<int> out(5, -1);
    lc::simt::launch(sim::barrier_count_kernel, 1, n, 0, nullptr, out.data());
    EXPECT_EQ(out[0], static_cast<int>((n + 2) / 3)) << n;
    EXPECT_EQ(out[1], 1) << n;
    EXPECT_EQ(out[2], n <= 10 ? 1 : 0) << n;
    EXPECT_EQ(out[3], 1) << n;
    EXPECT_EQ(out[4], 0) << n;
  }
}

TEST(SimtBarrier, ExitedThreadsCountAsArrived) {
  ScopedConfig cfg;
  cfg->strict = false;
  std::vector<int> out(100, -1);
  lc::simt::launch(sim::early_exit_kernel, 1, 128, 0, nullptr, out.data());
  for (int t = 0; t < 100; ++t) ASSERT_EQ(out[t], 99 - t);
}

TEST(SimtBarrier, NanosleepSpinWaitMakesProgress) {
  for (unsigned n : {2u, 64u, 300u}) {
    int flag = 0, out = 0;
    lc::simt::launch(sim::spin_kernel, 1, n, 0, nullptr, &flag, &out);
    EXPECT_EQ(out, 1);
  }
}

TEST(SimtSchedule, ThreadsRunInFixedOrderBetweenSyncPoints) {
  ScopedConfig cfg;
  const int n = 96;
  for (bool reverse : {false, true}) {
    cfg->reverse = reverse;
    int ticket = 0;
    std::vector<int> first(n), second(n);
    lc::simt::launch(sim::order_kernel, 1, n, 0, nullptr, &ticket, first.data(), second.data());
    for (int t = 0; t < n; ++t) {
      const int expected = reverse ? n - 1 - t : t;
      ASSERT_EQ(first[t], expected) << "reverse=" << reverse;
      ASSERT_EQ(second[t], expected) << "reverse=" << reverse;
    }
  }
}

TEST(SimtSharedMemory, StaticSharedIsPerBlock) {
  ScopedConfig cfg;
  cfg->threads = 4;
  const int blocks = 200;
  std::vector<int> out(blocks * 64, 0);
  lc::simt::launch(sim::static_smem_blocks_kernel, blocks, 64, 0, nullptr, out.data());
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < 64; ++t) ASSERT_EQ(out[b * 64 + t], b * 1000 * 64 + 63 * 64 / 2);
}

TEST(SimtSharedMemory, DynamicSharedIsPoisonedPerBlockAndAligned) {
  const int n = 96, blocks = 10;
  unsigned poison_misses = 0;
  std::vector<float> out(blocks * n, 0.0f);
  lc::simt::launch(sim::dynamic_smem_kernel, blocks, n, n * sizeof(float), nullptr, n, &poison_misses, out.data());
  EXPECT_EQ(poison_misses, 0u);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < n; ++t) ASSERT_EQ(out[b * n + t], static_cast<float>(n - 1 - t + b));
  std::uintptr_t addr = 1;
  lc::simt::launch(sim::dynamic_smem_align_kernel, 1, 1, 100, nullptr, &addr);
  EXPECT_EQ(addr % 16, 0u);
}

TEST(SimtSharedMemory, MoreThan48KiBNeedsOptIn) {
  const int bytes = 100 * 1024;
  int ok = 0;
  expect_error([&] { lc::simt::launch(sim::big_smem_kernel, 1, 256, bytes, nullptr, bytes, &ok); },
               {"invalid launch configuration", "dynamic shared memory", "set_max_dynamic_shared"});
  lc::simt::set_max_dynamic_shared(sim::big_smem_kernel, bytes);
  lc::simt::launch(sim::big_smem_kernel, 1, 256, bytes, nullptr, bytes, &ok);
  EXPECT_EQ(ok, 1);
  expect_error([&] { lc::simt::set_max_dynamic_shared(sim::big_smem_kernel, 228 * 1024); }, {"227 KiB"});
}

TEST(SimtDeviceFunctions, NestedCallsWithBarriersAndTemplateShared) {
  const int blocks = 6;
  std::vector<float> in(blocks * 128), out(blocks * 2, 0.0f);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 7) - 3.0f;
  lc::simt::launch(sim::nested_kernel, blocks, 128, 0, nullptr, in.data(), out.data());
  for (int b = 0; b < blocks; ++b) {
    double sq = 0, s = 0;
    for (int t = 0; t < 128; ++t) {
      sq += in[b * 128 + t] * in[b * 128 + t];
      s += in[b * 128 + t];
    }
    EXPECT_EQ(out[b * 2], static_cast<float>(sq + 55)) << b;
    EXPECT_EQ(out[b * 2 + 1], static_cast<float>(s)) << b;
  }
}

TEST(SimtAtomics, ContentionAcrossBlocks) {
  ScopedConfig cfg;
  cfg->threads = 4;
  const int blocks = 64, threads = 256, n = blocks * threads;
  sim::AtomicCounters c{};
  c.i_sub = n;
  c.u_sub = static_cast<unsigned>(n);
  c.i_min = 1 << 30;
  c.i_max = -(1 << 30);
  c.u_min = ~0u;
  c.u_max = 0;
  c.ull_min = ~0ull;
  c.ull_max = 0;
  c.ll_min = 1ll << 50;
  c.ll_max = -(1ll << 50);
  c.and_bits = ~0u;
  c.dec = 0;
  c.exch = -1;
  std::vector<int> slots(n + 1, 0);
  lc::simt::launch(sim::atomics_kernel, blocks, threads, 0, nullptr, &c, slots.data());
  EXPECT_EQ(c.i_add, n);
  EXPECT_EQ(c.u_add, 2u * n);
  EXPECT_EQ(c.ull_add, 3ull * n);
  EXPECT_EQ(c.f_add, static_cast<float>(n));  // exact: n < 2^24
  EXPECT_EQ(c.d_add, 0.5 * n);
  EXPECT_EQ(c.i_sub, 0);
  EXPECT_EQ(c.u_sub, 0u);
  EXPECT_EQ(c.i_min, -1000);
  EXPECT_EQ(c.i_max, n - 1 - 1000);
  EXPECT_EQ(c.u_min, 5u);
  EXPECT_EQ(c.u_max, static_cast<unsigned>(n - 1 + 5));
  EXPECT_EQ(c.ull_min, 1ull << 40);
  EXPECT_EQ(c.ull_max, (1ull << 40) + n - 1);
  EXPECT_EQ(c.ll_min, -(1ll << 40));
  EXPECT_EQ(c.ll_max, n - 1 - (1ll << 40));
  EXPECT_EQ(c.and_bits, 0u);
  EXPECT_EQ(c.or_bits, ~0u);
  EXPECT_EQ(c.xor_bits, 0u);  // every bit flipped n/32 (even) times
  EXPECT_EQ(c.ull_or, ~0ull);
  EXPECT_EQ(c.inc, static_cast<unsigned>(n % 100));
  EXPECT_EQ(c.dec, static_cast<unsigned>((100 - n % 100) % 100));
  EXPECT_EQ(c.cas_counter, n);
  EXPECT_EQ(c.cas_ull, 2ull * n);
  // atomicExch hands out every value exactly once: -1 first, then all thread ids but the last.
  int seen = 0;
  for (int s : slots) {
    ASSERT_LE(s, 1);
    seen += s;
  }
  EXPECT_EQ(seen, n);
}

TEST(SimtIntrinsics, MathAndBitOps) {
  std::vector<float> f(18, 0.0f);
  std::vector<int> n(17, 0);
  lc::simt::launch(sim::intrinsics_kernel, 1, 1, 0, nullptr, f.data(), n.data());
  EXPECT_NEAR(f[0], std::exp(1.0f), 1e-6f);
  EXPECT_NEAR(f[1], std::log(2.0f), 1e-6f);
  EXPECT_EQ(f[2], 0.0f);
  EXPECT_EQ(f[3], 1.0f);
  EXPECT_EQ(f[4], 0.0f);
  EXPECT_EQ(f[5], 0.25f);
  EXPECT_EQ(f[6], 0.125f);
  EXPECT_EQ(f[7], 3.0f);
  EXPECT_EQ(f[8], 7.0f);
  EXPECT_EQ(f[9], 1.0f);
  EXPECT_EQ(f[10], 2.0f);
  EXPECT_EQ(f[11], 0.5f);
  EXPECT_EQ(f[12], 1024.0f);
  EXPECT_EQ(f[13], 1.0f);
  EXPECT_EQ(f[14], 0.0f);
  EXPECT_EQ(f[15], 4.0f + 2.0f + 3.0f);
  EXPECT_EQ(f[16], 15.0f);
  EXPECT_EQ(f[17], 15.0f);
  const std::vector<int> expected{2, 4, -2, -2, 2147483647, -2147483647 - 1, 0, 0x3f800000, 0x40000000,
                                  8, 40, 32, 31, 0, 4, 0x8000, 0};
  EXPECT_EQ(n, expected);
  std::vector<float> r(4, 0.0f);
  lc::simt::launch(sim::fmaf_rz_kernel, 1, 1, 0, nullptr, r.data());
  const float base = 1.0f + std::ldexp(1.0f, -11);
  EXPECT_EQ(r[0], base);                               // toward zero
  EXPECT_EQ(r[1], std::nextafter(base, 2.0f));         // to nearest: up
  EXPECT_EQ(r[2], -base);
  EXPECT_EQ(r[3], -std::nextafter(base, 2.0f));
}

TEST(SimtExceptions, KernelExceptionBecomesLcError) {
  std::vector<int> out(4 * 64, 0);
  const std::string msg = expect_error(
      [&] { lc::simt::launch(sim::throwing_kernel, 4, 64, 0, nullptr, 5, out.data()); },
      {"thread (5,0,0) of block (1,0,0)", "boom from a kernel"});
  // The emulator recovers: the next launches run normally.
  std::fill(out.begin(), out.end(), 0);
  lc::simt::launch(sim::throwing_kernel, 4, 64, 0, nullptr, -1, out.data());
  EXPECT_EQ(std::accumulate(out.begin(), out.end(), 0), 4 * 64);
  expect_error([&] { lc::simt::launch(sim::check_kernel, 1, 5, 0, nullptr, 4); }, {"thread 4 too big"});
  expect_error([&] { lc::simt::launch_flat(sim::flat_throw_kernel, 4, 32, 0, nullptr); },
               {"thread (7,0,0) of block (2,0,0)", "flat boom"});
  lc::simt::launch(sim::check_kernel, 2, 8, 0, nullptr, 8);
}

TEST(SimtExceptions, LaunchFromAKernelIsRejected) {
  expect_error([] { lc::simt::launch(sim::nested_launch_kernel, 1, 1, 0, nullptr); }, {"inside a kernel"});
}

TEST(SimtConfig, LargerFiberStacks) {
  ScopedConfig cfg;
  cfg->stack_bytes = 256 * 1024;
  std::vector<int> out(64, -1);
  lc::simt::launch(sim::big_stack_kernel, 2, 64, 0, nullptr, out.data());
  EXPECT_EQ(out[3], static_cast<int>(static_cast<char>(4096)));
}

}  // namespace

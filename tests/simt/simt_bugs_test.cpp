// Host SIMT emulator: deliberately wrong kernels, each caught by the mode meant to catch it.
//   reverse schedule    a missing __syncthreads in a tiled stencil gives wrong output
//   ASan (LC_SANITIZE)  out-of-bounds global and dynamic-shared accesses
//   UBSan (LC_SANITIZE) out-of-bounds static __shared__ indexing
//   deadlock detection  a shuffle whose lanes wait at a barrier, a barrier a spinning thread
//                       never reaches: reported, not hung
//   launch checks       invalid configurations rejected
//   strict mode         barrier after exits, a shuffle reading a lane outside its mask
//   launch_flat         traps at a barrier or warp op
//   guard page          fiber stack overflow reported
// Depends on: kernels/simt, GoogleTest.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/simt/simt.h"
#include "tests/simt/simt_test_util.h"

using lc::simt_test::expect_error;
using lc::simt_test::ScopedConfig;

namespace lc::LC_KERNEL_NS {
namespace {

// out[i] = in[i-1] + in[i] through a shared tile with a halo. The barrier between filling the
// tile and reading the left neighbour is what SYNC controls.
template <bool SYNC>
__global__ void stencil_kernel(int n, const float* in, float* out) {
  float* tile = lc::simt::dynamic_shared<float>();  // blockDim.x + 1 floats
  const int t = static_cast<int>(threadIdx.x);
  const int i = static_cast<int>(blockIdx.x * blockDim.x) + t;
  if (t == 0) tile[0] = i > 0 && i - 1 < n ? in[i - 1] : 0.0f;
  tile[t + 1] = i < n ? in[i] : 0.0f;
  if constexpr (SYNC) __syncthreads();
  if (i < n) out[i] = tile[t] + tile[t + 1];
}

__global__ void shfl_vs_barrier_kernel(int* out) {
  const unsigned lane = threadIdx.x % 32;
  int v = static_cast<int>(threadIdx.x);
  if (lane < 16) v = __shfl_sync(0xffffffffu, v, 0);  // lanes 16-31 are named but never come
  __syncthreads();
  out[threadIdx.x] = v;
}

__global__ void syncwarp_vs_barrier_kernel() {
  if (threadIdx.x == 40) {
    __syncthreads();
  } else if (threadIdx.x >= 32) {
    __syncwarp();  // waits for lane 8 of warp 1 (thread 40), which waits at the barrier
  }
  __syncthreads();
}

// Thread 0 spins until thread 1 has passed a barrier that thread 0 itself never reaches.
__global__ void spin_vs_barrier_kernel(int* flag) {
  if (threadIdx.x == 0) {
    while (std::atomic_ref<int>(*flag).load() == 0) __nanosleep(1000);
  } else {
    __syncthreads();
    std::atomic_ref<int>(*flag).store(1);
  }
}

__global__ void barrier_after_exit_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void shfl_outside_mask_kernel(int* out) {
  const unsigned lane = threadIdx.x % 32;
  if (lane < 16) out[threadIdx.x] = __shfl_sync(0x0000ffffu, static_cast<int>(lane), 20);  // lane 20 is not in the mask
}

__global__ void flat_barrier_kernel(float* x) {
  x[threadIdx.x] += 1.0f;
  __syncthreads();
}

__global__ void flat_shfl_kernel(float* x) { x[threadIdx.x] = __shfl_down_sync(0xffffffffu, x[threadIdx.x], 1); }

__global__ void empty_kernel() {}

// Out-of-bounds kernels for the sanitizer build.
__global__ void global_oob_kernel(float* x) { x[threadIdx.x] = 1.0f; }  // launched with one thread too many

__global__ void dynamic_smem_oob_kernel(float* out, int n) {
  float* s = lc::simt::dynamic_shared<float>();
  s[threadIdx.x] = 1.0f;  // n floats of dynamic shared memory, n + 1 threads
  __syncthreads();
  if (threadIdx.x == 0) out[0] = s[n - 1];
}

__global__ void static_smem_oob_kernel(float* out, int n) {
  __shared__ float s[32];
  s[threadIdx.x] = 1.0f;  // 33 threads
  __syncthreads();
  if (threadIdx.x == 0) out[0] = s[n % 32];
}

__global__ void deep_stack_kernel(int* out) {
  volatile char buf[512 * 1024];
  for (unsigned i = 0; i < sizeof buf; i += 512) buf[i] = static_cast<char>(i);
  out[0] = buf[1024];
}

}  // namespace
}  // namespace lc::LC_KERNEL_NS

namespace {

namespace sim = lc::sim;
using lc::simt::dim3;

std::vector<float> run_stencil(bool sync, int n, int block) {
  std::vector<float> in(n), out(n, 0.0f);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i % 13) + 0.5f;
  const std::size_t smem = (block + 1) * sizeof(float);
  if (sync)
    lc::simt::launch(sim::stencil_kernel<true>, (n + block - 1) / block, block, smem, nullptr, n, in.data(), out.data());
  else
    lc::simt::launch(sim::stencil_kernel<false>, (n + block - 1) / block, block, smem, nullptr, n, in.data(), out.data());
  return out;
}

std::vector<float> stencil_ref(int n) {
  std::vector<float> out(n);
  for (int i = 0; i < n; ++i)
    out[i] = static_cast<float>(i % 13) + 0.5f + (i > 0 ? static_cast<float>((i - 1) % 13) + 0.5f : 0.0f);
  return out;
}

TEST(SimtBugFinding, MissingSyncthreadsCaughtByReverseOrder) {
  ScopedConfig cfg;
  const int n = 1000, block = 128;
  const std::vector<float> ref = stencil_ref(n);
  // In forward order every thread's left neighbour has already run: the bug is invisible.
  cfg->reverse = false;
  EXPECT_EQ(run_stencil(false, n, block), ref);
  // In reverse order the left neighbour has not written its element yet (poisoned NaN).
  cfg->reverse = true;
  const std::vector<float> wrong = run_stencil(false, n, block);
  int mismatches = 0;
  for (int i = 0; i < n; ++i) mismatches += !(wrong[i] == ref[i]);
  EXPECT_GT(mismatches, n * 9 / 10) << "reverse order should expose the missing barrier";
  // The fixed kernel is right in both orders.
  EXPECT_EQ(run_stencil(true, n, block), ref);
  cfg->reverse = false;
  EXPECT_EQ(run_stencil(true, n, block), ref);
}

TEST(SimtBugFinding, ShuffleAgainstBarrierDeadlockIsReported) {
  std::vector<int> out(64, 0);
  expect_error([&] { lc::simt::launch(sim::shfl_vs_barrier_kernel, 2, 64, 0, nullptr, out.data()); },
               {"deadlock", "warp 0 lanes 0-15", "__shfl_sync(mask=0xffffffff)", "for lanes 16-31",
                "waits at __syncthreads"});
  expect_error([&] { lc::simt::launch(sim::syncwarp_vs_barrier_kernel, 1, 64, 0, nullptr); },
               {"deadlock", "warp 1", "__syncwarp", "thread (40,0,0)", "waits at __syncthreads"});
  // The emulator is usable afterwards.
  lc::simt::launch(sim::empty_kernel, 4, 64, 0, nullptr);
}

TEST(SimtBugFinding, BarrierNeverReachedBySpinningThreadIsReported) {
  ScopedConfig cfg;
  cfg->spin_timeout_ms = 200;
  int flag = 0;
  expect_error([&] { lc::simt::launch(sim::spin_vs_barrier_kernel, 1, 32, 0, nullptr, &flag); },
               {"no progress", "__nanosleep", "31 of 32 live threads wait at __syncthreads",
                "thread (0,0,0) (warp 0, lane 0) never reaches it"});
}

TEST(SimtBugFinding, InvalidLaunchConfigurationsAreRejected) {
  auto bad = [](dim3 grid, dim3 block, std::size_t smem, const char* why) {
    expect_error([&] { lc::simt::launch(sim::empty_kernel, grid, block, smem, nullptr); },
                 {"invalid launch configuration", why});
    expect_error([&] { lc::simt::launch_flat(sim::empty_kernel, grid, block, smem, nullptr); },
                 {"invalid launch configuration", why});
  };
  bad(1, 1025, 0, "1025 threads per block");
  bad(1, dim3(32, 32, 2), 0, "2048 threads per block");
  bad(1, dim3(1, 1, 65), 0, "block dimensions");
  bad(1, dim3(2048, 1, 1), 0, "2048 threads per block");
  bad(1, dim3(0, 1, 1), 0, "block dimension is 0");
  bad(dim3(1, 0, 1), 1, 0, "grid dimension is 0");
  bad(dim3(1, 65536, 1), 1, 0, "grid dimensions");
  bad(dim3(1, 1, 65536), 1, 0, "grid dimensions");
  bad(dim3(2147483648u, 1, 1), 1, 0, "grid dimensions");
  bad(1, 32, 48 * 1024 + 1, "dynamic shared memory");
  // The limits themselves are fine.
  lc::simt::launch(sim::empty_kernel, 1, dim3(1, 1, 64), 48 * 1024, nullptr);
  lc::simt::launch(sim::empty_kernel, 2, dim3(1, 1024, 1), 0, nullptr);
  lc::simt::launch_flat(sim::empty_kernel, dim3(2, 65535, 1), 1, 0, nullptr);
  lc::simt::launch_flat(sim::empty_kernel, dim3(1, 3, 65535), 1, 0, nullptr);
}

TEST(SimtBugFinding, StrictModeTrapsBarrierAfterExit) {
  ScopedConfig cfg;
  std::vector<int> out(32, 0);
  cfg->strict = false;
  lc::simt::launch(sim::barrier_after_exit_kernel, 1, 32, 0, nullptr, out.data());  // tolerated
  EXPECT_EQ(out[15], 1);
  cfg->strict = true;
  expect_error([&] { lc::simt::launch(sim::barrier_after_exit_kernel, 1, 32, 0, nullptr, out.data()); },
               {"strict mode", "__syncthreads", "exited"});
}

TEST(SimtBugFinding, StrictModeTrapsShuffleOutsideMask) {
  ScopedConfig cfg;
  std::vector<int> out(32, -1);
  cfg->strict = false;
  lc::simt::launch(sim::shfl_outside_mask_kernel, 1, 32, 0, nullptr, out.data());  // undefined, tolerated
  cfg->strict = true;
  expect_error([&] { lc::simt::launch(sim::shfl_outside_mask_kernel, 1, 32, 0, nullptr, out.data()); },
               {"strict mode", "__shfl_sync(mask=0x0000ffff)", "reads lane 20", "not in the mask"});
}

TEST(SimtBugFinding, LaunchFlatTrapsAtBarrierAndWarpOp) {
  std::vector<float> x(64, 0.0f);
  expect_error([&] { lc::simt::launch_flat(sim::flat_barrier_kernel, 1, 64, 0, nullptr, x.data()); },
               {"launch_flat", "reached __syncthreads in thread (", "of block (0,0,0)"});
  expect_error([&] { lc::simt::launch_flat(sim::flat_shfl_kernel, 1, 64, 0, nullptr, x.data()); },
               {"launch_flat", "__shfl_down_sync"});
  lc::simt::launch(sim::flat_barrier_kernel, 1, 64, 0, nullptr, x.data());  // fine with launch()
}

void use_threadsafe_death_tests() { GTEST_FLAG_SET(death_test_style, "threadsafe"); }

TEST(SimtBugFindingDeathTest, FiberStackOverflowIsReported) {
  use_threadsafe_death_tests();
  int out = 0;
  EXPECT_DEATH(lc::simt::launch(sim::deep_stack_kernel, 1, 4, 0, nullptr, &out),
               "fiber stack overflow, raise the stack size \\(LC_SIMT_STACK_KB");
}

TEST(SimtBugFindingDeathTest, GlobalOutOfBoundsCaughtByASan) {
  if (!LC_TEST_SANITIZED) GTEST_SKIP() << "needs the LC_SANITIZE=ON build";
  use_threadsafe_death_tests();
  EXPECT_DEATH(
      {
        std::vector<float> x(100);
        lc::simt::launch(sim::global_oob_kernel, 1, 101, 0, nullptr, x.data());
      },
      "heap-buffer-overflow");
}

TEST(SimtBugFindingDeathTest, DynamicSharedOutOfBoundsCaughtByASan) {
  if (!LC_TEST_SANITIZED) GTEST_SKIP() << "needs the LC_SANITIZE=ON build";
  use_threadsafe_death_tests();
  EXPECT_DEATH(
      {
        float out = 0;
        lc::simt::launch(sim::dynamic_smem_oob_kernel, 1, 65, 64 * sizeof(float), nullptr, &out, 64);
      },
      "heap-buffer-overflow");
}

TEST(SimtBugFindingDeathTest, StaticSharedOutOfBoundsCaughtByUBSan) {
  if (!LC_TEST_SANITIZED) GTEST_SKIP() << "needs the LC_SANITIZE=ON build";
  use_threadsafe_death_tests();
  EXPECT_DEATH(
      {
        float out = 0;
        lc::simt::launch(sim::static_smem_oob_kernel, 1, 33, 0, nullptr, &out, 5);
      },
      "index 32 out of bounds for type 'float \\[32\\]'");
}

}  // namespace

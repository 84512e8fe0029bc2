// Host SIMT emulator: shared-memory tiled SGEMM (static and dynamic shared memory, 16x16 and
// 32x32 tiles, sizes that are not tile multiples) against a naive loop; and SimtPerf, the
// emulator's own timings (DISABLED_: run with --gtest_also_run_disabled_tests; CPU time of the
// emulator, not GPU speed). Depends on: kernels/simt, GoogleTest.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/simt/simt.h"
#include "tests/simt/simt_test_util.h"

namespace lc::LC_KERNEL_NS {
namespace {

// C[M,N] = A[M,K] * B[K,N], row-major; one thread per C element, TILE x TILE blocks.
template <int TILE>
__global__ void sgemm_tiled_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                                   float* __restrict__ C) {
  __shared__ float As[TILE][TILE];
  __shared__ float Bs[TILE][TILE];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int row = static_cast<int>(blockIdx.y) * TILE + ty, col = static_cast<int>(blockIdx.x) * TILE + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += TILE) {
    As[ty][tx] = (row < M && k0 + tx < K) ? A[static_cast<long>(row) * K + k0 + tx] : 0.0f;
    Bs[ty][tx] = (k0 + ty < K && col < N) ? B[static_cast<long>(k0 + ty) * N + col] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];
    __syncthreads();
  }
  if (row < M && col < N) C[static_cast<long>(row) * N + col] = acc;
}

// The same with the tiles in dynamic shared memory.
__global__ void sgemm_dynamic_kernel(int M, int N, int K, int tile, const float* A, const float* B, float* C) {
  float* As = lc::simt::dynamic_shared<float>();
  float* Bs = As + tile * tile;
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int row = static_cast<int>(blockIdx.y) * tile + ty, col = static_cast<int>(blockIdx.x) * tile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += tile) {
    As[ty * tile + tx] = (row < M && k0 + tx < K) ? A[static_cast<long>(row) * K + k0 + tx] : 0.0f;
    Bs[ty * tile + tx] = (k0 + ty < K && col < N) ? B[static_cast<long>(k0 + ty) * N + col] : 0.0f;
    __syncthreads();
    for (int k = 0; k < tile; ++k) acc += As[ty * tile + k] * Bs[k * tile + tx];
    __syncthreads();
  }
  if (row < M && col < N) C[static_cast<long>(row) * N + col] = acc;
}

__global__ void elu_kernel(int n, float alpha, const float* __restrict__ x, float* __restrict__ y) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : alpha * expm1f(v);
  }
}

}  // namespace
}  // namespace lc::LC_KERNEL_NS

namespace {

namespace sim = lc::sim;
using lc::simt::dim3;

struct Gemm {
  int M, N, K;
  std::vector<float> A, B, C;
  Gemm(int m, int n, int k, unsigned seed) : M(m), N(n), K(k), A(m * k), B(k * n), C(m * n, -1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (float& v : A) v = d(rng);
    for (float& v : B) v = d(rng);
  }
  // |C - ref| <= 1e-5 + 1e-4 |ref|, with ref accumulated in double.
  void check(const char* what) const {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double ref = 0;
        for (int k = 0; k < K; ++k) ref += static_cast<double>(A[i * K + k]) * B[k * N + j];
        const float c = C[i * N + j];
        ASSERT_FALSE(std::isnan(c)) << what << " C(" << i << "," << j << ") is NaN, M=" << M << " N=" << N << " K=" << K;
        ASSERT_LE(std::fabs(c - ref), 1e-5 + 1e-4 * std::fabs(ref))
            << what << " C(" << i << "," << j << ") M=" << M << " N=" << N << " K=" << K;
      }
  }
};

template <int TILE>
void run_tiled(Gemm& g) {
  const dim3 grid((g.N + TILE - 1) / TILE, (g.M + TILE - 1) / TILE), block(TILE, TILE);
  lc::simt::launch(sim::sgemm_tiled_kernel<TILE>, grid, block, 0, nullptr, g.M, g.N, g.K, g.A.data(), g.B.data(),
                   g.C.data());
}

TEST(SimtSgemm, TiledMatchesNaive) {
  for (auto [m, n, k] : {std::tuple{64, 64, 64}, std::tuple{70, 45, 33}, std::tuple{1, 17, 5}, std::tuple{96, 128, 100}}) {
    Gemm a(m, n, k, 1234u + static_cast<unsigned>(m));
    run_tiled<16>(a);
    a.check("16x16 tiles");
    Gemm b(m, n, k, 99u + static_cast<unsigned>(n));
    run_tiled<32>(b);
    b.check("32x32 tiles");
  }
}

TEST(SimtSgemm, DynamicSharedTiles) {
  Gemm g(50, 61, 47, 7u);
  const int tile = 8;
  const dim3 grid((g.N + tile - 1) / tile, (g.M + tile - 1) / tile), block(tile, tile);
  lc::simt::launch(sim::sgemm_dynamic_kernel, grid, block, 2 * tile * tile * sizeof(float), nullptr, g.M, g.N, g.K,
                   tile, g.A.data(), g.B.data(), g.C.data());
  g.check("dynamic 8x8 tiles");
}

template <class F>
double best_ms(F&& f, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// Emulator timings on this machine (CPU speed of the emulator, not GPU speed).
TEST(SimtPerf, DISABLED_Timings) {
  lc::simt_test::ScopedConfig cfg;
  const int n = 1 << 20;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 200) / 50.0f - 2.0f;
  Gemm g(256, 256, 256, 1u);
  for (int threads : {1, 2}) {
    cfg->threads = threads;
    const double elu_fib = best_ms([&] { lc::simt::launch(sim::elu_kernel, n / 256, 256, 0, nullptr, n, 1.0f, x.data(), y.data()); }, 5);
    const double elu_flat = best_ms([&] { lc::simt::launch_flat(sim::elu_kernel, n / 256, 256, 0, nullptr, n, 1.0f, x.data(), y.data()); }, 5);
    const double gemm16 = best_ms([&] { run_tiled<16>(g); }, 3);
    const double gemm32 = best_ms([&] { run_tiled<32>(g); }, 3);
    std::printf("lc::simt timings, %d thread(s): ELU 1M fibers %.1f ms, ELU 1M launch_flat %.1f ms, "
                "SGEMM 256^3 16x16 tiles %.1f ms, 32x32 tiles %.1f ms\n",
                threads, elu_fib, elu_flat, gemm16, gemm32);
  }
  g.check("perf run");
}

}  // namespace

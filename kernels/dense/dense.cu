// Dense layer CUDA kernels (contract: dense.h). One tiled GEMM template serves the three
// products (forward x W, backward-data dy W^T, backward-weights x^T dy); the transposes are
// compile-time flags on how the A and B tiles are read from global memory.
//
// dense_gemm_kernel<TA, TB, BM, BN, BK, TM, TN, KS>: C[M][N] = sum_k A(m,k) B(k,n) (+ bias, ELU).
//   - a block computes a BM x BN tile of C; KS groups of (BM/TM) x (BN/TN) threads each;
//   - every step all threads stage a BM x (BK*KS) slice of A and a (BK*KS) x BN slice of B in
//     shared memory (k-major, padded by one column against bank conflicts), with the loads laid
//     out along the contiguous dimension of each operand (coalesced), zero-filled at the edges;
//   - group g multiplies its own BK-wide part into a TM x TN register micro-tile; a thread owns
//     rows ty + i*(BM/TM) and columns tx + j*(BN/TN) (strided, so a warp reads consecutive B
//     columns from shared memory and writes consecutive C columns to global memory);
//   - KS > 1 (intra-block split-K, for the batch-16 shapes where C has few tiles): the groups'
//     partial tiles meet in shared memory and are added in group order 0..KS-1.
//   Every output element is summed in a fixed order: deterministic, no atomics.
// Two configurations: "small" (16 x 32 tile, 2 x 2 micro-tile, split-K 4, 512 threads) when M <= 32
// (batch-16 forward and backward-data), "large" (64 x 64, 4 x 4, 256 threads) otherwise.
// dense_bias_grad_kernel: db[o] = sum_r dy[r][o]; 32 columns x 8 row-groups per block, the 8
// partial sums added in order.
#include "kernels/simt/simt.h"
#include "kernels/dense/dense.h"

namespace lc::LC_KERNEL_NS {

namespace {

struct GemmParams {
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  const float* bias = nullptr;  // [N] or nullptr
  std::int64_t m = 0, n = 0, k = 0;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  int elu = 0;  // 1: ELU epilogue
};

__device__ __forceinline__ float dense_epilogue(float v, const GemmParams& p, std::int64_t col) {
  if (p.bias) v += p.bias[col];
  if (p.elu) v = v > 0.f ? v : expm1f(v);
  return v;
}

// Stages the X x BKT tile of a matrix at (x0, k0) into shared memory as dst[kk][x] (rows of LD
// floats), zeros outside (xn, kn). XC: the matrix is stored [K][X] (contiguous along x, coalesced
// reads walk x), else [X][K] (reads walk k).
template <int NT, int X, int BKT, int LD, bool XC>
__device__ __forceinline__ void stage_tile(float* dst, const float* src, std::int64_t ld, std::int64_t x0,
                                           std::int64_t xn, std::int64_t k0, std::int64_t kn, int tid) {
  for (int e = tid; e < X * BKT; e += NT) {
    const int x = XC ? e % X : e / BKT, kk = XC ? e / X : e % BKT;
    const std::int64_t gx = x0 + x, gk = k0 + kk;
    float v = 0.f;
    if (gx < xn && gk < kn) v = XC ? src[gk * ld + gx] : src[gx * ld + gk];
    dst[kk * LD + x] = v;
  }
}

}  // namespace

// __launch_bounds__(block size, 1): ptxas keeps registers within what one block of that size
// (512 threads for the small configuration) may use, so a later register increase spills
// (profiling/resource_table.sh reports it) instead of the launch failing on a GPU. With one
// block per SM ptxas takes 70-94 registers (64 unbounded, where a bare bound made it spill); the
// model's dense shapes have fewer blocks than a GPU has SMs, so occupancy does not limit them.
template <bool TA, bool TB, int BM, int BN, int BK, int TM, int TN, int KS>
__global__ void __launch_bounds__((BM / TM) * (BN / TN) * KS, 1)
    dense_gemm_kernel(GemmParams p) {
  constexpr int TX = BN / TN, TY = BM / TM, G = TX * TY, NT = G * KS, BKT = BK * KS;
  constexpr int LDA_S = BM + 1, LDB_S = BN + 1;
  constexpr int kTiles = BKT * LDA_S + BKT * LDB_S;
  constexpr int kRed = KS > 1 ? KS * BM * BN : 0;
  constexpr int kSmem = kTiles > kRed ? kTiles : kRed;
  static_assert(BM % TM == 0 && BN % TN == 0 && G % 32 == 0, "tile shape");
  __shared__ float smem[kSmem];
  float* as = smem;                  // [BKT][LDA_S]
  float* bs = smem + BKT * LDA_S;    // [BKT][LDB_S]

  const int tid = int(threadIdx.x);
  const int g = tid / G, t = tid % G, ty = t / TX, tx = t % TX;
  const std::int64_t m0 = std::int64_t(blockIdx.y) * BM, n0 = std::int64_t(blockIdx.x) * BN;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  for (std::int64_t k0 = 0; k0 < p.k; k0 += BKT) {
    // Stage A(m0.., k0..) as as[kk][mm] (A stored [K][M] when TA) and B(k0.., n0..) as bs[kk][nn]
    // (B stored [K][N] unless TB).
    stage_tile<NT, BM, BKT, LDA_S, TA>(as, p.a, p.lda, m0, p.m, k0, p.k, tid);
    stage_tile<NT, BN, BKT, LDB_S, !TB>(bs, p.b, p.ldb, n0, p.n, k0, p.k, tid);
    __syncthreads();
#pragma unroll
    for (int kk = g * BK; kk < g * BK + BK; ++kk) {
      float ra[TM], rb[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) ra[i] = as[kk * LDA_S + ty + i * TY];
#pragma unroll
      for (int j = 0; j < TN; ++j) rb[j] = bs[kk * LDB_S + tx + j * TX];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += ra[i] * rb[j];
    }
    __syncthreads();
  }

  if constexpr (KS == 1) {
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const std::int64_t row = m0 + ty + i * TY;
      if (row >= p.m) continue;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const std::int64_t col = n0 + tx + j * TX;
        if (col < p.n) p.c[row * p.ldc + col] = dense_epilogue(acc[i][j], p, col);
      }
    }
  } else {
    // The last barrier of the k loop ended every read of the staged tiles: reuse the memory.
    float* red = smem;  // [KS][BM][BN]
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) red[(g * BM + ty + i * TY) * BN + tx + j * TX] = acc[i][j];
    __syncthreads();
    for (int e = tid; e < BM * BN; e += NT) {
      const std::int64_t row = m0 + e / BN, col = n0 + e % BN;
      if (row >= p.m || col >= p.n) continue;
      float s = red[e];
#pragma unroll
      for (int q = 1; q < KS; ++q) s += red[q * BM * BN + e];
      p.c[row * p.ldc + col] = dense_epilogue(s, p, col);
    }
  }
}

// db[o] = sum_r dy[r][o]. Block (32, 8): column blockIdx.x*32 + x, rows y, y+8, ...; the eight
// partial sums of a column are added in order y = 0..7.
__global__ void dense_bias_grad_kernel(std::int64_t n, int out, const float* __restrict__ dy,
                                       float* __restrict__ db) {
  __shared__ float part[8][33];
  const int x = int(threadIdx.x), y = int(threadIdx.y);
  const std::int64_t col = std::int64_t(blockIdx.x) * 32 + x;
  float s = 0.f;
  if (col < out)
    for (std::int64_t r = y; r < n; r += 8) s += dy[r * out + col];
  part[y][x] = s;
  __syncthreads();
  if (y == 0 && col < out) {
    float total = part[0][x];
    for (int q = 1; q < 8; ++q) total += part[q][x];
    db[col] = total;
  }
}

namespace {

template <bool TA, bool TB>
void launch_dense_gemm(const GemmParams& p, stream_t stream) {
  if (p.m <= 0 || p.n <= 0) return;
  if (p.m <= 32) {
    constexpr int BM = 16, BN = 32, BK = 16, TM = 2, TN = 2, KS = 4;
    const dim3 grid(unsigned((p.n + BN - 1) / BN), unsigned((p.m + BM - 1) / BM));
    simt::launch(dense_gemm_kernel<TA, TB, BM, BN, BK, TM, TN, KS>, grid, dim3((BM / TM) * (BN / TN) * KS), 0,
                 stream, p);
  } else {
    constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4, KS = 1;
    const std::int64_t gy = (p.m + BM - 1) / BM;
    LC_CHECK(gy <= 65535, "dense: too many rows for one launch: ", p.m);
    const dim3 grid(unsigned((p.n + BN - 1) / BN), unsigned(gy));
    simt::launch(dense_gemm_kernel<TA, TB, BM, BN, BK, TM, TN, KS>, grid, dim3((BM / TM) * (BN / TN) * KS), 0,
                 stream, p);
  }
}

void check_args(const DenseArgs& a, const char* what) {
  LC_CHECK(a.n >= 0 && a.in > 0 && a.out > 0, what, ": bad shape n=", a.n, " in=", a.in, " out=", a.out);
  LC_CHECK(a.activation == DenseActivation::none || a.activation == DenseActivation::elu, what,
           ": unknown activation ", int(a.activation));
}

}  // namespace

void dense_forward(const DenseArgs& a, const float* x, const float* w, const float* b, float* y,
                   stream_t stream) {
  check_args(a, "dense_forward");
  if (a.n == 0) return;
  GemmParams p;
  p.a = x; p.lda = a.in;
  p.b = w; p.ldb = a.out;
  p.c = y; p.ldc = a.out;
  p.bias = b;
  p.m = a.n; p.n = a.out; p.k = a.in;
  p.elu = a.activation == DenseActivation::elu ? 1 : 0;
  launch_dense_gemm<false, false>(p, stream);
}

void dense_backward(const DenseArgs& a, const float* x, const float* w, const float* dy, float* dx, float* dw,
                    float* db, stream_t stream) {
  check_args(a, "dense_backward");
  LC_CHECK(dw && db, "dense_backward: dw and db are required");
  if (dx && a.n > 0) {  // dx[n][in] = dy[n][out] * W^T;  B(k=o, n=i) = W[i][o]
    GemmParams p;
    p.a = dy; p.lda = a.out;
    p.b = w; p.ldb = a.out;
    p.c = dx; p.ldc = a.in;
    p.m = a.n; p.n = a.in; p.k = a.out;
    launch_dense_gemm<false, true>(p, stream);
  }
  {  // dW[in][out] = x^T dy;  A(m=i, k=r) = x[r][i]. With n == 0 the sums are empty: zeros.
    GemmParams p;
    p.a = x; p.lda = a.in;
    p.b = dy; p.ldb = a.out;
    p.c = dw; p.ldc = a.out;
    p.m = a.in; p.n = a.out; p.k = a.n;
    launch_dense_gemm<true, false>(p, stream);
  }
  simt::launch(dense_bias_grad_kernel, dim3(unsigned((a.out + 31) / 32)), dim3(32, 8), 0, stream, a.n, a.out, dy,
               db);
}

}  // namespace lc::LC_KERNEL_NS

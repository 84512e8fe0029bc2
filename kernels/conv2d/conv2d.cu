// 2-D convolution CUDA kernels and launchers (contract: conv2d.h), compiled by nvcc into lc::cuda
// and by g++ against the SIMT emulator into lc::sim. Versions (conv2d.h says what each changes):
//   v1 direct         conv2d_fwd_kernel_v1_direct, conv2d_bwd_data_kernel_v1_direct,
//                     conv2d_bwd_weights_kernel_v1_direct: one thread per output, global reads
//   v2 implicit GEMM  conv2d_fwd_kernel_v2_implicit_gemm (also backward data, on the flipped,
//                     transposed filter from conv2d_flip_transpose_kernel);
//                     conv2d_bwd_weights_kernel_v2_split_k + conv2d_bwd_weights_reduce_kernel
//   v3 small channel  conv2d_fwd_kernel_v3_small_channel (also backward data)
// Depends on: kernels/simt/simt.h, conv2d.h.
#include "kernels/simt/simt.h"
#include "kernels/conv2d/conv2d.h"

#include <cstdint>

namespace lc::LC_KERNEL_NS {

// One convolution as a kernel sees it: cin input channels, cout output channels. Backward data
// runs the forward kernels with cin = k and cout = c (the flipped, transposed filter).
struct ConvGeom {
  int n, h, w, cin, cout, r, s, ph, pw;
  int kd;  // r * s * cin: the GEMM reduction length
  int m;   // n * h * w: output pixels
};

// Multiply-adds are written a * b + c: nvcc contracts them into FMA (-fmad=true, its default),
// and the emulator's g++ build (no -mfma) keeps a multiply and an add instead of calling libm's
// fmaf for each one.
__device__ __forceinline__ float conv_elu(float z) { return z > 0.f ? z : expm1f(z); }

// N consecutive floats from (suitably aligned) shared memory into registers.
template <int N>
__device__ __forceinline__ void load_frag(float (&dst)[N], const float* src) {
  if constexpr (N % 4 == 0) {
#pragma unroll
    for (int q = 0; q < N / 4; ++q) {
      const float4 t = reinterpret_cast<const float4*>(src)[q];
      dst[4 * q + 0] = t.x, dst[4 * q + 1] = t.y, dst[4 * q + 2] = t.z, dst[4 * q + 3] = t.w;
    }
  } else if constexpr (N % 2 == 0) {
#pragma unroll
    for (int q = 0; q < N / 2; ++q) {
      const float2 t = reinterpret_cast<const float2*>(src)[q];
      dst[2 * q + 0] = t.x, dst[2 * q + 1] = t.y;
    }
  } else {
#pragma unroll
    for (int e = 0; e < N; ++e) dst[e] = src[e];
  }
}

// ---------------------------------------------------------------------------------------------
// v1: direct. One thread per output element, grid-stride, every read from global memory.

__global__ void conv2d_fwd_kernel_v1_direct(ConvGeom g, const float* __restrict__ x, const float* __restrict__ wt,
                                            const float* __restrict__ b, float* __restrict__ y, int elu) {
  const long long total = (long long)g.m * g.cout;
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int k = int(idx % g.cout);
    const int m = int(idx / g.cout);
    const int j = m % g.w, i = (m / g.w) % g.h;
    float acc = b ? b[k] : 0.f;
    for (int u = 0; u < g.r; ++u) {
      const int ii = i + u - g.ph;
      if (ii < 0 || ii >= g.h) continue;
      for (int v = 0; v < g.s; ++v) {
        const int jj = j + v - g.pw;
        if (jj < 0 || jj >= g.w) continue;
        const float* xp = x + ((long long)m + (long long)(u - g.ph) * g.w + (v - g.pw)) * g.cin;
        const float* wp = wt + ((long long)(k * g.r + u) * g.s + v) * g.cin;
        for (int c = 0; c < g.cin; ++c) acc += xp[c] * wp[c];
      }
    }
    y[idx] = elu ? conv_elu(acc) : acc;
  }
}

// g is the forward geometry (cin = c, cout = k); one thread per dx element.
__global__ void conv2d_bwd_data_kernel_v1_direct(ConvGeom g, const float* __restrict__ dz, const float* __restrict__ wt,
                                                 float* __restrict__ dx) {
  const long long total = (long long)g.m * g.cin;
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int c = int(idx % g.cin);
    const int m = int(idx / g.cin);
    const int q = m % g.w, p = (m / g.w) % g.h;
    float acc = 0.f;
    for (int u = 0; u < g.r; ++u) {
      const int i = p - u + g.ph;
      if (i < 0 || i >= g.h) continue;
      for (int v = 0; v < g.s; ++v) {
        const int j = q - v + g.pw;
        if (j < 0 || j >= g.w) continue;
        const float* dzp = dz + ((long long)m + (long long)(g.ph - u) * g.w + (g.pw - v)) * g.cout;
        const float* wp = wt + ((long long)u * g.s + v) * g.cin + c;
        for (int k = 0; k < g.cout; ++k) acc += dzp[k] * wp[(long long)k * g.kd];
      }
    }
    dx[idx] = acc;
  }
}

// One thread per (k, col), col in [0, kd]: col < kd is dw[k][col], col == kd is db[k]. A serial
// sum over all n*h*w pixels: deterministic, no workspace, slow.
__global__ void conv2d_bwd_weights_kernel_v1_direct(ConvGeom g, const float* __restrict__ x,
                                                    const float* __restrict__ dz, float* __restrict__ dw,
                                                    float* __restrict__ db) {
  const long long total = (long long)g.cout * (g.kd + 1);
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int k = int(idx / (g.kd + 1));
    const int col = int(idx % (g.kd + 1));
    if (col == g.kd) {
      if (!db) continue;
      float acc = 0.f;
      for (int m = 0; m < g.m; ++m) acc += dz[(long long)m * g.cout + k];
      db[k] = acc;
      continue;
    }
    if (!dw) continue;
    const int tap = col / g.cin, c = col % g.cin;
    const int du = tap / g.s - g.ph, dv = tap % g.s - g.pw;
    float acc = 0.f;
    for (int n = 0; n < g.n; ++n)
      for (int i = 0; i < g.h; ++i) {
        const int ii = i + du;
        if (ii < 0 || ii >= g.h) continue;
        for (int j = 0; j < g.w; ++j) {
          const int jj = j + dv;
          if (jj < 0 || jj >= g.w) continue;
          const long long m = ((long long)n * g.h + i) * g.w + j;
          acc += dz[m * g.cout + k] * x[(m + (long long)du * g.w + dv) * g.cin + c];
        }
      }
    dw[(long long)k * g.kd + col] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// v2: implicit GEMM. y[m][n] = sum_kd A[m][kd] * B[kd][n] with A[m][kd] = x at pixel m shifted by
// the tap of kd (0 in the padding), B[kd][n] = wt[n][kd]. Block tile BM x BN, reduction step
// kBK, double-buffered shared tiles (one barrier per step, the next tile's global loads in flight
// during the current step's math), thread micro-tile TM x TN. kVec: float4 loads along kd
// (cin % 4 == 0 and 16-byte aligned x, wt), else scalar loads.

constexpr int kBK = 16;

// One kBK-deep slice of a register micro-tile product: acc[i][j] += A[kk][ty*TM + i] * B[kk][tx*TN + j]
// over kk, A and B the current shared-memory tiles (rows of LA and LB floats).
template <int TM, int TN, int LA, int LB>
__device__ __forceinline__ void tile_fma(float (&acc)[TM][TN], const float (*A)[LA], const float (*B)[LB], int ty,
                                         int tx) {
#pragma unroll
  for (int kk = 0; kk < kBK; ++kk) {
    float a[TM], b[TN];
    load_frag<TM>(a, &A[kk][ty * TM]);
    load_frag<TN>(b, &B[kk][tx * TN]);
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
  }
}
// The tiled kernels declare __launch_bounds__(threads, 2): with the thread count alone, ptxas
// (CUDA 13) settled on 64 registers and spilled a few bytes in some variants; asking for 2
// blocks per SM (at most 128 registers at 256 threads) gives it room, and none spills
// (profiling/resource_table.sh checks).

template <int BM, int BN, int TM, int TN, bool kVec>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), 2)
    conv2d_fwd_kernel_v2_implicit_gemm(ConvGeom g, const float* __restrict__ x, const float* __restrict__ wt,
                                       const float* __restrict__ b, float* __restrict__ y, int elu, int vec_out) {
  constexpr int NTX = BN / TN, NTY = BM / TM, NT = NTX * NTY;
  constexpr int AV = kVec ? 4 : 1;           // floats per load
  constexpr int KG = kBK / AV;               // loads per tile row
  constexpr int A_TOTAL = BM * KG, B_TOTAL = BN * KG;
  constexpr int A_LOADS = (A_TOTAL + NT - 1) / NT, B_LOADS = (B_TOTAL + NT - 1) / NT;
  static_assert(NT % KG == 0, "every load of a thread must share one kd");
  static_assert(TN == 4 && TM % 4 == 0, "micro-tiles are read as float4");

  __shared__ __align__(16) float As[2][kBK][BM + 4];
  __shared__ __align__(16) float Bs[2][kBK][BN + 4];
  __shared__ int row_m[BM], row_i[BM], row_j[BM];

  const int tid = threadIdx.x;
  const int tx = tid % NTX, ty = tid / NTX;
  const long long m0 = (long long)blockIdx.x * BM;
  const int n0 = blockIdx.y * BN;

  for (int r = tid; r < BM; r += NT) {
    const long long m = m0 + r;
    if (m < g.m) {
      row_m[r] = int(m);
      row_j[r] = int(m % g.w);
      row_i[r] = int((m / g.w) % g.h);
    } else {
      row_m[r] = -1, row_i[r] = 0, row_j[r] = 0;
    }
  }

  // The thread's column within the k-tile and its (u, v, ch) decomposition, advanced by kBK.
  const int kk0 = (tid % KG) * AV;
  int ch = kk0, u = 0, v = 0, kd = kk0;
  while (ch >= g.cin) {
    ch -= g.cin;
    if (++v == g.s) v = 0, ++u;
  }
  auto advance = [&]() {
    kd += kBK;
    ch += kBK;
    while (ch >= g.cin) {
      ch -= g.cin;
      if (++v == g.s) v = 0, ++u;
    }
  };

  float ra[A_LOADS * AV], rb[B_LOADS * AV];
  auto load = [&]() {
    const int du = u - g.ph, dv = v - g.pw;
    const bool kval = kd < g.kd;
#pragma unroll
    for (int l = 0; l < A_LOADS; ++l) {
      const int idx = tid + l * NT;
      const int row = idx / KG;
      bool ok = false;
      long long off = 0;
      if (idx < A_TOTAL) {
        const int m = row_m[row], ii = row_i[row] + du, jj = row_j[row] + dv;
        ok = kval && m >= 0 && ii >= 0 && ii < g.h && jj >= 0 && jj < g.w;
        off = ((long long)m + (long long)du * g.w + dv) * g.cin + ch;
      }
      if constexpr (kVec) {
        const float4 q = ok ? *reinterpret_cast<const float4*>(x + off) : make_float4(0.f, 0.f, 0.f, 0.f);
        ra[4 * l + 0] = q.x, ra[4 * l + 1] = q.y, ra[4 * l + 2] = q.z, ra[4 * l + 3] = q.w;
      } else {
        ra[l] = ok ? x[off] : 0.f;
      }
    }
#pragma unroll
    for (int l = 0; l < B_LOADS; ++l) {
      const int idx = tid + l * NT;
      const int col = n0 + idx / KG;
      const bool ok = idx < B_TOTAL && kval && col < g.cout;
      const long long off = (long long)col * g.kd + kd;
      if constexpr (kVec) {
        const float4 q = ok ? *reinterpret_cast<const float4*>(wt + off) : make_float4(0.f, 0.f, 0.f, 0.f);
        rb[4 * l + 0] = q.x, rb[4 * l + 1] = q.y, rb[4 * l + 2] = q.z, rb[4 * l + 3] = q.w;
      } else {
        rb[l] = ok ? wt[off] : 0.f;
      }
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int l = 0; l < A_LOADS; ++l) {
      const int idx = tid + l * NT;
      if (idx < A_TOTAL)
#pragma unroll
        for (int e = 0; e < AV; ++e) As[buf][kk0 + e][idx / KG] = ra[AV * l + e];
    }
#pragma unroll
    for (int l = 0; l < B_LOADS; ++l) {
      const int idx = tid + l * NT;
      if (idx < B_TOTAL)
#pragma unroll
        for (int e = 0; e < AV; ++e) Bs[buf][kk0 + e][idx / KG] = rb[AV * l + e];
    }
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  __syncthreads();  // the row table
  const int T = (g.kd + kBK - 1) / kBK;
  load();
  store(0);
  advance();
  __syncthreads();
  for (int t = 0; t < T; ++t) {
    const int cur = t & 1;
    if (t + 1 < T) load();
    tile_fma<TM, TN>(acc, As[cur], Bs[cur], ty, tx);
    if (t + 1 < T) {
      store(cur ^ 1);
      advance();
    }
    __syncthreads();
  }

  // Epilogue: bias, optional ELU, float4 stores where the output rows allow.
  const int nc = n0 + tx * TN;
  float bias[TN];
#pragma unroll
  for (int j = 0; j < TN; ++j) bias[j] = (b && nc + j < g.cout) ? b[nc + j] : 0.f;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const long long m = m0 + ty * TM + i;
    if (m >= g.m) continue;
    float o[TN];
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const float z = acc[i][j] + bias[j];
      o[j] = elu ? conv_elu(z) : z;
    }
    float* yp = y + m * g.cout + nc;
    if (vec_out) {
      if (nc < g.cout) *reinterpret_cast<float4*>(yp) = make_float4(o[0], o[1], o[2], o[3]);
    } else {
#pragma unroll
      for (int j = 0; j < TN; ++j)
        if (nc + j < g.cout) yp[j] = o[j];
    }
  }
}

// wt [k][r][s][c] -> wt_t [c][r][s][k] with the taps flipped: the filter of backward data.
__global__ void conv2d_flip_transpose_kernel(ConvGeom g, const float* __restrict__ wt, float* __restrict__ wt_t) {
  const long long total = (long long)g.cout * g.kd;  // k * r * s * c (forward geometry)
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    long long rest = idx;
    const int k = int(rest % g.cout);
    rest /= g.cout;
    const int v = int(rest % g.s);
    rest /= g.s;
    const int u = int(rest % g.r);
    const int c = int(rest / g.r);
    wt_t[idx] = wt[(((long long)k * g.r + (g.r - 1 - u)) * g.s + (g.s - 1 - v)) * g.cin + c];
  }
}

// ---------------------------------------------------------------------------------------------
// v2 weight gradient: D[k][col] = sum_m dz[m][k] * A'[m][col], col in [0, kd]: A' is the implicit
// im2col of x plus a column of ones (col == kd), so D's last column is db. The m range is split
// over blockIdx.z (split-K); each split writes its partial D to the workspace, and
// conv2d_bwd_weights_reduce_kernel sums the splits in order: no atomics, bitwise reproducible.
// Block tile BMo (k) x BNo (col), reduction step kBK pixels, micro-tile TM x TN.
// kVec: float4 loads (cin % 4 == 0, cout % 4 == 0, 16-byte aligned x and dz).

constexpr int kColOnes = 1 << 29;     // col_du value of the ones column (db)
constexpr int kColNone = -(1 << 29);  // col_du value of columns past kd: every tap check fails

template <int BMo, int BNo, int TM, int TN, bool kVec>
__global__ void __launch_bounds__((BMo / TM) * (BNo / TN), 2)
    conv2d_bwd_weights_kernel_v2_split_k(ConvGeom g, int chunk, const float* __restrict__ x,
                                         const float* __restrict__ dz, float* __restrict__ partial) {
  constexpr int NTX = BNo / TN, NTY = BMo / TM, NT = NTX * NTY;
  constexpr int AV = kVec ? 4 : 1;
  constexpr int XG = BNo / AV;  // column groups of the x tile
  constexpr int ZG = BMo / AV;  // k groups of the dz tile
  constexpr int X_TOTAL = kBK * XG, Z_TOTAL = kBK * ZG;
  constexpr int X_LOADS = (X_TOTAL + NT - 1) / NT, Z_LOADS = (Z_TOTAL + NT - 1) / NT;
  static_assert(NT % kBK == 0, "every x load of a thread must share one pixel");
  static_assert(TN % 4 == 0, "column fragments are read as float4");

  __shared__ __align__(16) float Zs[2][kBK][BMo + 4];
  __shared__ __align__(16) float Xs[2][kBK][BNo + 4];
  __shared__ int col_du[XG], col_dv[XG], col_ch[XG];

  const int tid = threadIdx.x;
  const int tx = tid % NTX, ty = tid / NTX;
  const int col0 = blockIdx.x * BNo;
  const int k0 = blockIdx.y * BMo;
  const int split = blockIdx.z;
  const long long m_begin = (long long)split * chunk;
  const long long m_end = m_begin + chunk < g.m ? m_begin + chunk : g.m;

  for (int cg = tid; cg < XG; cg += NT) {
    const int col = col0 + cg * AV;
    int du = kColNone, dv = 0, c = 0;
    if (col < g.kd) {
      const int tap = col / g.cin;
      c = col % g.cin;
      du = tap / g.s - g.ph;
      dv = tap % g.s - g.pw;
    } else if (col == g.kd) {
      du = kColOnes;
    }
    col_du[cg] = du, col_dv[cg] = dv, col_ch[cg] = c;
  }

  // The thread's pixel for the x tile: row tid % kBK of every step, advanced by kBK.
  long long mx = m_begin + tid % kBK;
  int jx = int(mx % g.w), ix = int((mx / g.w) % g.h);
  auto advance = [&]() {
    mx += kBK;
    jx += kBK;
    while (jx >= g.w) {
      jx -= g.w;
      if (++ix == g.h) ix = 0;
    }
  };

  float rx[X_LOADS * AV], rz[Z_LOADS * AV];
  auto load = [&](long long m_tile) {
    const bool mok = mx < m_end;
#pragma unroll
    for (int l = 0; l < X_LOADS; ++l) {
      const int idx = tid + l * NT;
      float q[AV];
#pragma unroll
      for (int e = 0; e < AV; ++e) q[e] = 0.f;
      if (idx < X_TOTAL && mok) {
        const int cg = idx / kBK;
        const int du = col_du[cg];
        if (du == kColOnes) {
          q[0] = 1.f;
        } else {
          const int dv = col_dv[cg], ii = ix + du, jj = jx + dv;
          if (ii >= 0 && ii < g.h && jj >= 0 && jj < g.w) {
            const float* p = x + (mx + (long long)du * g.w + dv) * g.cin + col_ch[cg];
            if constexpr (kVec) {
              const float4 t = *reinterpret_cast<const float4*>(p);
              q[0] = t.x, q[1] = t.y, q[2] = t.z, q[3] = t.w;
            } else {
              q[0] = *p;
            }
          }
        }
      }
#pragma unroll
      for (int e = 0; e < AV; ++e) rx[AV * l + e] = q[e];
    }
#pragma unroll
    for (int l = 0; l < Z_LOADS; ++l) {
      const int idx = tid + l * NT;
      const long long m = m_tile + idx / ZG;
      const int k = k0 + (idx % ZG) * AV;
      const bool ok = idx < Z_TOTAL && m < m_end && k < g.cout;
      const float* p = dz + m * g.cout + k;
      if constexpr (kVec) {
        const float4 t = ok ? *reinterpret_cast<const float4*>(p) : make_float4(0.f, 0.f, 0.f, 0.f);
        rz[4 * l + 0] = t.x, rz[4 * l + 1] = t.y, rz[4 * l + 2] = t.z, rz[4 * l + 3] = t.w;
      } else {
        rz[l] = ok ? *p : 0.f;
      }
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int l = 0; l < X_LOADS; ++l) {
      const int idx = tid + l * NT;
      if (idx < X_TOTAL)
#pragma unroll
        for (int e = 0; e < AV; ++e) Xs[buf][idx % kBK][(idx / kBK) * AV + e] = rx[AV * l + e];
    }
#pragma unroll
    for (int l = 0; l < Z_LOADS; ++l) {
      const int idx = tid + l * NT;
      if (idx < Z_TOTAL)
#pragma unroll
        for (int e = 0; e < AV; ++e) Zs[buf][idx / ZG][(idx % ZG) * AV + e] = rz[AV * l + e];
    }
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  __syncthreads();  // the column table
  const int T = m_end > m_begin ? int((m_end - m_begin + kBK - 1) / kBK) : 0;
  if (T > 0) {
    load(m_begin);
    store(0);
    advance();
  }
  __syncthreads();
  for (int t = 0; t < T; ++t) {
    const int cur = t & 1;
    if (t + 1 < T) load(m_begin + (long long)(t + 1) * kBK);
    tile_fma<TM, TN>(acc, Zs[cur], Xs[cur], ty, tx);
    if (t + 1 < T) {
      store(cur ^ 1);
      advance();
    }
    __syncthreads();
  }

  const int ncol = g.kd + 1;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int k = k0 + ty * TM + i;
    if (k >= g.cout) continue;
    float* pp = partial + ((long long)split * g.cout + k) * ncol;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int col = col0 + tx * TN + j;
      if (col < ncol) pp[col] = acc[i][j];
    }
  }
}

// dw/db = the sum of the split-K partials, in split order.
__global__ void conv2d_bwd_weights_reduce_kernel(int cout, int kd, int splits, const float* __restrict__ partial,
                                                 float* __restrict__ dw, float* __restrict__ db) {
  const long long total = (long long)cout * (kd + 1);
  const long long stride = (long long)blockDim.x * gridDim.x;
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    float acc = 0.f;
    for (int s = 0; s < splits; ++s) acc += partial[(long long)s * total + idx];
    const int k = int(idx / (kd + 1)), col = int(idx % (kd + 1));
    if (col < kd) {
      if (dw) dw[(long long)k * kd + col] = acc;
    } else if (db) {
      db[k] = acc;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// v3: small-channel direct convolution, for the first layer (c = 3, 5x5, k = 16) whose GEMM
// shape (n = 16, kd = 75) wastes most of a GEMM tile. A block computes a 16 x 32 output tile of
// one image for KT output channels: the input tile + halo and the KT filters sit in shared
// memory (one chunk of cc input channels at a time), every thread keeps 2 pixels (columns tx and
// tx + 16) x KT channels in registers. Tile reads use an odd channel stride (conflict-free);
// filter reads are float4 broadcasts. Dynamic shared memory, at most 48 KiB.

constexpr int kV3TH = 16, kV3TW = 32, kV3Threads = 256;

template <int KT>
__global__ void __launch_bounds__(kV3Threads, 2)
    conv2d_fwd_kernel_v3_small_channel(ConvGeom g, int cc, int tiles_w, int tiles_h, int kchunks,
                                       const float* __restrict__ x, const float* __restrict__ wt,
                                       const float* __restrict__ b, float* __restrict__ y, int elu, int vec_out) {
  static_assert(KT % 4 == 0, "filter fragments are read as float4");
  float* smem = simt::dynamic_shared<float>();
  float* wsm = smem;                          // [r*s][cn][KT]
  float* tile = smem + g.r * g.s * cc * KT;   // [halo rows * halo cols][cn | 1]
  const int hw = kV3TW + g.s - 1, hh = kV3TH + g.r - 1;

  long long bid = blockIdx.x;
  const int tw = int(bid % tiles_w);
  bid /= tiles_w;
  const int th = int(bid % tiles_h);
  bid /= tiles_h;
  const int kc = int(bid % kchunks);
  const int n = int(bid / kchunks);
  const int i0 = th * kV3TH, j0 = tw * kV3TW, k0 = kc * KT;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;

  float acc0[KT], acc1[KT];
#pragma unroll
  for (int q = 0; q < KT; ++q) acc0[q] = 0.f, acc1[q] = 0.f;

  for (int c0 = 0; c0 < g.cin; c0 += cc) {
    const int cn = g.cin - c0 < cc ? g.cin - c0 : cc;
    const int cp = cn | 1;
    if (c0 > 0) __syncthreads();  // everyone is done with the previous chunk
    const int wn = g.r * g.s * cn * KT;
    for (int idx = threadIdx.x; idx < wn; idx += kV3Threads) {
      const int kt = idx % KT, rest = idx / KT;
      const int c = rest % cn, tap = rest / cn;
      const int k = k0 + kt;
      wsm[idx] = k < g.cout ? wt[((long long)k * g.r * g.s + tap) * g.cin + c0 + c] : 0.f;
    }
    const int tn = hh * hw * cn;
    for (int idx = threadIdx.x; idx < tn; idx += kV3Threads) {
      const int c = idx % cn, px = idx / cn;
      const int ii = i0 + px / hw - g.ph, jj = j0 + px % hw - g.pw;
      float val = 0.f;
      if (ii >= 0 && ii < g.h && jj >= 0 && jj < g.w)
        val = x[(((long long)n * g.h + ii) * g.w + jj) * g.cin + c0 + c];
      tile[px * cp + c] = val;
    }
    __syncthreads();
    for (int u = 0; u < g.r; ++u)
      for (int v = 0; v < g.s; ++v) {
        const float* t0 = tile + ((ty + u) * hw + tx + v) * cp;
        const float* t1 = t0 + 16 * cp;
        const float* wp = wsm + (u * g.s + v) * cn * KT;
        for (int c = 0; c < cn; ++c) {
          const float x0 = t0[c], x1 = t1[c];
          float wv[KT];
          load_frag<KT>(wv, wp + c * KT);
#pragma unroll
          for (int q = 0; q < KT; ++q) {
            acc0[q] += x0 * wv[q];
            acc1[q] += x1 * wv[q];
          }
        }
      }
  }

  float bias[KT];
#pragma unroll
  for (int q = 0; q < KT; ++q) bias[q] = (b && k0 + q < g.cout) ? b[k0 + q] : 0.f;
  const int i = i0 + ty;
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    const int j = j0 + tx + 16 * p;
    if (i >= g.h || j >= g.w) continue;
    float* yp = y + (((long long)n * g.h + i) * g.w + j) * g.cout + k0;
#pragma unroll
    for (int q4 = 0; q4 < KT; q4 += 4) {
      float o[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float z = (p == 0 ? acc0[q4 + e] : acc1[q4 + e]) + bias[q4 + e];
        o[e] = elu ? conv_elu(z) : z;
      }
      if (vec_out) {
        if (k0 + q4 < g.cout) *reinterpret_cast<float4*>(yp + q4) = make_float4(o[0], o[1], o[2], o[3]);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (k0 + q4 + e < g.cout) yp[q4 + e] = o[e];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers.

namespace {

constexpr std::size_t kV3MaxSmem = 48 * 1024;

ConvGeom forward_geom(const Conv2dArgs& a) {
  return ConvGeom{a.n, a.h, a.w, a.c, a.k, a.r, a.s, (a.r - 1) / 2, (a.s - 1) / 2, a.r * a.s * a.c, a.n * a.h * a.w};
}
// Backward data as a forward convolution of dz (k channels) to c channels.
ConvGeom data_geom(const Conv2dArgs& a) {
  return ConvGeom{a.n, a.h, a.w, a.k, a.c, a.r, a.s, (a.r - 1) / 2, (a.s - 1) / 2, a.r * a.s * a.k, a.n * a.h * a.w};
}

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

std::size_t round256(std::size_t b) { return (b + 255) / 256 * 256; }

// Blocks of `threads` for a grid-stride loop over `total` items.
unsigned stride_blocks(long long total, int threads) {
  const long long blocks = (total + threads - 1) / threads;
  return unsigned(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

template <int BM, int BN, int TM, int TN>
void launch_fwd_v2_tile(const ConvGeom& g, const float* x, const float* wt, const float* b, float* y, bool elu,
                        stream_t stream) {
  constexpr int NT = (BM / TM) * (BN / TN);
  const long long gx = ((long long)g.m + BM - 1) / BM, gy = (g.cout + BN - 1) / BN;
  LC_CHECK(gx <= 0x7fffffffLL && gy <= 65535, "conv2d v2: grid too large (", gx, " x ", gy, ")");
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
  const bool vec = g.cin % 4 == 0 && aligned16(x) && aligned16(wt);
  const int vec_out = g.cout % 4 == 0 && aligned16(y);
  if (vec)
    simt::launch(conv2d_fwd_kernel_v2_implicit_gemm<BM, BN, TM, TN, true>, grid, dim3(NT), 0, stream, g, x, wt, b,
                 y, int(elu), vec_out);
  else
    simt::launch(conv2d_fwd_kernel_v2_implicit_gemm<BM, BN, TM, TN, false>, grid, dim3(NT), 0, stream, g, x, wt, b,
                 y, int(elu), vec_out);
}

// Tile shape by the GEMM's n (output channels), and for n > 32 by size: 128 x 64 tiles once the
// 64 x 64 grid has 1024 blocks (about 8 per SM of an H100; the larger tile still fills it).
void launch_conv2d_fwd_v2(const ConvGeom& g, const float* x, const float* wt, const float* b, float* y, bool elu,
                          stream_t stream) {
  if (g.cout <= 16) return launch_fwd_v2_tile<64, 16, 4, 4>(g, x, wt, b, y, elu, stream);
  if (g.cout <= 32) return launch_fwd_v2_tile<64, 32, 4, 4>(g, x, wt, b, y, elu, stream);
  const long long blocks64 = ((long long)g.m + 63) / 64 * ((g.cout + 63) / 64);
  if (blocks64 >= 1024) return launch_fwd_v2_tile<128, 64, 8, 4>(g, x, wt, b, y, elu, stream);
  return launch_fwd_v2_tile<64, 64, 4, 4>(g, x, wt, b, y, elu, stream);
}

int v3_kt(int cout) { return cout <= 4 ? 4 : cout <= 8 ? 8 : 16; }

// Input channels per chunk so that the filters and the haloed tile fit kV3MaxSmem.
int v3_channel_chunk(const ConvGeom& g, int kt) {
  const long long halo = (long long)(kV3TH + g.r - 1) * (kV3TW + g.s - 1);
  const long long per_c = (long long)g.r * g.s * kt + halo;  // floats per channel (tile stride cc | 1 <= cc + 1)
  const long long budget = (long long)(kV3MaxSmem / sizeof(float)) - halo;
  const long long cc = budget / per_c;
  LC_CHECK(cc >= 1, "conv2d version 3: a ", g.r, "x", g.s, " filter does not fit its 48 KiB of shared memory");
  return int(cc < g.cin ? cc : g.cin);
}

template <int KT>
void launch_fwd_v3_kt(const ConvGeom& g, const float* x, const float* wt, const float* b, float* y, bool elu,
                      stream_t stream) {
  const int cc = v3_channel_chunk(g, KT);
  const std::size_t smem =
      sizeof(float) * ((std::size_t)g.r * g.s * cc * KT + (std::size_t)(kV3TH + g.r - 1) * (kV3TW + g.s - 1) * (cc | 1));
  const int tiles_w = (g.w + kV3TW - 1) / kV3TW, tiles_h = (g.h + kV3TH - 1) / kV3TH;
  const int kchunks = (g.cout + KT - 1) / KT;
  const long long blocks = (long long)tiles_w * tiles_h * kchunks * g.n;
  LC_CHECK(blocks <= 0x7fffffffLL, "conv2d version 3: grid too large (", blocks, " blocks)");
  const int vec_out = g.cout % 4 == 0 && aligned16(y);
  simt::launch(conv2d_fwd_kernel_v3_small_channel<KT>, dim3(unsigned(blocks)), dim3(kV3Threads), smem, stream, g, cc,
               tiles_w, tiles_h, kchunks, x, wt, b, y, int(elu), vec_out);
}

void launch_conv2d_fwd_v3(const ConvGeom& g, const float* x, const float* wt, const float* b, float* y, bool elu,
                          stream_t stream) {
  switch (v3_kt(g.cout)) {
    case 4: return launch_fwd_v3_kt<4>(g, x, wt, b, y, elu, stream);
    case 8: return launch_fwd_v3_kt<8>(g, x, wt, b, y, elu, stream);
    default: return launch_fwd_v3_kt<16>(g, x, wt, b, y, elu, stream);
  }
}

// Split-K plan of the weight gradient, from the shape only (never from the device), so that the
// summation order, and so the result, is the same on every run.
struct DwPlan {
  int bmo;     // tile rows (output channels)
  int splits;  // blockIdx.z
  int chunk;   // pixels per split, a multiple of kBK
};
constexpr int kDwBNo = 64;

DwPlan dw_plan(const ConvGeom& g) {
  DwPlan p{};
  p.bmo = g.cout <= 16 ? 16 : g.cout <= 32 ? 32 : 64;
  const long long tiles = (long long)((g.kd + 1 + kDwBNo - 1) / kDwBNo) * ((g.cout + p.bmo - 1) / p.bmo);
  const long long target_blocks = 264;  // two waves of a 132-SM GPU; a constant, not a device query
  long long splits = (target_blocks + tiles - 1) / tiles;
  const long long max_splits = ((long long)g.m + 255) / 256;  // at least 16 steps of kBK pixels
  if (splits > max_splits) splits = max_splits;
  if (splits < 1) splits = 1;
  long long chunk = ((long long)g.m + splits - 1) / splits;
  chunk = (chunk + kBK - 1) / kBK * kBK;
  p.chunk = int(chunk);
  p.splits = int(((long long)g.m + chunk - 1) / chunk);
  return p;
}

std::size_t dw_partial_bytes(const ConvGeom& g) {
  const DwPlan p = dw_plan(g);
  return sizeof(float) * (std::size_t)p.splits * g.cout * (g.kd + 1);
}

template <int BMo, int TM>
void launch_dw_v2_tile(const ConvGeom& g, const DwPlan& p, const float* x, const float* dz, float* partial,
                       stream_t stream) {
  constexpr int NT = (BMo / TM) * (kDwBNo / 4);
  const dim3 grid(static_cast<unsigned>((g.kd + 1 + kDwBNo - 1) / kDwBNo), static_cast<unsigned>((g.cout + BMo - 1) / BMo),
                  static_cast<unsigned>(p.splits));
  LC_CHECK(grid.y <= 65535 && grid.z <= 65535, "conv2d dw v2: grid too large");
  const bool vec = g.cin % 4 == 0 && g.cout % 4 == 0 && aligned16(x) && aligned16(dz);
  if (vec)
    simt::launch(conv2d_bwd_weights_kernel_v2_split_k<BMo, kDwBNo, TM, 4, true>, grid, dim3(NT), 0, stream, g, p.chunk,
                 x, dz, partial);
  else
    simt::launch(conv2d_bwd_weights_kernel_v2_split_k<BMo, kDwBNo, TM, 4, false>, grid, dim3(NT), 0, stream, g,
                 p.chunk, x, dz, partial);
}

void check_workspace(const Workspace& ws, std::size_t need, const char* fn) {
  LC_CHECK(ws.bytes >= need && (need == 0 || ws.ptr != nullptr), fn, ": workspace of ", ws.bytes,
           " bytes, needs ", need, " (conv2d_workspace_bytes)");
}

}  // namespace

std::size_t conv2d_workspace_bytes(const Conv2dArgs& a) {
  conv2d_check_args(a, "conv2d_workspace_bytes");
  std::size_t bytes = 0;
  if (conv2d_version_for(a, Conv2dPass::backward_data) != kConv2dDirect)
    bytes = round256(sizeof(float) * (std::size_t)a.k * a.r * a.s * a.c);
  if (conv2d_version_for(a, Conv2dPass::backward_weights) == kConv2dImplicitGemm) {
    const std::size_t dw = round256(dw_partial_bytes(forward_geom(a)));
    if (dw > bytes) bytes = dw;
  }
  return bytes;
}

void conv2d_forward(const Conv2dArgs& a, const float* x, const float* wt, const float* b, float* y, Workspace,
                    stream_t stream) {
  conv2d_check_args(a, "conv2d_forward");
  const ConvGeom g = forward_geom(a);
  switch (conv2d_version_for(a, Conv2dPass::forward)) {
    case kConv2dDirect: {
      const long long total = (long long)g.m * g.cout;
      simt::launch_flat(conv2d_fwd_kernel_v1_direct, dim3(stride_blocks(total, 256)), dim3(256), 0, stream, g, x, wt,
                        b, y, int(a.fuse_elu));
      return;
    }
    case kConv2dImplicitGemm: return launch_conv2d_fwd_v2(g, x, wt, b, y, a.fuse_elu, stream);
    default: return launch_conv2d_fwd_v3(g, x, wt, b, y, a.fuse_elu, stream);
  }
}

void conv2d_backward_data(const Conv2dArgs& a, const float* dz, const float* wt, float* dx, Workspace ws,
                          stream_t stream) {
  conv2d_check_args(a, "conv2d_backward_data");
  if (!dx) return;
  const ConvGeom fg = forward_geom(a);
  const int version = conv2d_version_for(a, Conv2dPass::backward_data);
  if (version == kConv2dDirect) {
    const long long total = (long long)fg.m * fg.cin;
    simt::launch_flat(conv2d_bwd_data_kernel_v1_direct, dim3(stride_blocks(total, 256)), dim3(256), 0, stream, fg, dz,
                      wt, dx);
    return;
  }
  const long long wn = (long long)a.k * a.r * a.s * a.c;
  check_workspace(ws, sizeof(float) * (std::size_t)wn, "conv2d_backward_data");
  float* wt_t = static_cast<float*>(ws.ptr);
  simt::launch_flat(conv2d_flip_transpose_kernel, dim3(stride_blocks(wn, 256)), dim3(256), 0, stream, fg, wt, wt_t);
  const ConvGeom dg = data_geom(a);
  if (version == kConv2dImplicitGemm) return launch_conv2d_fwd_v2(dg, dz, wt_t, nullptr, dx, false, stream);
  return launch_conv2d_fwd_v3(dg, dz, wt_t, nullptr, dx, false, stream);
}

void conv2d_backward_weights(const Conv2dArgs& a, const float* x, const float* dz, float* dw, float* db,
                             Workspace ws, stream_t stream) {
  conv2d_check_args(a, "conv2d_backward_weights");
  LC_CHECK(dw || db, "conv2d_backward_weights: dw and db are both null");
  const ConvGeom g = forward_geom(a);
  if (conv2d_version_for(a, Conv2dPass::backward_weights) == kConv2dDirect) {
    const long long total = (long long)g.cout * (g.kd + 1);
    simt::launch_flat(conv2d_bwd_weights_kernel_v1_direct, dim3(stride_blocks(total, 128)), dim3(128), 0, stream, g, x,
                      dz, dw, db);
    return;
  }
  const DwPlan p = dw_plan(g);
  check_workspace(ws, dw_partial_bytes(g), "conv2d_backward_weights");
  float* partial = static_cast<float*>(ws.ptr);
  switch (p.bmo) {
    case 16: launch_dw_v2_tile<16, 2>(g, p, x, dz, partial, stream); break;
    case 32: launch_dw_v2_tile<32, 4>(g, p, x, dz, partial, stream); break;
    default: launch_dw_v2_tile<64, 4>(g, p, x, dz, partial, stream); break;
  }
  const long long total = (long long)g.cout * (g.kd + 1);
  simt::launch_flat(conv2d_bwd_weights_reduce_kernel, dim3(stride_blocks(total, 256)), dim3(256), 0, stream, g.cout,
                    g.kd, p.splits, partial, dw, db);
}

}  // namespace lc::LC_KERNEL_NS

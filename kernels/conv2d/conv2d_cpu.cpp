// 2-D convolution on the host for the cpu backend (contract: conv2d.h), the path that trains the
// model without a GPU. OpenMP over blocks of rows (output pixels); OpenBLAS single-threaded
// inside the parallel region (its own threads would fight OpenMP's for the same cores).
// GEMM path (every shape):
//   forward        col[rows][r*s*c] = im2col(x); y[rows][k] = b + col . wt^T; then ELU
//   backward data  c >= 8: dx = the forward convolution of dz with the flipped, transposed
//                  filter (a gather: no scatter, no zeroing pass); c < 8: per image,
//                  col = dz . wt, dx = col2im(col) (a fixed-order scatter within the image)
//   backward wts   per thread: dw_t = sum over its row blocks of dz^T . im2col(x), db_t = the
//                  column sums of dz; then dw = dw_0 + dw_1 + ... in thread order
// Direct path (the first layer: c <= 4, k = 8, 16, 24 or 32, on CPUs with AVX2 and FMA): the
// GEMM shape (n = k = 16, kd = 75) spends more time in im2col/col2im than in the GEMM, so all
// three passes loop over pixels and taps directly with k vectorized in 8-float AVX registers,
// on the filter transposed to [tap][c][k] (dx gathers; dw accumulates per thread).
// Wide direct path (c % 8 == 0 and k % 16 == 0, AVX2 + FMA: the 3x3 layers' forward, and their
// backward data as the forward convolution with the flipped filter when k % 8 == 0 and
// c % 16 == 0): per output row a zero-padded copy of the input rows it reads (in the thread's
// column block), then tiles of up to 6 pixels x 16 channels held in registers over every tap and
// channel, filter as [tap][c][k]; bias and ELU applied as the tile is stored. No im2col, no GEMM
// packing. Backward weights stays on im2col + GEMM.
// Workspace: [transposed filter] + one slice per thread (column block, dw and db partials), see
// conv2d.h. The row blocks and their assignment depend only on the shape and the thread count
// P, so results are bitwise reproducible for a fixed P. 1x1 filters skip im2col.
// Depends on: conv2d.h, OpenBLAS (cblas.h, openblas_set_num_threads), OpenMP, <immintrin.h>.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/common/blas_threads.h"
#include "kernels/common/cpu_simd.h"
#include "kernels/conv2d/conv2d.h"

#define LC_CONV_X86 LC_CPU_X86

namespace lc::cpu {

namespace {

struct Geo {
  int n, h, w, c, k, r, s, ph, pw;
  int kd;       // r * s * c
  long long m;  // n * h * w
};

Geo geo_of(const Conv2dArgs& a) {
  return Geo{a.n, a.h, a.w, a.c, a.k, a.r, a.s, (a.r - 1) / 2, (a.s - 1) / 2, a.r * a.s * a.c,
             (long long)a.n * a.h * a.w};
}

// Column block per thread: about 512 KiB (the per-core L2), at least one row.
constexpr long long kColFloats = 1 << 17;
long long cap_rows(int kd) { return std::max<long long>(1, kColFloats / kd); }
long long cap_rows(const Geo& g) { return cap_rows(g.kd); }

// Backward data for c >= kGatherMinC gathers instead of scattering: dx is the forward
// convolution of dz with the flipped, transposed filter (no col2im scatter, no zeroing pass);
// below that (the first layer's c = 3), dz . wt then col2im is cheaper than a GEMM with n = c.
constexpr int kGatherMinC = 8;
bool gather_dx(const Geo& g) { return g.c >= kGatherMinC; }
// dx as a forward convolution: dz (k channels) to c channels.
Geo data_geo(const Geo& g) {
  Geo d = g;
  d.c = g.k, d.k = g.c, d.kd = g.r * g.s * g.k;
  return d;
}

// The direct path: few input channels, k a multiple of 8 up to 32, AVX2 + FMA at run time.
bool direct_path(const Geo& g) { return g.c <= 4 && g.k % 8 == 0 && g.k <= 32 && cpu_has_avx2_fma(); }
// The wide direct path (forward and gathered backward data): c % 8 == 0, k % 16 == 0, AVX2 + FMA.
bool wide_path(const Geo& g) { return g.c % 8 == 0 && g.k % 16 == 0 && g.r * g.s > 1 && g.r <= 32 && cpu_has_avx2_fma(); }

std::size_t round16(std::size_t f) { return (f + 15) / 16 * 16; }

// Workspace = [transposed filter (gather dx and the direct path)] [slice 0] [slice 1] ... with
// one slice per thread: column block, dw partial, db partial; in floats, 64-byte multiples so
// that slices never share a cache line.
std::size_t shared_floats(const Geo& g) {
  return gather_dx(g) || direct_path(g) ? round16(std::size_t(g.k) * g.kd) : 0;
}
std::size_t col_floats(const Geo& g) {
  return std::max(std::size_t(cap_rows(g)) * g.kd, std::size_t(cap_rows(data_geo(g))) * std::size_t(data_geo(g).kd));
}
std::size_t slice_floats(const Geo& g) { return round16(col_floats(g) + std::size_t(g.k) * g.kd + g.k); }

// Threads this call uses: OpenMP's count, capped by what the workspace holds.
int plan_threads(const Geo& g, const Workspace& ws, const char* fn) {
  const std::size_t per = slice_floats(g) * sizeof(float), shared = shared_floats(g) * sizeof(float);
  const std::size_t fit = ws.ptr && ws.bytes >= shared ? (ws.bytes - shared) / per : 0;
  LC_CHECK(fit >= 1, fn, " (cpu): workspace of ", ws.bytes, " bytes, needs at least ", shared + per,
           " (conv2d_workspace_bytes)");
  return int(std::min<std::size_t>(fit, std::size_t(std::max(1, omp_get_max_threads()))));
}
float* slice_base(const Geo& g, const Workspace& ws) { return static_cast<float*>(ws.ptr) + shared_floats(g); }

// Row blocks of [0, m): B blocks of `rows` rows (the last may be shorter), B a multiple of P
// so every thread gets the same number; thread t takes blocks [t*B/P, (t+1)*B/P).
struct Blocks {
  long long count, rows;
};
Blocks row_blocks(const Geo& g, int P) {
  long long count = (g.m + cap_rows(g) - 1) / cap_rows(g);
  count = (std::max<long long>(count, P) + P - 1) / P * P;
  count = std::min(count, g.m);
  const long long rows = (g.m + count - 1) / count;
  return Blocks{(g.m + rows - 1) / rows, rows};
}

// fn(t, m0, m1) for every non-empty block of rows [m0, m1) of g, on P threads: thread t takes
// blocks [t * count / P, (t + 1) * count / P) (and owns workspace slice t while it runs them).
template <class Fn>
void for_row_blocks(const Geo& g, int P, Fn&& fn) {
  const Blocks bl = row_blocks(g, P);
#pragma omp parallel num_threads(P)
  for (int t = omp_get_thread_num(); t < P; t += omp_get_num_threads())
    for (long long blk = t * bl.count / P; blk < (t + 1) * bl.count / P; ++blk) {
      const long long m0 = blk * bl.rows, m1 = std::min(g.m, m0 + bl.rows);
      if (m0 < m1) fn(t, m0, m1);
    }
}

// dst[0, len) = src[0, len): the runs of im2col are short (s * c floats, 15 in the first
// layer), where a memcpy call per run costs more than the copy.
inline void copy_run(float* dst, const float* src, int len) {
  int e = 0;
#if LC_CONV_X86
  for (; e + 4 <= len; e += 4) _mm_storeu_ps(dst + e, _mm_loadu_ps(src + e));
#endif
  for (; e < len; ++e) dst[e] = src[e];
}

// col[row][(u, v, ch)] for output pixels [m0, m1) of x (zero where the tap leaves the image).
void im2col(const Geo& g, const float* x, long long m0, long long m1, float* col) {
  int j = int(m0 % g.w), i = int((m0 / g.w) % g.h);
  long long n = m0 / ((long long)g.w * g.h);
  const std::size_t sc = std::size_t(g.s) * g.c;
  for (long long m = m0; m < m1; ++m) {
    float* dst = col + (m - m0) * g.kd;
    const int v0 = std::max(0, g.pw - j), v1 = std::min(g.s, g.w - j + g.pw);
    for (int u = 0; u < g.r; ++u, dst += sc) {
      const int ii = i + u - g.ph;
      if (ii < 0 || ii >= g.h || v0 >= v1) {
        std::memset(dst, 0, sc * sizeof(float));
        continue;
      }
      if (v0 > 0) std::memset(dst, 0, std::size_t(v0) * g.c * sizeof(float));
      const float* src = x + ((n * g.h + ii) * g.w + (j + v0 - g.pw)) * g.c;
      copy_run(dst + std::size_t(v0) * g.c, src, (v1 - v0) * g.c);
      if (v1 < g.s) std::memset(dst + std::size_t(v1) * g.c, 0, std::size_t(g.s - v1) * g.c * sizeof(float));
    }
    if (++j == g.w) {
      j = 0;
      if (++i == g.h) i = 0, ++n;
    }
  }
}

// dx[image n] += the columns of pixels [p0, p1) of image n (p = i * w + j), taps inside only.
void col2im_add(const Geo& g, const float* col, long long n, int p0, int p1, float* dx) {
  int j = p0 % g.w, i = p0 / g.w;
  float* dxn = dx + n * g.h * g.w * (long long)g.c;
  for (int p = p0; p < p1; ++p) {
    const float* src = col + std::size_t(p - p0) * g.kd;
    const int v0 = std::max(0, g.pw - j), v1 = std::min(g.s, g.w - j + g.pw);
    for (int u = 0; u < g.r; ++u) {
      const int ii = i + u - g.ph;
      if (ii < 0 || ii >= g.h) continue;
      const float* sp = src + (std::size_t(u) * g.s + v0) * g.c;
      float* dp = dxn + ((long long)ii * g.w + (j + v0 - g.pw)) * g.c;
      const int len = (v1 - v0) * g.c;
      for (int e = 0; e < len; ++e) dp[e] += sp[e];
    }
    if (++j == g.w) j = 0, ++i;
  }
}

// Branch-free select (a plain ?: on floats leaves control flow that stops vectorization).
inline float select_f(bool c, float a, float b) {
  const std::uint32_t m = 0u - std::uint32_t(c);
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(a) & m) | (std::bit_cast<std::uint32_t>(b) & ~m));
}

// expm1(x) for ELU's negative branch, in a form the compiler vectorizes: x = k ln2 + r with
// |r| <= ln2 / 2, expm1(x) = 2^k expm1(r) + (2^k - 1), expm1(r) by its degree-7 Taylor
// polynomial (truncation below 2e-8 relative). Checked exhaustively against expm1 in double
// over every float in [-25, 0]: at most 1.4 ulp. x is clamped to -20 (expm1(-20) rounds to -1)
// so 2^k stays normal; NaN stays NaN.
inline float expm1_neg(float x) {
  const float xc = select_f(x >= -20.f, x, -20.f);
  const float magic = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
  const float kf = (xc * 1.44269504f + magic) - magic;
  const float r = (xc - kf * 0.693145751953125f) - kf * 1.42860677e-06f;
  const float p =
      r * (1.f + r * (0.5f + r * (1.f / 6 + r * (1.f / 24 + r * (1.f / 120 + r * (1.f / 720 + r * (1.f / 5040)))))));
  const float scale = std::bit_cast<float>((std::int32_t(kf) + 127) << 23);
  return select_f(x == x, scale * p + (scale - 1.f), x);
}

#if LC_CONV_X86
// elu(expm1_neg) on 8 floats: the same operations in the same order (no FMA), so bitwise equal
// to the scalar form.
LC_AVX2 inline __m256 elu8(__m256 x) {
  const __m256 xc = _mm256_blendv_ps(_mm256_set1_ps(-20.f), x, _mm256_cmp_ps(x, _mm256_set1_ps(-20.f), _CMP_GE_OQ));
  const __m256 magic = _mm256_set1_ps(12582912.f);
  const __m256 kf = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504f)), magic), magic);
  const __m256 r = _mm256_sub_ps(_mm256_sub_ps(xc, _mm256_mul_ps(kf, _mm256_set1_ps(0.693145751953125f))),
                                 _mm256_mul_ps(kf, _mm256_set1_ps(1.42860677e-06f)));
  __m256 p = _mm256_set1_ps(1.f / 5040);
  const float coef[] = {1.f / 720, 1.f / 120, 1.f / 24, 1.f / 6, 0.5f, 1.f};
  for (float c : coef) p = _mm256_add_ps(_mm256_set1_ps(c), _mm256_mul_ps(r, p));
  p = _mm256_mul_ps(r, p);
  const __m256 scale = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(kf), _mm256_set1_epi32(127)), 23));
  const __m256 e = _mm256_add_ps(_mm256_mul_ps(scale, p), _mm256_sub_ps(scale, _mm256_set1_ps(1.f)));
  const __m256 neg = _mm256_blendv_ps(x, e, _mm256_cmp_ps(x, x, _CMP_ORD_Q));
  return _mm256_blendv_ps(neg, x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ));
}

LC_AVX2 long long elu_inplace_avx2(float* y, long long n) {
  long long i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, elu8(_mm256_loadu_ps(y + i)));
  return i;
}
#endif

// y[i] = elu(y[i]) over n contiguous floats.
void elu_inplace(float* y, long long n) {
  long long i = 0;
#if LC_CONV_X86
  if (cpu_has_avx2_fma()) i = elu_inplace_avx2(y, n);
#endif
#pragma omp simd
  for (long long j = i; j < n; ++j) {
    const float z = y[j];
    y[j] = select_f(z > 0.f, z, expm1_neg(z));
  }
}

void check_version(const Conv2dArgs& a, const char* fn) { conv2d_check_args(a, fn); }

// wtc[tap][ch][q] = wt[q][tap][ch] (tap = u * s + v): k contiguous, for the direct path.
void transpose_filter(const Geo& g, const float* wt, float* wtc) {
  const int taps = g.r * g.s;
  for (int tap = 0; tap < taps; ++tap)
    for (int ch = 0; ch < g.c; ++ch)
      for (int q = 0; q < g.k; ++q)
        wtc[(std::size_t(tap) * g.c + ch) * g.k + q] = wt[(std::size_t(q) * taps + tap) * g.c + ch];
}

#if LC_CONV_X86

LC_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Output pixels [m0, m1): y[m][q] = b[q] + sum over taps inside the image and channels. In the
// columns whose taps all stay inside the row (pw <= j < w - pw), PX pixels at a time
// (independent FMA chains; each filter vector loaded once for all of them); the border columns
// one at a time, skipping the taps outside.
template <int C, int KV>
LC_AVX2 void direct_forward(const Geo& g, const float* x, const float* wtc, const float* b, float* y, long long m0,
                            long long m1) {
  constexpr int K = 8 * KV, PX = KV <= 2 ? 4 : 2;
  int j = int(m0 % g.w), i = int((m0 / g.w) % g.h);
  for (long long m = m0; m < m1;) {
    const bool group = j >= g.pw && j + PX <= g.w - g.pw && m + PX <= m1;
    const int np = group ? PX : 1;
    __m256 acc[PX][KV];
#pragma GCC unroll 8
    for (int p = 0; p < PX; ++p)
#pragma GCC unroll 8
      for (int q = 0; q < KV; ++q) acc[p][q] = b ? _mm256_loadu_ps(b + 8 * q) : _mm256_setzero_ps();
    for (int u = 0; u < g.r; ++u) {
      const int ii = i + u - g.ph;
      if (ii < 0 || ii >= g.h) continue;
      const float* xrow = x + (m + (long long)(u - g.ph) * g.w - g.pw) * C;  // tap v = 0 of pixel m
      const float* wrow = wtc + u * g.s * C * K;
      if (group) {
        for (int v = 0; v < g.s; ++v) {
          const float* xp = xrow + v * C;
          const float* wp = wrow + v * C * K;
#pragma GCC unroll 8
          for (int ch = 0; ch < C; ++ch) {
            __m256 wv[KV];
#pragma GCC unroll 8
            for (int q = 0; q < KV; ++q) wv[q] = _mm256_loadu_ps(wp + ch * K + 8 * q);
#pragma GCC unroll 8
            for (int p = 0; p < PX; ++p) {
              const __m256 xv = _mm256_broadcast_ss(xp + p * C + ch);
#pragma GCC unroll 8
              for (int q = 0; q < KV; ++q) acc[p][q] = _mm256_fmadd_ps(xv, wv[q], acc[p][q]);
            }
          }
        }
      } else {
        const int va = std::max(0, g.pw - j), vb = std::min(g.s, g.w - j + g.pw);
        for (int v = va; v < vb; ++v) {
          const float* xp = xrow + v * C;
          const float* wp = wrow + v * C * K;
#pragma GCC unroll 8
          for (int ch = 0; ch < C; ++ch) {
            const __m256 xv = _mm256_broadcast_ss(xp + ch);
#pragma GCC unroll 8
            for (int q = 0; q < KV; ++q) acc[0][q] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wp + ch * K + 8 * q), acc[0][q]);
          }
        }
      }
    }
    for (int p = 0; p < np; ++p)
#pragma GCC unroll 8
      for (int q = 0; q < KV; ++q) _mm256_storeu_ps(y + (m + p) * K + 8 * q, acc[p][q]);
    m += np;
    j += np;
    if (j == g.w) {
      j = 0;
      if (++i == g.h) i = 0;
    }
  }
}

// Input pixels [m0, m1): dx[m][ch] = sum over taps whose output pixel is inside, and q.
template <int C, int KV>
LC_AVX2 void direct_data(const Geo& g, const float* dz, const float* wtc, float* dx, long long m0, long long m1) {
  constexpr int K = 8 * KV;
  int j = int(m0 % g.w), i = int((m0 / g.w) % g.h);
  for (long long m = m0; m < m1; ++m) {
    __m256 acc[C][KV];
    #pragma GCC unroll 8
    for (int ch = 0; ch < C; ++ch)
      #pragma GCC unroll 8
      for (int q = 0; q < KV; ++q) acc[ch][q] = _mm256_setzero_ps();
    for (int u = 0; u < g.r; ++u) {
      const int oi = i - u + g.ph;
      if (oi < 0 || oi >= g.h) continue;
      for (int v = 0; v < g.s; ++v) {
        const int oj = j - v + g.pw;
        if (oj < 0 || oj >= g.w) continue;
        const float* dp = dz + (m + (long long)(g.ph - u) * g.w + (g.pw - v)) * K;
        const float* wp = wtc + (u * g.s + v) * C * K;
        __m256 d[KV];
        #pragma GCC unroll 8
        for (int q = 0; q < KV; ++q) d[q] = _mm256_loadu_ps(dp + 8 * q);
        #pragma GCC unroll 8
        for (int ch = 0; ch < C; ++ch)
          #pragma GCC unroll 8
          for (int q = 0; q < KV; ++q)
            acc[ch][q] = _mm256_fmadd_ps(d[q], _mm256_loadu_ps(wp + ch * K + 8 * q), acc[ch][q]);
      }
    }
    #pragma GCC unroll 8
    for (int ch = 0; ch < C; ++ch) {
      __m256 t = acc[ch][0];
      #pragma GCC unroll 8
      for (int q = 1; q < KV; ++q) t = _mm256_add_ps(t, acc[ch][q]);
      dx[m * C + ch] = hsum8(t);
    }
    if (++j == g.w) {
      j = 0;
      if (++i == g.h) i = 0;
    }
  }
}

// Pixels [m0, m1): pdwt[tap][ch][q] (+)= sum of dz[m][q] * x[m shifted by tap][ch] (first: =),
// and pdb[q] (+)= sum of dz[m][q]. Per tap, one pass over the block's row segments, over the
// pixels whose shifted pixel is inside the image only (no per-pixel test); accumulators in
// registers.
template <int C, int KV>
LC_AVX2 void direct_weights(const Geo& g, const float* x, const float* dz, float* pdwt, float* pdb, long long m0,
                            long long m1, bool first) {
  constexpr int K = 8 * KV;
  const int j0 = int(m0 % g.w), i0 = int((m0 / g.w) % g.h);
  for (int u = 0; u < g.r; ++u)
    for (int v = 0; v < g.s; ++v) {
      const int du = u - g.ph, dv = v - g.pw;
      __m256 acc[C][KV];
#pragma GCC unroll 8
      for (int ch = 0; ch < C; ++ch)
#pragma GCC unroll 8
        for (int q = 0; q < KV; ++q) acc[ch][q] = _mm256_setzero_ps();
      // Row segments [m, m + len) of image row i starting at column j.
      int j = j0, i = i0;
      for (long long m = m0; m < m1;) {
        const int len = int(std::min<long long>(g.w - j, m1 - m));
        const int ii = i + du;
        if (ii >= 0 && ii < g.h) {
          const int ja = std::max(j, -dv), jb = std::min(j + len, g.w - dv);  // columns with jj inside
          const float* dp = dz + (m + (ja - j)) * K;
          const float* xp = x + (m + (ja - j) + (long long)du * g.w + dv) * C;
          for (int jj = ja; jj < jb; ++jj, dp += K, xp += C) {
            __m256 d[KV];
#pragma GCC unroll 8
            for (int q = 0; q < KV; ++q) d[q] = _mm256_loadu_ps(dp + 8 * q);
#pragma GCC unroll 8
            for (int ch = 0; ch < C; ++ch) {
              const __m256 xv = _mm256_broadcast_ss(xp + ch);
#pragma GCC unroll 8
              for (int q = 0; q < KV; ++q) acc[ch][q] = _mm256_fmadd_ps(xv, d[q], acc[ch][q]);
            }
          }
        }
        m += len;
        j += len;
        if (j == g.w) {
          j = 0;
          if (++i == g.h) i = 0;
        }
      }
      float* out = pdwt + (u * g.s + v) * C * K;
#pragma GCC unroll 8
      for (int ch = 0; ch < C; ++ch)
#pragma GCC unroll 8
        for (int q = 0; q < KV; ++q) {
          float* o = out + ch * K + 8 * q;
          _mm256_storeu_ps(o, first ? acc[ch][q] : _mm256_add_ps(_mm256_loadu_ps(o), acc[ch][q]));
        }
    }
  if (pdb) {
    __m256 acc[KV];
    #pragma GCC unroll 8
    for (int q = 0; q < KV; ++q) acc[q] = _mm256_setzero_ps();
    for (long long m = m0; m < m1; ++m)
      #pragma GCC unroll 8
      for (int q = 0; q < KV; ++q) acc[q] = _mm256_add_ps(acc[q], _mm256_loadu_ps(dz + m * K + 8 * q));
    #pragma GCC unroll 8
    for (int q = 0; q < KV; ++q)
      _mm256_storeu_ps(pdb + 8 * q, first ? acc[q] : _mm256_add_ps(_mm256_loadu_ps(pdb + 8 * q), acc[q]));
  }
}

// The instantiation for (c, k): c in 1..4, k in {8, 16, 24, 32}.
template <template <int, int> class F, class... A>
void dispatch_direct(const Geo& g, A&&... args) {
  const int kv = g.k / 8;
  switch (g.c * 8 + kv) {
#define LC_CASE(C, KV) \
  case C * 8 + KV: return F<C, KV>::run(g, std::forward<A>(args)...);
    LC_CASE(1, 1) LC_CASE(1, 2) LC_CASE(1, 3) LC_CASE(1, 4)
    LC_CASE(2, 1) LC_CASE(2, 2) LC_CASE(2, 3) LC_CASE(2, 4)
    LC_CASE(3, 1) LC_CASE(3, 2) LC_CASE(3, 3) LC_CASE(3, 4)
    LC_CASE(4, 1) LC_CASE(4, 2) LC_CASE(4, 3) LC_CASE(4, 4)
#undef LC_CASE
    default: LC_FAIL("conv2d (cpu): no direct kernel for c ", g.c, ", k ", g.k);
  }
}
template <int C, int KV>
struct DirectForward {
  template <class... A>
  static void run(const Geo& g, A... a) { direct_forward<C, KV>(g, a...); }
};
template <int C, int KV>
struct DirectData {
  template <class... A>
  static void run(const Geo& g, A... a) { direct_data<C, KV>(g, a...); }
};
template <int C, int KV>
struct DirectWeights {
  template <class... A>
  static void run(const Geo& g, A... a) { direct_weights<C, KV>(g, a...); }
};

// The wide direct path (c % 8 == 0, k % 16 == 0: the 3x3 layers, and their backward data as a
// forward convolution): no im2col, no GEMM packing. Per output row, the r input rows it reads are
// copied once into a zero-padded buffer (w + 2 pw pixels each), so every output pixel sees all
// s taps of a row. A tile is NP pixels of the row x 16 output channels, 2 * NP accumulators in
// registers; per input channel of a tap, two filter vectors and NP broadcasts feed 2 * NP FMAs;
// rows of taps outside the image are skipped. A row is cut into ceil(w / 6) tiles of nearly
// equal size (w = 8: 4 + 4; 16: 6 + 5 + 5; 5: one of 5), so few tiles have too few FMA chains. Bias first, ELU (elu8) on the way out. wtc is the filter as
// [tap][c][k]; pad holds r * (w + 2 pw) * c floats.
template <int NP>
LC_AVX2 void wide_tile(const Geo& g, const float* prow, std::size_t pstride, unsigned rows_in, const float* wtc,
                       const float* b, float* y, bool elu, int kb) {
  __m256 acc[NP][2];
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    acc[p][0] = b ? _mm256_loadu_ps(b + kb) : _mm256_setzero_ps();
    acc[p][1] = b ? _mm256_loadu_ps(b + kb + 8) : _mm256_setzero_ps();
  }
  const std::size_t tap_floats = std::size_t(g.c) * g.k;
  for (int u = 0; u < g.r; ++u) {
    if (!(rows_in >> u & 1u)) continue;
    for (int v = 0; v < g.s; ++v) {
      const float* xp = prow + u * pstride + std::size_t(v) * g.c;
      const float* wp = wtc + (std::size_t(u) * g.s + v) * tap_floats + kb;
      for (int ch = 0; ch < g.c; ++ch, wp += g.k) {
        const __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8);
#pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          const __m256 xv = _mm256_broadcast_ss(xp + std::size_t(p) * g.c + ch);
          acc[p][0] = _mm256_fmadd_ps(xv, w0, acc[p][0]);
          acc[p][1] = _mm256_fmadd_ps(xv, w1, acc[p][1]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    float* yp = y + std::size_t(p) * g.k + kb;
    _mm256_storeu_ps(yp, elu ? elu8(acc[p][0]) : acc[p][0]);
    _mm256_storeu_ps(yp + 8, elu ? elu8(acc[p][1]) : acc[p][1]);
  }
}

// Floats of the wide path's padded rows.
std::size_t wide_pad_floats(const Geo& g) { return std::size_t(g.r) * (g.w + 2 * g.pw) * g.c; }

// Output pixels [m0, m1) of the wide direct path; pad: wide_pad_floats(g) floats of this thread.
LC_AVX2 void wide_forward(const Geo& g, const float* x, const float* wtc, const float* b, float* y, bool elu,
                          long long m0, long long m1, float* pad) {
  const std::size_t pstride = std::size_t(g.w + 2 * g.pw) * g.c;
  for (long long m = m0; m < m1;) {
    const long long row = m / g.w;  // n * h + i
    const int i = int(row % g.h), j0 = int(m % g.w);
    const long long end = std::min(m1, (row + 1) * g.w);
    unsigned rows_in = 0;
    for (int u = 0; u < g.r; ++u) {
      const int ii = i + u - g.ph;
      float* dst = pad + u * pstride;
      if (ii < 0 || ii >= g.h) continue;
      rows_in |= 1u << u;
      std::memset(dst, 0, std::size_t(g.pw) * g.c * sizeof(float));
      std::memcpy(dst + std::size_t(g.pw) * g.c, x + (row + u - g.ph) * g.w * g.c, std::size_t(g.w) * g.c * sizeof(float));
      std::memset(dst + std::size_t(g.pw + g.w) * g.c, 0, std::size_t(g.pw) * g.c * sizeof(float));
    }
    const int j1 = j0 + int(end - m);
    for (int j = j0, tiles = (j1 - j0 + 5) / 6; j < j1; --tiles) {
      const int np = (j1 - j + tiles - 1) / tiles;  // the run in tiles of nearly equal size, at most 6
      const float* prow = pad + std::size_t(j) * g.c;  // tap (u, 0) of pixel j is pad row u, column j
      float* yp = y + (row * g.w + j) * g.k;
      for (int kb = 0; kb < g.k; kb += 16) switch (np) {
          case 6: wide_tile<6>(g, prow, pstride, rows_in, wtc, b, yp, elu, kb); break;
          case 5: wide_tile<5>(g, prow, pstride, rows_in, wtc, b, yp, elu, kb); break;
          case 4: wide_tile<4>(g, prow, pstride, rows_in, wtc, b, yp, elu, kb); break;
          case 3: wide_tile<3>(g, prow, pstride, rows_in, wtc, b, yp, elu, kb); break;
          case 2: wide_tile<2>(g, prow, pstride, rows_in, wtc, b, yp, elu, kb); break;
          default: wide_tile<1>(g, prow, pstride, rows_in, wtc, b, yp, elu, kb); break;
        }
      j += np;
    }
    m = end;
  }
}
#else
template <template <int, int> class F, class... A>
void dispatch_direct(const Geo&, A&&...) {
  LC_FAIL("conv2d (cpu): the direct path needs x86-64");
}
template <int C, int KV>
struct DirectForward {};
template <int C, int KV>
struct DirectData {};
template <int C, int KV>
struct DirectWeights {};
std::size_t wide_pad_floats(const Geo&) { return 0; }
void wide_forward(const Geo&, const float*, const float*, const float*, float*, bool, long long, long long, float*) {
  LC_FAIL("conv2d (cpu): the wide direct path needs x86-64");
}
#endif

}  // namespace

std::size_t conv2d_workspace_bytes(const Conv2dArgs& a) {
  check_version(a, "conv2d_workspace_bytes (cpu)");
  const Geo g = geo_of(a);
  return (shared_floats(g) + slice_floats(g) * std::size_t(std::max(1, omp_get_max_threads()))) * sizeof(float);
}

namespace {

// y[rows m0..] = [elu](im2col(x) . wt^T + b) over the row blocks of geometry g, P threads, one
// column block per thread at base + t * slice. y starts as the bias, so SGEMM runs with
// beta = 1 (OpenBLAS skips its beta pass) and the bias costs no extra pass.
void forward_rows(const Geo& g, const float* x, const float* wt, const float* b, float* y, bool elu, int P,
                  float* base, std::size_t slice) {
  const bool direct = g.r == 1 && g.s == 1;  // 1x1: the x rows are the columns
  BlasSingleThread single;
  for_row_blocks(g, P, [&](int t, long long m0, long long m1) {
    float* col = base + std::size_t(t) * slice;
    float* yb = y + m0 * g.k;
    if (b)
      for (long long row = 0; row < m1 - m0; ++row) copy_run(yb + row * g.k, b, g.k);
    else
      std::memset(yb, 0, std::size_t(m1 - m0) * g.k * sizeof(float));
    const float* A = x + m0 * g.c;
    if (!direct) {
      im2col(g, x, m0, m1, col);
      A = col;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m1 - m0), g.k, g.kd, 1.f, A, g.kd, wt, g.kd, 1.f, yb,
                g.k);
    if (elu) elu_inplace(yb, (m1 - m0) * g.k);
  });
}

}  // namespace

void conv2d_forward(const Conv2dArgs& a, const float* x, const float* wt, const float* b, float* y, Workspace ws,
                    stream_t) {
  check_version(a, "conv2d_forward (cpu)");
  const Geo g = geo_of(a);
  const int P = plan_threads(g, ws, "conv2d_forward");
  if (wide_path(g) && wide_pad_floats(g) <= col_floats(g)) {  // the padded rows fit a column block
    float* wtc = static_cast<float*>(ws.ptr);
    transpose_filter(g, wt, wtc);
    float* base = slice_base(g, ws);
    for_row_blocks(g, P, [&](int t, long long m0, long long m1) {
      wide_forward(g, x, wtc, b, y, a.fuse_elu, m0, m1, base + std::size_t(t) * slice_floats(g));
    });
    return;
  }
  if (!direct_path(g)) return forward_rows(g, x, wt, b, y, a.fuse_elu, P, slice_base(g, ws), slice_floats(g));
  float* wtc = static_cast<float*>(ws.ptr);
  transpose_filter(g, wt, wtc);
  for_row_blocks(g, P, [&](int, long long m0, long long m1) {
    dispatch_direct<DirectForward>(g, x, static_cast<const float*>(wtc), b, y, m0, m1);
    if (a.fuse_elu) elu_inplace(y + m0 * g.k, (m1 - m0) * g.k);
  });
}

void conv2d_backward_data(const Conv2dArgs& a, const float* dz, const float* wt, float* dx, Workspace ws,
                          stream_t) {
  check_version(a, "conv2d_backward_data (cpu)");
  if (!dx) return;
  const Geo g = geo_of(a);
  const int P = plan_threads(g, ws, "conv2d_backward_data");
  const std::size_t slice = slice_floats(g);
  float* base = slice_base(g, ws);
  if (direct_path(g)) {
    float* wtc = static_cast<float*>(ws.ptr);
    transpose_filter(g, wt, wtc);
    for_row_blocks(g, P, [&](int, long long m0, long long m1) {
      dispatch_direct<DirectData>(g, dz, static_cast<const float*>(wtc), dx, m0, m1);
    });
    return;
  }
  if (gather_dx(g) && wide_path(data_geo(g)) && wide_pad_floats(data_geo(g)) <= col_floats(g)) {
    // The data convolution's filter as [tap'][k][ch]: wtd[u'][v'][k][ch] = wt[k][r-1-u'][s-1-v'][ch].
    const Geo d = data_geo(g);
    float* wtd = static_cast<float*>(ws.ptr);
    for (int u = 0; u < g.r; ++u)
      for (int v = 0; v < g.s; ++v)
        for (int k = 0; k < g.k; ++k)
          std::memcpy(wtd + ((std::size_t(u) * g.s + v) * g.k + k) * g.c,
                      wt + ((std::size_t(k) * g.r + (g.r - 1 - u)) * g.s + (g.s - 1 - v)) * g.c,
                      std::size_t(g.c) * sizeof(float));
    for_row_blocks(d, P, [&](int t, long long m0, long long m1) {
      wide_forward(d, dz, wtd, nullptr, dx, false, m0, m1, base + std::size_t(t) * slice);
    });
    return;
  }
  if (gather_dx(g)) {
    // wt_t[ch][u'][v'][k] = wt[k][r-1-u'][s-1-v'][ch]; then dx = conv(dz, wt_t).
    float* wt_t = static_cast<float*>(ws.ptr);
    for (int ch = 0; ch < g.c; ++ch)
      for (int u = 0; u < g.r; ++u)
        for (int v = 0; v < g.s; ++v)
          for (int k = 0; k < g.k; ++k)
            wt_t[((std::size_t(ch) * g.r + u) * g.s + v) * g.k + k] =
                wt[((std::size_t(k) * g.r + (g.r - 1 - u)) * g.s + (g.s - 1 - v)) * g.c + ch];
    forward_rows(data_geo(g), dz, wt_t, nullptr, dx, false, P, base, slice);
    return;
  }
  const int hw = g.h * g.w;
  const int rows = int(std::min<long long>(cap_rows(g), hw));
  BlasSingleThread single;
#pragma omp parallel num_threads(P)
  for (int t = omp_get_thread_num(); t < P; t += omp_get_num_threads()) {
    float* col = base + std::size_t(t) * slice;
    for (long long n = (long long)t * g.n / P; n < (long long)(t + 1) * g.n / P; ++n) {
      std::memset(dx + n * hw * (long long)g.c, 0, std::size_t(hw) * g.c * sizeof(float));
      for (int p0 = 0; p0 < hw; p0 += rows) {
        const int p1 = std::min(hw, p0 + rows);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p1 - p0, g.kd, g.k, 1.f, dz + (n * hw + p0) * g.k,
                    g.k, wt, g.kd, 0.f, col, g.kd);
        col2im_add(g, col, n, p0, p1, dx);
      }
    }
  }
}

void conv2d_backward_weights(const Conv2dArgs& a, const float* x, const float* dz, float* dw, float* db,
                             Workspace ws, stream_t) {
  check_version(a, "conv2d_backward_weights (cpu)");
  LC_CHECK(dw || db, "conv2d_backward_weights (cpu): dw and db are both null");
  const Geo g = geo_of(a);
  const int P = plan_threads(g, ws, "conv2d_backward_weights");
  const Blocks bl = row_blocks(g, P);
  const std::size_t slice = slice_floats(g);
  const std::size_t colf = col_floats(g);
  const std::size_t dwf = std::size_t(g.k) * g.kd;
  float* base = slice_base(g, ws);
  const bool direct = direct_path(g);     // partials in [tap][c][k] order, else [k][tap][c]
  const bool one_by_one = g.r == 1 && g.s == 1;
  BlasSingleThread single;
#pragma omp parallel num_threads(P)
  {
    for (int t = omp_get_thread_num(); t < P; t += omp_get_num_threads()) {
      float* col = base + std::size_t(t) * slice;
      float* pdw = col + colf;
      float* pdb = pdw + dwf;
      bool first = true;
      for (long long blk = t * bl.count / P; blk < (t + 1) * bl.count / P; ++blk) {
        const long long m0 = blk * bl.rows, m1 = std::min(g.m, m0 + bl.rows);
        if (m0 >= m1) continue;
        const float* dzb = dz + m0 * g.k;
        if (direct) {
          dispatch_direct<DirectWeights>(g, x, dz, pdw, pdb, m0, m1, first);
          first = false;
          continue;
        }
        if (dw) {
          const float* B = x + m0 * g.c;
          if (!one_by_one) {
            im2col(g, x, m0, m1, col);
            B = col;
          }
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.k, g.kd, int(m1 - m0), 1.f, dzb, g.k, B, g.kd,
                      first ? 0.f : 1.f, pdw, g.kd);
        }
        if (db) {
          if (first) std::fill(pdb, pdb + g.k, 0.f);
          for (long long row = 0; row < m1 - m0; ++row)
            for (int q = 0; q < g.k; ++q) pdb[q] += dzb[row * g.k + q];
        }
        first = false;
      }
      if (first) {  // no rows: a zero partial
        std::fill(pdw, pdw + dwf, 0.f);
        std::fill(pdb, pdb + g.k, 0.f);
      }
    }
#pragma omp barrier
    // dw = sum of the partials in thread order (each element by one thread).
    if (dw) {
#pragma omp for schedule(static)
      for (long long e = 0; e < (long long)dwf; ++e) {
        const std::size_t src = direct ? std::size_t(e % g.kd) * g.k + std::size_t(e / g.kd) : std::size_t(e);
        float acc = base[colf + src];
        for (int t = 1; t < P; ++t) acc += base[std::size_t(t) * slice + colf + src];
        dw[e] = acc;
      }
    }
    if (db) {
#pragma omp for schedule(static)
      for (int q = 0; q < g.k; ++q) {
        float acc = base[colf + dwf + q];
        for (int t = 1; t < P; ++t) acc += base[std::size_t(t) * slice + colf + dwf + q];
        db[q] = acc;
      }
    }
  }
}

}  // namespace lc::cpu

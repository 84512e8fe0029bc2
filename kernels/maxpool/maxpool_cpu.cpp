// Max-pool 2x2 / 2 on the host for the cpu backend (contract: maxpool.h): OpenMP over the output
// rows; each output row owns its two input rows of dx, so every dx element is written once.
// Where c is a multiple of 8 and the CPU has AVX2, 8 channels at a time with the same selects as
// the scalar winner() (compares and blends, no arithmetic): the same results bit for bit.
#include <cmath>
#include <cstring>

#include "kernels/common/cpu_simd.h"
#include "kernels/maxpool/maxpool.h"

namespace lc::cpu {
namespace {

void check_args(const MaxPoolArgs& a, const char* who) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
}

// Winner k of the window whose top-left element is p (row stride rs, column stride c): in window
// order, a later element wins when it is greater or NaN, unless the winner so far is NaN (the first
// NaN wins; ties keep the earlier element). Branch-free (selects only: no mispredicted branches
// on random data; 1.6x faster than the branching form here): (bv == bv) is false only for NaN,
// !(v <= bv) is true for greater or NaN.
inline int winner(const float* p, std::int64_t rs, std::int64_t c) {
  const float v1 = p[c], v2 = p[rs], v3 = p[rs + c];
  float bv = p[0];
  int best = 0;
  bool take = bv == bv && !(v1 <= bv);
  best = take ? 1 : best, bv = take ? v1 : bv;
  take = bv == bv && !(v2 <= bv);
  best = take ? 2 : best, bv = take ? v2 : bv;
  take = bv == bv && !(v3 <= bv);
  best = take ? 3 : best;
  return best;
}

#if LC_CPU_X86
// One output row, c % 8 == 0: winner() on 8 channels at once. take = (bv == bv) && !(v <= bv)
// is _CMP_ORD_Q(bv, bv) and _CMP_NLE_UQ(v, bv); the winner's value is the blended bv.
LC_AVX2 void forward_row8(const float* xrow, std::int64_t rs, std::int64_t ow, std::int64_t c, float* yrow,
                          std::uint8_t* arow) {
  for (std::int64_t oj = 0; oj < ow; ++oj)
    for (std::int64_t ch = 0; ch < c; ch += 8) {
      const float* p = xrow + 2 * oj * c + ch;
      __m256 bv = _mm256_loadu_ps(p);
      __m256 best = _mm256_setzero_ps();
      const __m256 v[3] = {_mm256_loadu_ps(p + c), _mm256_loadu_ps(p + rs), _mm256_loadu_ps(p + rs + c)};
      for (int k = 0; k < 3; ++k) {
        const __m256 take = _mm256_and_ps(_mm256_cmp_ps(bv, bv, _CMP_ORD_Q), _mm256_cmp_ps(v[k], bv, _CMP_NLE_UQ));
        best = _mm256_blendv_ps(best, _mm256_set1_ps(float(k + 1)), take);
        bv = _mm256_blendv_ps(bv, v[k], take);
      }
      _mm256_storeu_ps(yrow + oj * c + ch, bv);
      if (arow) {
        const __m256i k32 = _mm256_cvttps_epi32(best);
        const __m128i k16 = _mm_packus_epi32(_mm256_castsi256_si128(k32), _mm256_extracti128_si256(k32, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(arow + oj * c + ch), _mm_packus_epi16(k16, k16));
      }
    }
}

// One output row's gradient from the saved argmax, c % 8 == 0: d0/d1 are the two input rows.
LC_AVX2 void backward_row8(const std::uint8_t* arow, const float* dyrow, std::int64_t ow, std::int64_t c, float* d0,
                           float* d1) {
  const __m256 zero = _mm256_setzero_ps();
  for (std::int64_t oj = 0; oj < ow; ++oj)
    for (std::int64_t ch = 0; ch < c; ch += 8) {
      const std::int64_t o = oj * c + ch, e = 2 * oj * c + ch;
      const __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(arow + o)));
      const __m256 g = _mm256_loadu_ps(dyrow + o);
      float* dst[4] = {d0 + e, d0 + e + c, d1 + e, d1 + e + c};
      for (int q = 0; q < 4; ++q) {
        const __m256 m = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(q)));
        _mm256_storeu_ps(dst[q], _mm256_blendv_ps(zero, g, m));
      }
    }
}
#endif

bool vector_rows(const MaxPoolArgs& a) { return LC_CPU_X86 && a.c % 8 == 0 && cpu_has_avx2_fma(); }

}  // namespace

void maxpool_forward(const MaxPoolArgs& a, const float* x, float* y, std::uint8_t* argmax, stream_t) {
  check_args(a, "maxpool_forward");
  const std::int64_t oh = a.out_h(), ow = a.out_w(), c = a.c, rs = std::int64_t(a.w) * c;
  const std::int64_t rows = std::int64_t(a.n) * oh;
  const bool vec = vector_rows(a);
#pragma omp parallel for schedule(static) if (a.out_elements() > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t b = r / oh, oi = r % oh;
    const float* xrow = x + (b * a.h + 2 * oi) * rs;
    float* yrow = y + r * ow * c;
    std::uint8_t* arow = argmax ? argmax + r * ow * c : nullptr;
#if LC_CPU_X86
    if (vec) {
      forward_row8(xrow, rs, ow, c, yrow, arow);
      continue;
    }
#endif
    for (std::int64_t oj = 0; oj < ow; ++oj)
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const float* p = xrow + 2 * oj * c + ch;
        const int k = winner(p, rs, c);
        yrow[oj * c + ch] = p[(k >> 1) * rs + (k & 1) * c];
        if (arow) arow[oj * c + ch] = std::uint8_t(k);
      }
  }
}

void maxpool_backward(const MaxPoolArgs& a, const float* x, const float*, const std::uint8_t* argmax,
                      const float* dy, float* dx, stream_t) {
  check_args(a, "maxpool_backward");
  LC_CHECK(argmax || x || a.out_elements() == 0, "maxpool_backward: needs argmax or x");
  const std::int64_t oh = a.out_h(), ow = a.out_w(), c = a.c, rs = std::int64_t(a.w) * c;
  const std::int64_t ch_rows = (a.h + 1) / 2;  // pairs of input rows, the last one maybe single
  const std::int64_t rows = std::int64_t(a.n) * ch_rows;
  const bool vec = argmax && vector_rows(a);
#pragma omp parallel for schedule(static) if (a.in_elements() > 65536)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t b = r / ch_rows, oi = r % ch_rows;
    float* d0 = dx + (b * a.h + 2 * oi) * rs;
    if (oi >= oh) {  // the dropped odd last row
      std::memset(d0, 0, sizeof(float) * rs);
      continue;
    }
    float* d1 = d0 + rs;
    const std::int64_t o0 = (b * oh + oi) * ow * c;
#if LC_CPU_X86
    if (vec) backward_row8(argmax + o0, dy + o0, ow, c, d0, d1);
#endif
    for (std::int64_t oj = vec ? ow : 0; oj < ow; ++oj)
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const std::int64_t o = o0 + oj * c + ch, e = 2 * oj * c + ch;
        const int k = argmax ? int(argmax[o]) : winner(x + (b * a.h + 2 * oi) * rs + e, rs, c);
        const float g = dy[o];
        d0[e] = k == 0 ? g : 0.f;
        d0[e + c] = k == 1 ? g : 0.f;
        d1[e] = k == 2 ? g : 0.f;
        d1[e + c] = k == 3 ? g : 0.f;
      }
    if (a.w % 2) {  // the dropped odd last column
      for (std::int64_t ch = 0; ch < c; ++ch) d0[(a.w - 1) * c + ch] = d1[(a.w - 1) * c + ch] = 0.f;
    }
  }
}

}  // namespace lc::cpu

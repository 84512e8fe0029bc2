// Max-pool 2x2 / 2 CUDA kernels (contract: maxpool.h). Depends on: kernels/simt/simt.h.
// Elementwise over windows, grid-stride, launched flat (no barriers, warp ops or shared memory).
//   forward:  one thread per output element (per group of V channels): reads the 4 window
//             elements, writes y and optionally the winner index k.
//   backward: one thread per window of the ceil(h/2) x ceil(w/2) grid, so every dx element
//             belongs to exactly one thread: full windows write dy to the winner and 0 to the
//             other three; the partial windows of an odd last row / column write zeros.
// V = 4 when c % 4 == 0 and the pointers allow it (float4 loads/stores, 4 argmax bytes as one
// 32-bit word), else V = 1. Index type I = uint32_t when the input has < 2^32 elements (cheap
// index division), else int64_t.
#include "kernels/simt/simt.h"
#include "kernels/maxpool/maxpool.h"

namespace lc::LC_KERNEL_NS {

// The contract's winner: the first maximum in order k = 0..3; the first NaN wins and stays.
__device__ __forceinline__ int maxpool_winner(float v0, float v1, float v2, float v3) {
  int k = 0;
  float best = v0;
  if (best == best) {
    if (v1 != v1 || v1 > best) k = 1, best = v1;
    if (best == best && (v2 != v2 || v2 > best)) k = 2, best = v2;
    if (best == best && (v3 != v3 || v3 > best)) k = 3;
  }
  return k;
}

template <int V>
struct Lanes {
  float v[V];
};

template <int V>
__device__ __forceinline__ Lanes<V> load_lanes(const float* p) {
  Lanes<V> r;
  if constexpr (V == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    r.v[0] = q.x, r.v[1] = q.y, r.v[2] = q.z, r.v[3] = q.w;
  } else {
    r.v[0] = *p;
  }
  return r;
}

template <int V>
__device__ __forceinline__ void store_lanes(float* p, const Lanes<V>& r) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
  } else {
    *p = r.v[0];
  }
}

// Shape constants a kernel needs, passed by value.
struct PoolDims {
  int h, w, c;       // input
  int oh, ow;        // forward output (floor)
  int wh, ww;        // backward window grid (ceil)
  int groups;        // c / V
};

// The window of flat index o over (b, i, j, g) with `rows` x `cols` windows per image: sets i, j
// and returns the offset in x of its top-left element, lane group g.
template <int V, class I>
__device__ __forceinline__ I window_at(I o, const PoolDims& d, int rows, int cols, I& i, I& j) {
  const I g = o % I(d.groups);
  o /= I(d.groups);
  j = o % I(cols);
  o /= I(cols);
  i = o % I(rows);
  const I b = o / I(rows);
  return ((b * I(d.h) + 2 * i) * I(d.w) + 2 * j) * I(d.c) + g * V;
}

template <int V, class I>
__global__ void maxpool_fwd_kernel(I total, PoolDims d, const float* __restrict__ x, float* __restrict__ y,
                                   std::uint8_t* __restrict__ argmax) {
  const I stride = I(blockDim.x) * gridDim.x;
  const I c = I(d.c), row = I(d.w) * c;
  for (I o = I(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    I oi, oj;
    const I base = window_at<V>(o, d, d.oh, d.ow, oi, oj);
    const Lanes<V> v0 = load_lanes<V>(x + base), v1 = load_lanes<V>(x + base + c);
    const Lanes<V> v2 = load_lanes<V>(x + base + row), v3 = load_lanes<V>(x + base + row + c);
    Lanes<V> out;
    unsigned packed = 0;
    for (int l = 0; l < V; ++l) {
      const int k = maxpool_winner(v0.v[l], v1.v[l], v2.v[l], v3.v[l]);
      out.v[l] = k == 0 ? v0.v[l] : k == 1 ? v1.v[l] : k == 2 ? v2.v[l] : v3.v[l];
      packed |= unsigned(k) << (8 * l);  // little-endian: byte l is channel g*V + l
    }
    const I oidx = o * V;  // output elements are laid out exactly like (b, oi, oj, g, l)
    store_lanes<V>(y + oidx, out);
    if (argmax) {
      if constexpr (V == 4)
        *reinterpret_cast<unsigned*>(argmax + oidx) = packed;
      else
        argmax[oidx] = std::uint8_t(packed);
    }
  }
}

template <int V, class I>
__global__ void maxpool_bwd_kernel(I total, PoolDims d, const float* __restrict__ x,
                                   const std::uint8_t* __restrict__ argmax, const float* __restrict__ dy,
                                   float* __restrict__ dx) {
  const I stride = I(blockDim.x) * gridDim.x;
  const I c = I(d.c), row = I(d.w) * c;
  for (I o = I(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    I wi, wj;
    const I base = window_at<V>(o, d, d.wh, d.ww, wi, wj);
    Lanes<V> r0, r1, r2, r3;
    if (wi < I(d.oh) && wj < I(d.ow)) {  // a full window: the winner gets dy
      const I g = o % I(d.groups), b = o / I(d.groups) / I(d.ww) / I(d.wh);
      const I oidx = ((b * I(d.oh) + wi) * I(d.ow) + wj) * c + g * V;
      const Lanes<V> g_out = load_lanes<V>(dy + oidx);
      unsigned packed = 0;
      if (argmax) {
        if constexpr (V == 4)
          packed = *reinterpret_cast<const unsigned*>(argmax + oidx);
        else
          packed = argmax[oidx];
      } else {
        const Lanes<V> v0 = load_lanes<V>(x + base), v1 = load_lanes<V>(x + base + c);
        const Lanes<V> v2 = load_lanes<V>(x + base + row), v3 = load_lanes<V>(x + base + row + c);
        for (int l = 0; l < V; ++l)
          packed |= unsigned(maxpool_winner(v0.v[l], v1.v[l], v2.v[l], v3.v[l])) << (8 * l);
      }
      for (int l = 0; l < V; ++l) {
        const unsigned k = (packed >> (8 * l)) & 0xffu;
        r0.v[l] = k == 0 ? g_out.v[l] : 0.f;
        r1.v[l] = k == 1 ? g_out.v[l] : 0.f;
        r2.v[l] = k == 2 ? g_out.v[l] : 0.f;
        r3.v[l] = k == 3 ? g_out.v[l] : 0.f;
      }
    } else {  // a partial window of the dropped odd last row / column: zeros
      for (int l = 0; l < V; ++l) r0.v[l] = r1.v[l] = r2.v[l] = r3.v[l] = 0.f;
    }
    const bool has_col1 = 2 * wj + 1 < I(d.w), has_row1 = 2 * wi + 1 < I(d.h);
    store_lanes<V>(dx + base, r0);
    if (has_col1) store_lanes<V>(dx + base + c, r1);
    if (has_row1) store_lanes<V>(dx + base + row, r2);
    if (has_col1 && has_row1) store_lanes<V>(dx + base + row + c, r3);
  }
}

namespace {

constexpr int kThreads = 256;

unsigned grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

bool aligned(const void* p, std::uintptr_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

PoolDims dims_of(const MaxPoolArgs& a, int v) {
  return PoolDims{a.h, a.w, a.c, a.out_h(), a.out_w(), (a.h + 1) / 2, (a.w + 1) / 2, a.c / v};
}

void check_args(const MaxPoolArgs& a, const char* who) {
  LC_CHECK(a.n >= 0 && a.h >= 0 && a.w >= 0 && a.c >= 0, who, ": negative size ", a.n, "x", a.h, "x", a.w,
           "x", a.c);
}

template <int V>
void launch_fwd(const MaxPoolArgs& a, const float* x, float* y, std::uint8_t* argmax, stream_t stream) {
  const PoolDims d = dims_of(a, V);
  const std::int64_t total = a.out_elements() / V;
  if (a.in_elements() < (std::int64_t(1) << 32))
    simt::launch_flat(maxpool_fwd_kernel<V, std::uint32_t>, dim3(grid_for(total)), dim3(kThreads), 0, stream,
                      std::uint32_t(total), d, x, y, argmax);
  else
    simt::launch_flat(maxpool_fwd_kernel<V, std::int64_t>, dim3(grid_for(total)), dim3(kThreads), 0, stream,
                      total, d, x, y, argmax);
}

template <int V>
void launch_bwd(const MaxPoolArgs& a, const float* x, const std::uint8_t* argmax, const float* dy, float* dx,
                stream_t stream) {
  const PoolDims d = dims_of(a, V);
  const std::int64_t total = std::int64_t(a.n) * d.wh * d.ww * d.groups;
  if (a.in_elements() < (std::int64_t(1) << 32))
    simt::launch_flat(maxpool_bwd_kernel<V, std::uint32_t>, dim3(grid_for(total)), dim3(kThreads), 0, stream,
                      std::uint32_t(total), d, x, argmax, dy, dx);
  else
    simt::launch_flat(maxpool_bwd_kernel<V, std::int64_t>, dim3(grid_for(total)), dim3(kThreads), 0, stream,
                      total, d, x, argmax, dy, dx);
}

}  // namespace

void maxpool_forward(const MaxPoolArgs& a, const float* x, float* y, std::uint8_t* argmax, stream_t stream) {
  check_args(a, "maxpool_forward");
  if (a.out_elements() == 0) return;
  const bool vec = a.c % 4 == 0 && aligned(x, 16) && aligned(y, 16) && (!argmax || aligned(argmax, 4));
  if (vec)
    launch_fwd<4>(a, x, y, argmax, stream);
  else
    launch_fwd<1>(a, x, y, argmax, stream);
}

void maxpool_backward(const MaxPoolArgs& a, const float* x, const float*, const std::uint8_t* argmax,
                      const float* dy, float* dx, stream_t stream) {
  check_args(a, "maxpool_backward");
  if (a.in_elements() == 0) return;
  LC_CHECK(argmax || x || a.out_elements() == 0, "maxpool_backward: needs argmax or x");
  const bool vec = a.c % 4 == 0 && aligned(dy, 16) && aligned(dx, 16) && (argmax ? aligned(argmax, 4) : aligned(x, 16));
  if (vec)
    launch_bwd<4>(a, x, argmax, dy, dx, stream);
  else
    launch_bwd<1>(a, x, argmax, dy, dx, stream);
}

}  // namespace lc::LC_KERNEL_NS

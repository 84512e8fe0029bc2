// Softmax cross-entropy CUDA kernels (contract: softmax_ce.h). A warp handles a row: its lanes
// stride over the classes; max/argmax and the sum of exponentials are butterfly reductions
// (__shfl_xor_sync), so every lane ends with the same bits.
//   softmax_ce_kernel       ONE block of 16 warps: loss, dlogits, argmax and the device totals
//                           in one launch; row r belongs to warp r % 16, each warp adds its rows'
//                           losses in row order (double), thread 0 adds the warps' sums in warp
//                           order: deterministic, no atomics, no host round trip.
//   softmax_predict_kernel  grid-stride over rows, a warp per row: probabilities and argmax.
#include "kernels/simt/simt.h"
#include "kernels/softmax_ce/softmax_ce.h"

namespace lc::LC_KERNEL_NS {

namespace {

constexpr int kCeThreads = 512;         // the single block of softmax_ce_kernel
constexpr int kCeWarps = kCeThreads / 32;
constexpr unsigned kFull = 0xffffffffu;

struct RowStats {
  float mx;   // max logit
  int arg;    // argmax, lowest index among ties
  float sum;  // sum_j exp(z_j - mx)
};

// Every lane of the warp must call this (warp-uniform row).
__device__ __forceinline__ RowStats row_stats(const float* row, int classes, int lane) {
  float mx = 0.f;
  int arg = -1;  // -1: this lane holds no element
  for (int j = lane; j < classes; j += 32) {
    const float v = row[j];
    if (arg < 0 || v > mx) { mx = v; arg = j; }
  }
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) {
    const float omx = __shfl_xor_sync(kFull, mx, d);
    const int oarg = __shfl_xor_sync(kFull, arg, d);
    if (oarg >= 0 && (arg < 0 || omx > mx || (omx == mx && oarg < arg))) { mx = omx; arg = oarg; }
  }
  float s = 0.f;
  for (int j = lane; j < classes; j += 32) s += expf(row[j] - mx);
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) s += __shfl_xor_sync(kFull, s, d);
  return RowStats{mx, arg, s};
}

}  // namespace

__global__ void __launch_bounds__(kCeThreads)
softmax_ce_kernel(std::int64_t n, int classes, const float* logits, const std::int32_t* labels,
                  float* loss, float* dlogits, std::int32_t* pred, SoftmaxCeTotals* totals) {
  __shared__ double warp_loss[kCeWarps];
  __shared__ long long warp_correct[kCeWarps];
  __shared__ long long warp_invalid[kCeWarps];
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  const float inv_n = 1.f / float(n);
  double my_loss = 0.0;
  long long my_correct = 0, my_invalid = 0;
  for (std::int64_t r = warp; r < n; r += kCeWarps) {
    const float* row = logits + r * classes;
    const RowStats st = row_stats(row, classes, lane);
    const int y = labels[r];
    const bool valid = y >= 0 && y < classes;
    const float zy = valid ? row[y] : 0.f;
    const float row_loss = valid ? logf(st.sum) - (zy - st.mx) : 0.f;
    __syncwarp();  // every lane has read row[y] before any lane overwrites it (dlogits == logits)
    if (dlogits) {
      float* drow = dlogits + r * classes;
      for (int j = lane; j < classes; j += 32) {
        const float p = expf(row[j] - st.mx) / st.sum;
        drow[j] = valid ? (p - (j == y ? 1.f : 0.f)) * inv_n : 0.f;
      }
    }
    if (lane == 0) {
      if (pred) pred[r] = st.arg;
      my_loss += double(row_loss);
      my_correct += (valid && st.arg == y) ? 1 : 0;
      my_invalid += valid ? 0 : 1;
    }
  }
  if (lane == 0) {
    warp_loss[warp] = my_loss;
    warp_correct[warp] = my_correct;
    warp_invalid[warp] = my_invalid;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0.0;
    long long c = 0, bad = 0;
    for (int w = 0; w < kCeWarps; ++w) {
      s += warp_loss[w];
      c += warp_correct[w];
      bad += warp_invalid[w];
    }
    if (loss) *loss = float(s / double(n));
    if (totals) {
      totals->loss_sum += s;
      totals->samples += n;
      totals->correct += c;
      totals->invalid_labels += bad;
    }
  }
}

__global__ void softmax_predict_kernel(std::int64_t n, int classes, const float* logits, float* probs,
                                       std::int32_t* pred) {
  const int lane = int(threadIdx.x) % 32;
  const std::int64_t warps_per_block = blockDim.x / 32;
  const std::int64_t first = std::int64_t(blockIdx.x) * warps_per_block + threadIdx.x / 32;
  const std::int64_t stride = warps_per_block * gridDim.x;
  for (std::int64_t r = first; r < n; r += stride) {
    const float* row = logits + r * classes;
    const RowStats st = row_stats(row, classes, lane);
    __syncwarp();  // all reads of the row done before probs (which may alias logits) is written
    if (probs) {
      float* prow = probs + r * classes;
      for (int j = lane; j < classes; j += 32) prow[j] = expf(row[j] - st.mx) / st.sum;
    }
    if (lane == 0 && pred) pred[r] = st.arg;
  }
}

namespace {
void check_args(const SoftmaxCeArgs& a, const char* what) {
  LC_CHECK(a.n >= 0 && a.classes > 0, what, ": bad shape n=", a.n, " classes=", a.classes);
}
}  // namespace

void softmax_ce(const SoftmaxCeArgs& a, const float* logits, const std::int32_t* labels, float* loss, float* dlogits,
                std::int32_t* pred, SoftmaxCeTotals* totals, stream_t stream) {
  check_args(a, "softmax_ce");
  if (a.n == 0) return;
  simt::launch(softmax_ce_kernel, dim3(1), dim3(kCeThreads), 0, stream, a.n, a.classes, logits, labels, loss, dlogits,
               pred, totals);
}

void softmax_predict(const SoftmaxCeArgs& a, const float* logits, float* probs, std::int32_t* pred, stream_t stream) {
  check_args(a, "softmax_predict");
  if (a.n == 0 || (!probs && !pred)) return;
  const int threads = 256, rows_per_block = threads / 32;
  const std::int64_t blocks = (a.n + rows_per_block - 1) / rows_per_block;
  // At most 1024 blocks (8192 rows per pass; 262144 threads fill an H100), grid-stride beyond.
  simt::launch(softmax_predict_kernel, dim3(unsigned(blocks < 1024 ? blocks : 1024)), dim3(threads), 0, stream, a.n,
               a.classes, logits, probs, pred);
}

}  // namespace lc::LC_KERNEL_NS

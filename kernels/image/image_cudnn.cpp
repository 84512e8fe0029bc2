// Image ops on the cudnn backend (contract: image.h). cuDNN and cuBLAS have no gather/augment,
// area resize, window extraction, flat patches or histogram ops, so every function forwards to
// the custom CUDA kernels (lc::cuda), which the cuda backend runs too.
// Depends on: kernels/image/image.h, the lc::cuda build of kernels/image/image.cu.
#include "kernels/image/image.h"

namespace lc::cudnn {

void gather_batch(const GatherBatchArgs& a, const std::uint8_t* dataset, const std::int32_t* indices, float* out,
                  stream_t stream) {
  lc::cuda::gather_batch(a, dataset, indices, out, stream);
}

void resize_u8(const ResizeArgs& a, const std::uint8_t* in, std::uint8_t* out, stream_t stream) {
  lc::cuda::resize_u8(a, in, out, stream);
}

void resize_to_float(const ResizeArgs& a, const std::uint8_t* in, float* out, stream_t stream) {
  lc::cuda::resize_to_float(a, in, out, stream);
}

void extract_windows(const WindowArgs& a, const std::uint8_t* tile, float* out, stream_t stream) {
  lc::cuda::extract_windows(a, tile, out, stream);
}

void flat_patches(const FlatPatchArgs& a, const std::uint8_t* colours, float* out, stream_t stream) {
  lc::cuda::flat_patches(a, colours, out, stream);
}

void class_map(const ClassMapArgs& a, const std::int32_t* cls, const std::uint8_t* mask,
               const std::uint8_t* palette, std::int64_t* counts, std::uint8_t* rgb, stream_t stream) {
  lc::cuda::class_map(a, cls, mask, palette, counts, rgb, stream);
}

void gather_rows_cols(const GatherRowsColsArgs& a, const float* in, const std::int32_t* rows,
                      const std::int32_t* cols, float* out, stream_t stream) {
  lc::cuda::gather_rows_cols(a, in, rows, cols, out, stream);
}

}  // namespace lc::cudnn

// Dropout, the contract. Inverted dropout (Keras): in training each element is kept with
// probability 1 - rate and scaled by 1 / (1 - rate), or zeroed; in inference (training = false)
// it is the identity (y = x; backward dx = dy).
//
// The mask is never stored. Element i of a call keyed by (seed, stream, step) is kept iff
//     word = philox4x32_10(counter = {lo32(i/4), hi32(i/4), lo32(step), stream},
//                          key     = {lo32(seed), hi32(seed)}).v[i % 4]
//     word >= dropout_threshold(rate)        (= floor(rate * 2^32), computed in double)
// so P(keep) = 1 - threshold / 2^32 (rate within 2^-32). Kept: y = x * dropout_scale(rate) with
// dropout_scale = float(1 / (1 - double(rate))), one IEEE float multiply: every implementation
// (ref, cpu, sim, cuda, cudnn) produces the same bits. Backward recomputes the mask from the same
// key: dx = kept ? dy * scale : 0.
//   seed    the run's seed (CLI --seed);
//   stream  distinguishes the dropout layers of a model (use the layer index);
//   step    read from MEMORY OF THE OP'S DEVICE (*step, an int64; read, never written), so a
//           captured CUDA graph replays with a fresh mask every step. The runtime points it at
//           AdamState::step (kernels/adam/adam.h): the optimizer steps completed, which is the
//           same in a step's forward and backward (Adam runs after both). Only its low 32 bits
//           enter the counter: masks repeat after 2^32 steps.
// Elements are counted from 0 at x / dy of each call: the batch is one call.
//
// Layout: any; n floats. In place (x == y, dy == dx) is allowed. rate in [0, 1).
// Implementations: ref = one loop; cpu = OpenMP loop; sim/cuda = one flat elementwise kernel
// (a thread per 4 elements, one Philox call each); cudnn = the cuda kernel (cudnnDropout has its
// own generator and state, so its masks could not match the other backends).
// Depends on: kernels/dropout/philox.h, kernels/common/impls.h.
#pragma once

#include <cstdint>

#include "kernels/common/impls.h"
#include "kernels/dropout/philox.h"

namespace lc {

struct DropoutArgs {
  std::int64_t n = 0;        // elements
  float rate = 0.5f;         // probability of dropping an element, [0, 1)
  std::uint64_t seed = 0;    // run seed
  std::uint32_t stream = 0;  // per-layer stream id (layer index)
  bool training = true;      // false: identity
};

// floor(rate * 2^32) for rate in [0, 1): elements with word < threshold are dropped.
LC_PHILOX_HD std::uint32_t dropout_threshold(float rate) {
  const double t = double(rate) * 4294967296.0;
  return t <= 0.0 ? 0u : (t >= 4294967295.0 ? 4294967295u : std::uint32_t(t));
}
// The factor kept elements are multiplied by.
LC_PHILOX_HD float dropout_scale(float rate) { return float(1.0 / (1.0 - double(rate))); }
// Whether element i is kept.
LC_PHILOX_HD bool dropout_keep(std::uint64_t seed, std::uint32_t stream, std::int64_t step, std::int64_t i,
                               std::uint32_t threshold) {
  const std::uint64_t g = std::uint64_t(i) >> 2;
  const Philox4x32 r = philox4x32_10(
      Philox4x32{{std::uint32_t(g), std::uint32_t(g >> 32), std::uint32_t(std::uint64_t(step)), stream}},
      std::uint32_t(seed), std::uint32_t(seed >> 32));
  return r.v[std::uint64_t(i) & 3u] >= threshold;
}

}  // namespace lc

LC_DECLARE_IN_ALL_IMPLS(
  void dropout_forward(const DropoutArgs& a, const std::int64_t* step, const float* x, float* y,
                       stream_t stream);
  void dropout_backward(const DropoutArgs& a, const std::int64_t* step, const float* dy, float* dx,
                        stream_t stream);
)

// The one header every kernel source (.cu) includes first. Under nvcc it is thin: launch() is
// kernel<<<...>>> followed by a launch-error check, dynamic_shared<T>() wraps extern __shared__.
// Under g++ it pulls in the host SIMT emulator (emulator.h), which provides the CUDA builtins,
// qualifiers, vector types, intrinsics, atomics and a launch() that runs the grid on the CPU.
//
// Kernel sources put everything in `namespace lc::LC_KERNEL_NS { ... }`: lc::cuda under nvcc,
// lc::sim under the emulator, so both builds of one .cu link into one binary.
//
// Rules for kernel authors: docs/SIMT_EMULATOR.md ("Rules for kernel authors").
#pragma once

#include <cstddef>
#include <utility>

#include "kernels/common/check.h"
#include "kernels/common/launch_count.h"
#include "kernels/common/types.h"

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define LC_KERNEL_NS cuda
#define LC_EMULATED 0

namespace lc::simt {

[[noreturn]] inline void launch_failed(cudaError_t err) {
  LC_FAIL("kernel launch failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
}

// launch(kernel, grid, block, dynamic_smem_bytes, stream, args...)
template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem, stream_t stream,
            Args&&... args) {
  kernel_launch_counter().fetch_add(1, std::memory_order_relaxed);
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) launch_failed(err);
}

// launch_flat: the same, for kernels with no barrier, warp op or shared memory. On the GPU it is
// an ordinary launch; the emulator runs it as a plain loop (and traps if it meets a barrier).
template <class... KArgs, class... Args>
void launch_flat(void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem, stream_t stream,
                 Args&&... args) {
  launch(kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

// Opt a kernel in to more than 48 KiB of dynamic shared memory.
template <class... KArgs>
void set_max_dynamic_shared(void (*kernel)(KArgs...), int bytes) {
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err != cudaSuccess) launch_failed(err);
}

// The block's dynamic shared memory, 16-byte aligned.
template <class T>
__device__ __forceinline__ T* dynamic_shared() {
  extern __shared__ __align__(16) unsigned char lc_dynamic_smem[];
  return reinterpret_cast<T*>(lc_dynamic_smem);
}

}  // namespace lc::simt

#else  // host SIMT emulator

#define LC_KERNEL_NS sim
#define LC_EMULATED 1
#include "kernels/simt/emulator.h"

#endif

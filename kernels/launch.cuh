// kernels/launch.cuh: what every launcher shares (internal, not installed): the device's
// stream, grid sizes for grid-stride loops, the checked kernel launch, and warp/block reductions.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "check.cuh"
#include "nabla/backend/cuda/runtime.hpp"

namespace nabla::backend::cuda::detail {

inline constexpr unsigned kThreadsPerBlock = 256;
// A grid-stride loop covers any count with any grid, so the grid is capped: 2^16 blocks of
// 256 threads keep every SM of an H200 busy, and the loop does the rest.
inline constexpr std::int64_t kMaxBlocks = 65535;

/// Blocks for `work` items of `threads_per_block` threads each (work > 0).
inline unsigned blocks_for(std::int64_t work, unsigned threads_per_block = kThreadsPerBlock) {
  const std::int64_t blocks = (work + threads_per_block - 1) / threads_per_block;
  return static_cast<unsigned>(std::min<std::int64_t>(std::max<std::int64_t>(blocks, 1), kMaxBlocks));
}

/// Threads per block for a kernel whose block shares one row of `size` elements (softmax, the
/// class-id losses, reductions): a warp for short rows, doubling up to 256 for long ones.
inline unsigned threads_for_row(std::int64_t size) {
  unsigned threads = 32;
  while (threads < 256 && threads < size) threads *= 2;
  return threads;
}

/// Blocks for a kernel with one block per row (a block-stride loop covers rows beyond the cap).
inline unsigned blocks_for_rows(std::int64_t rows) {
  return static_cast<unsigned>(std::min<std::int64_t>(rows, kMaxBlocks));
}

/// kernel<<<grid, block, shared_bytes, stream>>>(arguments...), then the launch check: an invalid
/// configuration (or any launch error) becomes a DeviceError naming `name`, the kernel.
template <typename... Parameters, typename... Arguments>
void launch(void (*kernel)(Parameters...), const char* name, dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, Arguments&&... arguments) {
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Arguments>(arguments)...);
  check_launch(name);
}

/// A grid-stride kernel over `work` items (work > 0): blocks_for(work) blocks of kThreadsPerBlock.
template <typename... Parameters, typename... Arguments>
void launch_over(std::int64_t work, void (*kernel)(Parameters...), const char* name, cudaStream_t stream,
                 Arguments&&... arguments) {
  launch(kernel, name, blocks_for(work), kThreadsPerBlock, 0, stream, std::forward<Arguments>(arguments)...);
}

/// Selects `device` for the following runtime calls and returns its stream.
inline cudaStream_t use_device(int device) {
  NABLA_CUDA_CHECK(cudaSetDevice(device));
  return static_cast<cudaStream_t>(stream(device));
}

/// This thread's first index and the stride of a grid-stride loop, in 64 bits (counts may
/// exceed 2^31).
__device__ inline std::int64_t global_thread_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() { return static_cast<std::int64_t>(blockDim.x) * gridDim.x; }

/// The sum over the 32 lanes of a warp, in every lane (butterfly shuffles).
template <typename T>
__device__ inline T warp_sum(T value) {
  for (int delta = 16; delta > 0; delta /= 2) value += __shfl_xor_sync(0xffffffffu, value, delta);
  return value;
}

/// The max over the 32 lanes of a warp, in every lane.
template <typename T>
__device__ inline T warp_max(T value) {
  for (int delta = 16; delta > 0; delta /= 2) {
    const T other = __shfl_xor_sync(0xffffffffu, value, delta);
    value = other > value ? other : value;
  }
  return value;
}

/// The sum over the block, returned to every thread. blockDim.x must be a multiple of 32
/// (at most 1024), and every thread of the block must call it (it synchronizes).
template <typename T>
__device__ inline T block_sum(T value) {
  __shared__ T partial[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  value = warp_sum(value);
  __syncthreads();  // an earlier call may still be reading `partial`
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  value = lane < warps ? partial[lane] : T(0);
  return warp_sum(value);
}

/// The max over the block, returned to every thread (same rules as block_sum).
template <typename T>
__device__ inline T block_max(T value, T lowest) {
  __shared__ T partial[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  value = warp_max(value);
  __syncthreads();
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  value = lane < warps ? partial[lane] : lowest;
  return warp_max(value);
}

}  // namespace nabla::backend::cuda::detail

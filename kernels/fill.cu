// kernels/fill.cu: data[i] = value, the simplest kernel (and the template for the others).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "check.cuh"
#include "nabla/backend/cuda/kernels.hpp"

namespace nabla::backend::cuda {

// Grid-stride loop: any grid size covers any n, so the launcher can cap the grid.
template <typename T>
__global__ void fill_kernel(T* data, std::size_t n, T value) {
  const std::size_t stride = static_cast<std::size_t>(blockDim.x) * gridDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    data[i] = value;
  }
}

namespace {

constexpr unsigned kThreadsPerBlock = 256;
constexpr std::size_t kMaxBlocks = 65535;  // plenty to fill every SM; the loop does the rest

template <typename T>
void launch_fill(T* device_data, std::size_t n, T value) {
  if (n == 0) return;  // a zero-sized grid is an invalid configuration
  const std::size_t blocks = std::min<std::size_t>((n + kThreadsPerBlock - 1) / kThreadsPerBlock, kMaxBlocks);
  fill_kernel<T><<<static_cast<unsigned>(blocks), kThreadsPerBlock>>>(device_data, n, value);
  detail::check_launch("fill_kernel");
}

}  // namespace

void fill(float* device_data, std::size_t n, float value) { launch_fill(device_data, n, value); }
void fill(double* device_data, std::size_t n, double value) { launch_fill(device_data, n, value); }

}  // namespace nabla::backend::cuda

// kernels/fill.cu: data[i] = value, the simplest kernel (and the template for the others).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "launch.cuh"
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

template <typename T>
void launch_fill(T* device_data, std::size_t n, T value) {
  if (n == 0) return;  // a zero-sized grid is an invalid configuration
  // On the default stream of the current device, as this launcher always ran (it takes no device).
  detail::launch_over(static_cast<std::int64_t>(n), fill_kernel<T>, "fill_kernel", cudaStream_t{}, device_data, n,
                      value);
}

}  // namespace

void fill(float* device_data, std::size_t n, float value) { launch_fill(device_data, n, value); }
void fill(double* device_data, std::size_t n, double value) { launch_fill(device_data, n, value); }

}  // namespace nabla::backend::cuda

// nabla/backend/cuda/kernels.hpp: host-callable launchers of nabla's CUDA kernels.
//
// Self-contained on purpose (no CUDA header): host code calls these like ordinary functions;
// the kernels themselves live in kernels/*.cu and are compiled by nvcc into nabla::cuda.
//
// Conventions for every launcher below:
//   - pointers are DEVICE pointers (from cudaMalloc or a CUDA Storage);
//   - the launch is asynchronous with respect to the host, on the default stream;
//   - n == 0 is a no-op (nothing is launched);
//   - a launch failure throws std::runtime_error naming the kernel and the CUDA error.
#pragma once

#include <cstddef>

namespace nabla::backend::cuda {

// data[i] = value for i in [0, n).
void fill(float* device_data, std::size_t n, float value);
void fill(double* device_data, std::size_t n, double value);

}  // namespace nabla::backend::cuda
